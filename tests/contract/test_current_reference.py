"""Poe's current runtime (SPEC §10), through a real server and the real fastapi_poe client:
scripts written for Poe today, saved unchanged and queried as Poe queries them.

What Poe's current reference adds to reference 004 (``import poe``, ``poe.update_settings``
with settings read at save time, ``poe.UserMember`` and ``Chat.user_members``,
``Message.fail``), what public scripts use besides (``fastapi_poe.types``, ``parameters=``,
``# poe:`` header lines), and the ``refetch_settings`` flag that replaces a manual step.
"""

from __future__ import annotations

import json
from typing import Any

import fastapi_poe as fp
import httpx
import pytest

from tests.conftest import CreatorInfo, unique_name
from tests.contract.conftest import (
    PROTOCOL,
    Service,
    ask,
    bot_events,
    query_request,
    sse_events,
    text_of,
)
from tests.upstream import ACCESS_KEY

# The shape of Poe's own "Hello world" script bot, as creators publish it.
HELLO_WORLD = """\
# poe: name={name}

from fastapi_poe.types import SettingsResponse

poe.update_settings(SettingsResponse(
    introduction_message="Hi! I'm Hello World bot. Send me any message and I'll greet you!",
))

class HelloWorld:
    def run(self):
        with poe.start_message() as msg:
            msg.write("Hello world!")

if __name__ == "__main__":
    bot = HelloWorld()
    bot.run()
"""

PARAMETERS = """\
import poe
from fastapi_poe.types import SettingsResponse, ParameterControls, Section, DropDown
from fastapi_poe.types import ValueNamePair

poe.update_settings(SettingsResponse(
    parameter_controls=ParameterControls(api_version="2", sections=[Section(
        name="Style",
        controls=[DropDown(
            label="Style", parameter_name="style", default_value="plain",
            options=[ValueNamePair(value="plain", name="Plain"),
                     ValueNamePair(value="pirate", name="Pirate")],
        )],
    )]),
))

if __name__ == "__main__":
    style = poe.query.parameters.get("style", "plain")
    message = poe.Message(text=poe.query.text, parameters={"seed": 7, "style": "plain"})
    poe.call("Echo", message, parameters={"style": style}, output=poe.default_chat)
    for part in poe.stream("Echo", "streamed", parameters={"mode": "stream"}):
        pass
"""

FAIL = """\
with poe.start_message() as msg:
    msg.write("Looking it up... ")
    msg.fail("The dictionary service is down; try again later.")
print("Nothing else to add.")
"""

MEMBERS = """\
members = poe.default_chat.user_members
names = ", ".join(f"{m.name or '?'} ({m.user_identifier})" for m in members)
chat = poe.Chat("x", user_members=[poe.UserMember("Bot fan", "u-9", None)])
print(f"{len(members)} user(s): {names}; own chat: {chat.user_members[0].name}")
"""

SETTINGS_V1 = """\
import fastapi_poe as fp
poe.update_settings(fp.SettingsResponse(introduction_message="{intro}"))
if __name__ == "__main__":
    print("hi")
"""


def meta_of(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    assert events[0][0] == "meta", events
    return events[0][1]


async def test_poes_hello_world_script_runs_unchanged(
    service: Service, creator: CreatorInfo
) -> None:
    name = unique_name("Hello")
    response = httpx.post(
        f"{service.base}/api/v1/scripts",
        json={"source": HELLO_WORLD.format(name=name), "poe_access_key": ACCESS_KEY},
        headers=creator.headers,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name  # from its `# poe: name=` line
    assert await ask(service, name, ACCESS_KEY, "anything") == "Hello world!"
    async with httpx.AsyncClient(timeout=30) as client:
        fetched = await client.post(
            service.bots_base + name,
            json={"version": PROTOCOL, "type": "settings"},
            headers={"Authorization": f"Bearer {ACCESS_KEY}"},
        )
    assert fetched.json()["introduction_message"].startswith("Hi! I'm Hello World bot.")


async def test_parameters_reach_the_called_bot_merged_over_the_message(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, PARAMETERS, access_key=ACCESS_KEY)
    message = fp.ProtocolMessage(role="user", content="ahoy", parameters={"style": "pirate"})
    assert await ask(service, name, ACCESS_KEY, message) == "ahoy"
    echo = service.upstream.record.queries["Echo"]
    called, streamed = echo[-2], echo[-1]
    assert called.query[-1].parameters == {"seed": 7, "style": "pirate"}
    assert streamed.query[-1].parameters == {"mode": "stream"}


async def test_a_failed_message_reaches_the_client_as_the_responses_error(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, FAIL, access_key=ACCESS_KEY)
    seen: list[str] = []
    message = fp.ProtocolMessage(role="user", content="define poe")
    with pytest.raises(fp.BotErrorNoRetry) as raised:
        async for part in fp.get_bot_response(
            messages=[message], bot_name=name, api_key=ACCESS_KEY, base_url=service.bots_base
        ):
            seen.append(part.text)
    assert "".join(seen) == "Looking it up... \n\nNothing else to add."
    error = json.loads(str(raised.value))
    assert error == {
        "allow_retry": False,
        "text": "The dictionary service is down; try again later.",
    }
    (run,) = service.runs(creator, name)
    assert run["status"] == "error" and "dictionary service is down" in run["error"]


async def test_user_members_are_the_querys_users(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, MEMBERS, access_key=ACCESS_KEY)
    request = query_request("who is here?").model_copy(
        update={"users": [fp.User(id="u-1", name="Ada"), fp.User(id="u-2")]}
    )
    events = await sse_events(service.bots_base + name, request.model_dump(mode="json"), ACCESS_KEY)
    assert text_of(events) == "2 user(s): Ada (u-1), ? (u-2); own chat: Bot fan"


async def test_refetch_settings_is_sent_once_after_the_settings_change(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, SETTINGS_V1.format(intro="one"), access_key=ACCESS_KEY)
    assert meta_of(await bot_events(service, name, ACCESS_KEY, "hi"))["refetch_settings"] is False
    same = service.api("PATCH", f"/scripts/{name}", creator, json={"source": "print(2)\n"})
    assert same.status_code == 200  # a new source whose settings differ: no intro any more
    first = meta_of(await bot_events(service, name, ACCESS_KEY, "hi"))
    second = meta_of(await bot_events(service, name, ACCESS_KEY, "hi"))
    assert (first["refetch_settings"], second["refetch_settings"]) == (True, False)
    unchanged = service.api(
        "PATCH", f"/scripts/{name}", creator, json={"source": "print(3)\n"}
    )  # the same settings as version 2: nothing to fetch
    assert unchanged.status_code == 200
    assert meta_of(await bot_events(service, name, ACCESS_KEY, "hi"))["refetch_settings"] is False


async def test_a_settings_request_from_poe_clears_the_flag(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, SETTINGS_V1.format(intro="one"), access_key=ACCESS_KEY)
    patched = service.api(
        "PATCH", f"/scripts/{name}", creator, json={"source": SETTINGS_V1.format(intro="two")}
    )
    assert patched.json()["settings"]["introduction_message"] == "two"
    async with httpx.AsyncClient(timeout=30) as client:
        fetched = await client.post(
            service.bots_base + name,
            json={"version": PROTOCOL, "type": "settings"},
            headers={"Authorization": f"Bearer {ACCESS_KEY}"},
        )
    assert fetched.json()["introduction_message"] == "two"
    assert meta_of(await bot_events(service, name, ACCESS_KEY, "hi"))["refetch_settings"] is False


async def test_no_refetch_flag_without_an_access_key(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, SETTINGS_V1.format(intro="one"))
    service.api(
        "PATCH", f"/scripts/{name}", creator, json={"settings": {"allow_attachments": True}}
    )
    events = await bot_events(service, name, creator.token, "hi")
    assert meta_of(events)["refetch_settings"] is False
