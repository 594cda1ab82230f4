"""The README's "Example bots" run as written through a real server and the real fastapi_poe
client; the models they call are the loopback Echo bot (their names are the one change)."""

from __future__ import annotations

import httpx

from tests.conftest import CreatorInfo
from tests.contract.conftest import Service, ask, console_events, text_of
from tests.service.test_readme import _blocks
from tests.upstream import ACCESS_KEY

MODELS = ("GPT-4o", "Claude-Sonnet-4", "Gemini-2.5-Pro")
PANEL, STREAMING, SETTINGS, FILE = _blocks("python", "Example bots")


def _calling_echo(source: str) -> str:
    assert '"GPT-4o"' in source, source  # each example that calls a model calls this one
    for model in MODELS:
        source = source.replace(f'"{model}"', '"Echo"')
    return source


async def test_the_panel_asks_every_model(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, _calling_echo(PANEL), access_key=ACCESS_KEY)
    answer = await ask(service, name, ACCESS_KEY, "hello")
    assert answer.strip().split("\n\n") == ["**Echo**: hello"] * len(MODELS)


async def test_streaming_writes_after_its_own_line(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, _calling_echo(STREAMING), access_key=ACCESS_KEY)
    answer = await ask(service, name, ACCESS_KEY, "bonjour")
    assert answer == "Translating...\n\nTranslate into French: bonjour"


async def test_settings_in_code_give_a_dropdown_read_as_a_parameter(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, _calling_echo(SETTINGS), access_key=ACCESS_KEY)
    script = service.api("GET", f"/scripts/{name}", creator).json()
    controls = script["settings"]["parameter_controls"]["sections"][0]["controls"]
    assert controls[0]["parameter_name"] == "style"
    assert script["settings"]["introduction_message"] == "Send me some text and pick a style."
    answer = await ask(service, name, ACCESS_KEY, "ahoy")
    assert answer == "Rewrite in a plain style: ahoy"


async def test_a_file_built_in_the_scratch_directory_is_attached(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, FILE)
    events = await console_events(service, creator, name, {"query": "three little words"})
    assert text_of(events) == "3 words counted."
    (file,) = [data for event, data in events if event == "file"]
    assert file["name"] == "words.csv"
    csv = httpx.get(file["url"]).text.splitlines()
    assert csv == ["word,letters", "three,5", "little,6", "words,5"]
