"""Hostile saves: the settings run of a saved source is bounded in time, cannot reach out,
and one creator's saves cannot crowd the sandbox (SPEC §10; never slow another tenant)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from service.settings import Settings
from tests.conftest import CreatorInfo, unique_name

RUN_TIMEOUT_S = 2


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(run_timeout_s=RUN_TIMEOUT_S)


def body(source: str) -> dict[str, str]:
    return {"name": unique_name(), "source": source}


LOOP = 'while True:\n    pass\nif __name__ == "__main__":\n    pass\n'
SLEEPER = 'import time\ntime.sleep(30)\nif __name__ == "__main__":\n    pass\n'


async def test_a_settings_run_that_never_ends_is_refused_in_time(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    began = time.monotonic()
    response = await client.post("/api/v1/scripts", json=body(LOOP), headers=creator.headers)
    assert response.status_code == 422, response.text
    assert f"took longer than {RUN_TIMEOUT_S} seconds" in response.json()["detail"]
    assert time.monotonic() - began < RUN_TIMEOUT_S + 10  # generous: the pool starts too


async def test_a_settings_run_cannot_fetch_or_attach(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    for source, words in [
        (
            'poe.Attachment(name="a", url="http://127.0.0.1:1/x").get_contents()\n'
            'if __name__ == "__main__":\n    pass\n',
            "Fetching an attachment",
        ),
        (
            'chat = poe.Chat(quiet=False)\nchat.add_message(poe.Message(text="x", '
            'attachments=[poe.Attachment(name="a.txt", contents=b"x")]))\n'
            'if __name__ == "__main__":\n    pass\n',
            "Sending an attachment",
        ),
        (
            'poe.parallel(lambda: poe.call("GPT-4o", "hi"))\nif __name__ == "__main__":\n'
            "    pass\n",
            "Calling a bot",
        ),
    ]:
        response = await client.post("/api/v1/scripts", json=body(source), headers=creator.headers)
        assert response.status_code == 422, (source, response.text)
        assert words in response.json()["detail"], response.json()


async def test_one_creators_saves_at_once_are_bounded(
    client: httpx.AsyncClient, creator: CreatorInfo, make_creator: Callable[[], CreatorInfo]
) -> None:
    other = make_creator()
    slow = [
        client.post("/api/v1/scripts", json=body(SLEEPER), headers=creator.headers)
        for _ in range(3)
    ]
    tasks = [asyncio.ensure_future(request) for request in slow]
    await asyncio.sleep(0.5)
    fine = await client.post(
        "/api/v1/scripts",
        json=body('if __name__ == "__main__":\n    print(1)\n'),
        headers=other.headers,
    )
    answers = sorted(r.status_code for r in await asyncio.gather(*tasks))
    assert answers == [422, 422, 429]  # two ran (and timed out), the third was refused
    assert fine.status_code == 201, fine.text  # another creator was not held up
