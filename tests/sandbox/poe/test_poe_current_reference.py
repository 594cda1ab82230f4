"""What Poe's current runtime adds to reference 004 (SPEC §10), over the in-memory port:
poe.UserMember and Chat.user_members, Message.fail, parameters= on bot calls, and
poe.update_settings in query runs and settings runs."""

from __future__ import annotations

import dataclasses

import fastapi_poe as fp
import pytest

from sandbox.poe.settings_run import NotWhileSaving
from sandbox.protocol import MessageAdded, MessageFailed, MessageFinished, TextAppended
from tests.sandbox.poe.harness import MakeRun, Run, echo_bot, text_bot

# -- poe.UserMember and Chat.user_members -------------------------------------------------


def test_user_member_is_a_dataclass_of_name_identifier_and_photo(run: Run) -> None:
    member = run.poe.UserMember("Ada", "u-1", "https://example.com/ada.png")
    assert dataclasses.is_dataclass(member)
    assert (member.name, member.user_identifier, member.photo_url) == (
        "Ada",
        "u-1",
        "https://example.com/ada.png",
    )
    assert run.poe.UserMember(name=None, user_identifier="u-2").photo_url is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        member.name = "Eve"  # type: ignore[misc]
    with pytest.raises(TypeError, match="user_identifier"):
        run.poe.UserMember("Ada", 1)


def test_chat_keeps_its_user_members_through_copies(run: Run) -> None:
    poe = run.poe
    members = [poe.UserMember("Ada", "u-1"), poe.UserMember("Bob", "u-2")]
    chat = poe.Chat("hi", "there", user_members=members)
    members.append(poe.UserMember("Eve", "u-3"))  # the chat holds its own list
    assert [m.name for m in chat.user_members] == ["Ada", "Bob"]
    for derived in (chat.copy(), chat.make_child(), chat[:1]):
        assert derived.user_members == chat.user_members
    assert poe.Chat("x").user_members == []
    with pytest.raises(TypeError, match="user_members"):
        poe.Chat(user_members=["Ada"])


def test_default_chat_members_are_the_query_users(make_run: MakeRun) -> None:
    run = make_run(users=[fp.User(id="u-1", name="Ada"), fp.User(id="u-2")])
    members = run.poe.default_chat.user_members
    assert members == [
        run.poe.UserMember(name="Ada", user_identifier="u-1"),
        run.poe.UserMember(name=None, user_identifier="u-2"),
    ]
    assert make_run().poe.default_chat.user_members == []


# -- Message.fail -------------------------------------------------------------------------


def test_fail_finishes_the_message_as_failed(run: Run) -> None:
    message = run.poe.start_message()
    message.write("Working on it")
    message.fail("The upstream service is down")
    assert not message.in_progress
    assert message.text == "Working on it"
    assert run.events[-1] == MessageFailed(0, "The upstream service is down")
    assert not any(isinstance(e, MessageFinished) for e in run.events)
    with pytest.raises(ValueError, match="not in progress"):
        message.write("more")


def test_fail_is_refused_like_write_when_not_in_progress(run: Run) -> None:
    finished = run.poe.Message(text="done")
    with pytest.raises(ValueError, match="Cannot fail a message that is not in progress"):
        finished.fail("nope")
    message = run.poe.start_message()
    message.finish()
    with pytest.raises(ValueError, match="not in progress"):
        message.fail("too late")
    with pytest.raises(TypeError):
        run.poe.start_message().fail(404)


def test_fail_of_a_message_nobody_sees_sends_nothing(run: Run) -> None:
    message = run.poe.Message(text="draft", in_progress=True)
    message.fail("quiet failure")
    assert not message.in_progress and run.events == []


def test_with_block_after_fail_leaves_the_message_failed(run: Run) -> None:
    with run.poe.start_message() as message:
        message.write("partial")
        message.fail("stopped")
    assert [type(e) for e in run.events] == [MessageAdded, TextAppended, MessageFailed]


# -- parameters= ---------------------------------------------------------------------------


def test_call_merges_parameters_over_the_last_message(make_run: MakeRun) -> None:
    run = make_run({"Image-Bot": text_bot("ok")})
    poe = run.poe
    last = poe.Message(text="a cat", parameters={"aspect": "1:1", "seed": 1})
    poe.call("Image-Bot", "first", last, parameters={"aspect": "16:9", "quality": "high"})
    (request,) = run.port.requests
    assert request.messages[0]["parameters"] == {}
    assert request.messages[-1]["parameters"] == {"aspect": "16:9", "seed": 1, "quality": "high"}
    assert last.parameters == {"aspect": "1:1", "seed": 1}  # the script's message is unchanged


def test_stream_sends_parameters_too(make_run: MakeRun) -> None:
    run = make_run({"Echo": echo_bot})
    parts = list(run.poe.stream("Echo", "hi", parameters={"mode": "fast"}))
    assert parts[0].text == "echo: hi"
    assert run.port.requests[0].messages[-1]["parameters"] == {"mode": "fast"}


def test_parameters_must_be_a_dict_of_json_values(make_run: MakeRun) -> None:
    run = make_run({"Echo": echo_bot})
    for bad in (["mode"], {"when": object()}, {1: "x"}):
        with pytest.raises(TypeError, match="parameters"):
            run.poe.call("Echo", "hi", parameters=bad)
    with pytest.raises(TypeError, match="parameters"):
        run.poe.stream("Echo", "hi", parameters="mode=fast")
    assert run.port.requests == []
    run.poe.call("Echo", "hi", parameters=None)
    assert run.port.requests[0].messages[-1]["parameters"] == {}


# -- poe.update_settings ----------------------------------------------------------------------

SETTINGS = fp.SettingsResponse(
    introduction_message="Hi!",
    parameter_controls=fp.ParameterControls(
        api_version="2",
        sections=[
            fp.Section(
                name="Model",
                controls=[
                    fp.DropDown(
                        label="Model",
                        parameter_name="model",
                        default_value="GPT-4o",
                        options=[fp.ValueNamePair(value="GPT-4o", name="GPT-4o")],
                    )
                ],
            )
        ],
    ),
)


def test_update_settings_does_nothing_in_a_query_run(run: Run) -> None:
    run.poe.update_settings(SETTINGS)
    assert run.port.settings == [] and run.events == []
    with pytest.raises(TypeError, match="SettingsResponse"):
        run.poe.update_settings({"introduction_message": "Hi!"})


def test_update_settings_in_a_settings_run_sends_the_fields_set(make_run: MakeRun) -> None:
    run = make_run(conversation=[], settings_run=True)
    run.poe.update_settings(SETTINGS)
    (sent,) = run.port.settings
    assert set(sent) == {"introduction_message", "parameter_controls"}
    assert fp.SettingsResponse.model_validate(sent) == SETTINGS


def test_a_settings_run_refuses_output_calls_fetches_and_the_query(make_run: MakeRun) -> None:
    run = make_run({"Echo": echo_bot}, conversation=[], settings_run=True)
    poe = run.poe
    with pytest.raises(NotWhileSaving, match=r'Output .* under if __name__ == "__main__"'):
        run.print("hello")
    with pytest.raises(NotWhileSaving, match="Output"):
        poe.start_message()
    with pytest.raises(NotWhileSaving, match=r"Calling a bot \(Echo\)"):
        poe.call("Echo", "hi")
    with pytest.raises(NotWhileSaving, match="Fetching"):
        poe.Attachment(name="x", url="https://example.com/x").get_contents()
    with pytest.raises(ValueError, match=r"poe\.query is not available while the script's"):
        poe.query  # noqa: B018
    assert run.port.events == [] and run.port.requests == [] and run.port.fetches == []
    assert poe.default_chat.user_members == [] and len(poe.default_chat) == 0
    quiet = poe.Chat("drafts are fine")  # what stays in the script's memory is allowed
    quiet.add_message("more")
    assert len(quiet) == 2
