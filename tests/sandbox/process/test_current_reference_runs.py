"""Poe's current runtime through real child processes: settings runs (what saving a script
runs), Message.fail, the query's users, and ``import poe``."""

from __future__ import annotations

import fastapi_poe as fp
import pytest

from sandbox import SandboxPool
from sandbox.protocol import MessageFailed, SettingsUpdated
from tests.sandbox.process.harness import run

pytestmark = pytest.mark.asyncio(loop_scope="module")

SETTINGS_SCRIPT = """# poe: name=Settings-Demo
from fastapi_poe.types import SettingsResponse

poe.update_settings(SettingsResponse(
    introduction_message="Hi from " + __name__,
))

class Bot:
    def run(self):
        print("query time: " + poe.query.text)

if __name__ == "__main__":
    Bot().run()
print("after the main block")
"""


def settings_of(outcome: object) -> list[dict[str, object]]:
    return [e.settings for e in outcome.events if isinstance(e, SettingsUpdated)]  # type: ignore[attr-defined]


async def test_a_settings_run_stops_before_the_main_block(pool: SandboxPool) -> None:
    outcome = await run(pool, SETTINGS_SCRIPT, query=None, mode="settings")
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert settings_of(outcome) == [{"introduction_message": "Hi from __poe_settings__"}]
    assert outcome.text == ""  # neither the main block nor what follows it ran


async def test_a_query_run_ignores_update_settings_and_runs_the_main_block(
    pool: SandboxPool,
) -> None:
    outcome = await run(pool, SETTINGS_SCRIPT, query="hello")
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert settings_of(outcome) == []
    assert outcome.texts == ["query time: hello", "after the main block"]


async def test_a_settings_run_error_names_its_line(pool: SandboxPool) -> None:
    source = 'import json\n\nvalue = json.loads("{")\nif __name__ == "__main__":\n    pass\n'
    outcome = await run(pool, source, query=None, mode="settings")
    assert outcome.end is not None and outcome.end.status == "error"
    assert "JSONDecodeError" in (outcome.end.error or "")
    assert "line 3" in (outcome.end.error or ""), outcome.end.error


async def test_a_settings_run_refuses_output_before_the_main_block(pool: SandboxPool) -> None:
    source = 'print("hi")\nif __name__ == "__main__":\n    pass\n'
    outcome = await run(pool, source, mode="settings")
    assert outcome.end is not None and outcome.end.status == "error"
    assert "Output (print" in (outcome.end.error or "") and "line 1" in (outcome.end.error or "")
    assert outcome.texts == []


async def test_message_fail_reaches_the_host(pool: SandboxPool) -> None:
    source = 'm = poe.start_message()\nm.write("half")\nm.fail("the API is down")\nprint("next")\n'
    outcome = await run(pool, source)
    assert outcome.end is not None and outcome.end.status == "ok"
    failed = [e for e in outcome.events if isinstance(e, MessageFailed)]
    assert failed == [MessageFailed(0, "the API is down")]
    assert outcome.texts == ["half", "next"]


async def test_default_chat_members_and_import_poe(pool: SandboxPool) -> None:
    source = (
        "import poe as p\nfrom poe import default_chat\n"
        "print(p is poe, [(m.name, m.user_identifier) for m in default_chat.user_members])\n"
    )
    users = [fp.User(id="u-1", name="Ada").model_dump(mode="json"), {"id": "u-2"}]
    outcome = await run(pool, source, users=users)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert outcome.text == "True [('Ada', 'u-1'), (None, 'u-2')]"
