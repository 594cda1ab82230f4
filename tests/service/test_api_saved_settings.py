"""Saving a source reads its settings as Poe does (SPEC §10): the sandbox runs it up to
``if __name__ == "__main__":`` and ``poe.update_settings`` sets the version's settings;
``# poe:`` header lines name it and set its privacy shield. Through the REST API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select

from service.store.db import Database
from service.store.tables import Script
from tests.conftest import CreatorInfo, unique_name
from tests.service.test_readme import _blocks

MakeScript = Callable[..., Awaitable[dict[str, Any]]]

SETTINGS_SOURCE = """\
from fastapi_poe.types import SettingsResponse

INTRO = "Hi! I greet you."
poe.update_settings(SettingsResponse(introduction_message=INTRO, allow_attachments=True))


class Greeter:
    def run(self):
        with poe.start_message() as msg:
            msg.write("Hello " + poe.query.text)


if __name__ == "__main__":
    Greeter().run()
"""

FAILING_SOURCE = """\
import json
from fastapi_poe.types import SettingsResponse

CONFIG = json.loads("{not json")
poe.update_settings(SettingsResponse(introduction_message=CONFIG["intro"]))

if __name__ == "__main__":
    print("never")
"""

PLAIN_MAIN_SOURCE = """\
def answer(text):
    return text.upper()


if __name__ == "__main__":
    print(answer(poe.query.text))
"""

DROPDOWN_SOURCE = """\
import fastapi_poe as fp

poe.update_settings(fp.SettingsResponse(
    parameter_controls=fp.ParameterControls(api_version="2", sections=[fp.Section(
        name="Model",
        controls=[fp.DropDown(
            label="Model",
            parameter_name="model",
            default_value="GPT-4o",
            options=[
                fp.ValueNamePair(value="GPT-4o", name="GPT-4o"),
                fp.ValueNamePair(value="Claude-Sonnet-4.5", name="Claude"),
            ],
        ), fp.DropDown(
            label="Tone",
            parameter_name="tone",
            default_value="plain",
            options=[fp.ValueNamePair(value="plain", name="Plain")],
        )],
    )]),
))

if __name__ == "__main__":
    model = poe.query.parameters.get("model", "GPT-4o")
    poe.call(model, poe.query, output=poe.default_chat)
    poe.call("Summarizer", "say it short")
"""


async def create(
    client: httpx.AsyncClient, creator: CreatorInfo, source: str, **fields: Any
) -> httpx.Response:
    body = {"name": unique_name(), "source": source, **fields}
    return await client.post("/api/v1/scripts", json=body, headers=creator.headers)


async def test_update_settings_becomes_the_settings_over_the_rest_field(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    rest = {"introduction_message": "from the API", "enable_image_comprehension": True}
    response = await create(client, creator, SETTINGS_SOURCE, settings=rest)
    assert response.status_code == 201, response.text
    script = response.json()
    assert script["settings_from_source"] == {
        "introduction_message": "Hi! I greet you.",
        "allow_attachments": True,
    }
    assert script["settings"] == {
        "introduction_message": "Hi! I greet you.",  # the source wins
        "allow_attachments": True,
        "enable_image_comprehension": True,  # the API's own field stays
        "server_bot_dependencies": {},
    }
    bot = await client.post(
        f"/bots/{script['name']}",
        json={"version": "1.2", "type": "settings"},
        headers=creator.headers,
    )
    assert bot.json()["introduction_message"] == "Hi! I greet you."


async def test_an_error_while_reading_settings_refuses_the_save_at_its_line(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    name = unique_name()
    response = await client.post(
        "/api/v1/scripts",
        json={"name": name, "source": FAILING_SOURCE},
        headers=creator.headers,
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert "settings were read" in body["detail"] and "JSONDecodeError" in body["detail"]
    (error,) = body["errors"]
    assert error["line"] == 4 and "JSONDecodeError" in error["message"]
    missing = await client.get(f"/api/v1/scripts/{name}", headers=creator.headers)
    assert missing.status_code == 404  # nothing was stored


async def test_a_script_without_update_settings_keeps_the_rest_settings(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    rest = {"introduction_message": "from the API"}
    response = await create(client, creator, PLAIN_MAIN_SOURCE, settings=rest)
    assert response.status_code == 201, response.text
    script = response.json()
    assert script["settings_from_source"] is None
    assert script["settings"]["introduction_message"] == "from the API"


async def test_code_before_the_main_block_may_not_print_or_read_the_query(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    for source, line, words in [
        ('x = 1\nprint("loading")\nif __name__ == "__main__":\n    pass\n', 2, "Output"),
        ('text = poe.query.text\nif __name__ == "__main__":\n    pass\n', 1, "poe.query"),
        ('poe.call("GPT-4o", "hi")\nif __name__ == "__main__":\n    pass\n', 1, "Calling a bot"),
    ]:
        response = await create(client, creator, source)
        assert response.status_code == 422, source
        (error,) = response.json()["errors"]
        assert error["line"] == line and words in error["message"], (source, error)


async def test_patch_and_restore_read_the_settings_of_the_new_source(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript, db: Database
) -> None:
    script = await make_script(source=PLAIN_MAIN_SOURCE)
    url = f"/api/v1/scripts/{script['name']}"
    patched = await client.patch(url, json={"source": SETTINGS_SOURCE}, headers=creator.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["settings"]["introduction_message"] == "Hi! I greet you."
    with db.transaction() as session:
        row = session.scalar(select(Script).where(Script.name == script["name"]))
        assert row is not None and row.refetch_settings  # Poe must fetch them again
    refused = await client.patch(url, json={"source": FAILING_SOURCE}, headers=creator.headers)
    assert refused.status_code == 422 and refused.json()["errors"][0]["line"] == 4
    restored = await client.post(f"{url}/versions/1/restore", headers=creator.headers)
    assert restored.status_code == 200, restored.text
    assert restored.json()["version"] == 3
    assert restored.json()["settings_from_source"] is None
    assert "introduction_message" not in restored.json()["settings"]


async def test_header_names_the_script_and_sets_its_privacy_shield(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    name = unique_name("Hdr")
    source = f"# poe: name={name}\n# poe: privacy_shield=half  mood=cheerful\nprint('hi')\n"
    response = await client.post(
        "/api/v1/scripts", json={"source": source}, headers=creator.headers
    )
    assert response.status_code == 201, response.text
    script = response.json()
    assert script["name"] == name
    assert script["privacy_shield"] == "half"
    assert script["header"] == {"name": name, "privacy_shield": "half", "mood": "cheerful"}
    version = await client.get(f"/api/v1/scripts/{name}/versions/1", headers=creator.headers)
    assert version.json()["privacy_shield"] == "half"
    assert version.json()["header"]["mood"] == "cheerful"
    given = await create(client, creator, "# poe: name=Ignored-Name\nprint(1)\n")
    assert given.status_code == 201 and given.json()["name"] != "Ignored-Name"


async def test_header_problems_are_422_at_their_line(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    nameless = await client.post(
        "/api/v1/scripts", json={"source": "print(1)\n"}, headers=creator.headers
    )
    assert nameless.status_code == 422 and "# poe: name=" in nameless.json()["detail"]
    bad_name = await client.post(
        "/api/v1/scripts", json={"source": "# poe: name=1bad\nprint(1)\n"}, headers=creator.headers
    )
    assert bad_name.status_code == 422
    shield = await create(client, creator, "#!/usr/bin/env python\n# poe: privacy_shield=none\n")
    assert shield.status_code == 422
    assert shield.json()["errors"] == [
        {"line": 2, "col": 1, "message": "privacy_shield must be full or half, not 'none'"}
    ]
    for value in ("soon", "0", "-5", "1.5"):
        limit = await create(client, creator, f"# poe: timeout_s={value}\nprint(1)\n")
        assert limit.status_code == 422, value
        message = f"timeout_s must be a whole number of at least 1, not {value!r}"
        assert limit.json()["errors"] == [{"line": 1, "col": 1, "message": message}]


async def test_dropdown_bots_count_as_dependencies_of_computed_calls(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    response = await create(client, creator, DROPDOWN_SOURCE)
    assert response.status_code == 201, response.text
    assert response.json()["settings"]["server_bot_dependencies"] == {
        "Summarizer": 1,
        "GPT-4o": 1,
        "Claude-Sonnet-4.5": 1,
    }
    given = await create(
        client, creator, DROPDOWN_SOURCE, settings={"server_bot_dependencies": {"X": 2}}
    )
    assert given.json()["settings"]["server_bot_dependencies"] == {"X": 2}  # given wins


async def test_the_readme_example_saves_with_its_settings(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    (example,) = _blocks("python", "Settings in the source")
    name = unique_name("Greeter")
    source = example.replace("name=Greeter", f"name={name}")
    response = await client.post(
        "/api/v1/scripts", json={"source": source}, headers=creator.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name
    assert response.json()["settings"]["introduction_message"] == "Say hi!"
    events = await client.post(
        f"/bots/{name}",
        json={
            "version": "1.2",
            "type": "query",
            "query": [{"role": "user", "content": "Ada"}],
            "user_id": "u",
            "conversation_id": "c",
            "message_id": "m",
        },
        headers=creator.headers,
    )
    assert 'data: {"text": "Hi, Ada!"}' in events.text


async def test_changing_only_the_rest_settings_asks_poe_to_fetch_them(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript, db: Database
) -> None:
    script = await make_script(source='print("hi")\n')

    def flag() -> bool:
        with db.transaction() as session:
            row = session.scalar(select(Script).where(Script.name == script["name"]))
            assert row is not None
            return row.refetch_settings

    url = f"/api/v1/scripts/{script['name']}"
    key = await client.patch(url, json={"poe_access_key": "K" * 32}, headers=creator.headers)
    assert key.status_code == 200 and not flag()  # a key alone changes no setting
    changed = await client.patch(
        url, json={"settings": {"allow_attachments": True}}, headers=creator.headers
    )
    assert changed.status_code == 200 and flag()
