"""A script's secrets reach its run as os.environ and nowhere else, and never leak: not in
the response, the error, the stored run, its HTTP records or the server's log (issue 10).
Through the REST API and the real fastapi_poe client."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import CreatorInfo
from tests.contract.conftest import Service, bot_events, text_of
from tests.webstandin import WebRecord, serve_web

SECRET = "sk-live-7f3a9c2e4b1d8f6a0c5e"

LEAKY = """# poe: privacy_shield=half
import os, requests
key = os.environ["API_KEY"]
print("environment:", sorted(os.environ), len(key))
print("the key is", key)
echoed = requests.get(BASE + "/echo", headers={"Authorization": "Bearer " + key}).json()
print("echoed:", echoed["authorization"])
print(requests.get(BASE + "/anything/" + key + "/tail").text)
with poe.start_message() as message:
    for start in range(0, len(key), 3):
        message.write(key[start:start + 3])
raise KeyError(key)
"""

NO_SECRETS = "import os\nprint(sorted(os.environ))\n"


@pytest.fixture(scope="module")
def web() -> Iterator[tuple[str, WebRecord]]:
    with serve_web() as served:
        yield served


async def test_secrets_are_the_runs_environment_and_masked_everywhere(
    service: Service, creator: CreatorInfo, web: tuple[str, WebRecord]
) -> None:
    base, record = web
    # The header leads the source: the constant comes after it.
    source = LEAKY.replace("import os, requests\n", f"import os, requests\nBASE = {base!r}\n")
    name = service.script(creator, source)
    put = service.api("PUT", f"/scripts/{name}/secrets/API_KEY", creator, json={"value": SECRET})
    assert put.status_code == 204
    other = service.api("PUT", f"/scripts/{name}/secrets/OTHER", creator, json={"value": "v-2"})
    assert other.status_code == 204

    events = await bot_events(service, name, creator.token, "go")
    wire = json.dumps(events)
    assert SECRET not in wire and SECRET[:8] not in wire
    text = text_of(events)
    assert f"environment: ['API_KEY', 'OTHER'] {len(SECRET)}" in text
    assert "the key is ***" in text and "echoed: Bearer ***" in text
    assert "got ***/tail" in text and "\n\n***" in text
    error = next(data for kind, data in events if kind == "error")
    assert "KeyError" in error["text"] and "***" in error["text"]
    # The web stand-in did receive the real key: the script used it.
    assert any(h.get("authorization") == f"Bearer {SECRET}" for _, _, h in record.requests)

    (run,) = service.runs(creator, name)
    stored = service.run(creator, name, run["id"])
    assert SECRET not in json.dumps(stored)
    paths = [e["data"]["path"] for e in stored["transcript"] if e["event"] == "http"]
    assert paths == ["/echo", "/anything/***/tail"]
    assert "***" in (stored.get("error") or "")
    listed = service.api("GET", f"/scripts/{name}/secrets", creator).json()
    assert [item["name"] for item in listed["items"]] == ["API_KEY", "OTHER"]
    assert SECRET not in service.server.log_path.read_text()


async def test_a_script_without_secrets_has_an_empty_environment(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, NO_SECRETS)
    assert text_of(await bot_events(service, name, creator.token, "go")) == "[]"


async def test_a_secret_passed_to_a_nested_script_is_masked_in_its_run_too(
    service: Service, creator: CreatorInfo
) -> None:
    child = service.script(creator, "print('child got', poe.query.text)\n")
    parent = service.script(
        creator, f"import os\nprint(poe.call({child!r}, os.environ['API_KEY']).text)\n"
    )
    put = service.api("PUT", f"/scripts/{parent}/secrets/API_KEY", creator, json={"value": SECRET})
    assert put.status_code == 204
    events = await bot_events(service, parent, creator.token, "go")
    assert text_of(events) == "child got ***" and SECRET not in json.dumps(events)
    (nested,) = service.runs(creator, child)
    assert SECRET not in json.dumps(service.run(creator, child, nested["id"]))
