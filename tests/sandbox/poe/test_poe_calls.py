"""poe.call and poe.stream over the in-memory port: requests, streaming, failures."""

from __future__ import annotations

import fastapi_poe as fp
import pytest

from sandbox.poe import BotCallError, LimitReached
from sandbox.protocol import MessageAdded, MessageFinished, TextAppended
from tests.sandbox.poe.harness import BOT_NAME, MakeRun, echo_bot, text_bot


def test_call_returns_a_chat_of_the_bot_message(make_run: MakeRun) -> None:
    run = make_run({"GPT-4o": text_bot("Kath", "mandu")})
    reply = run.poe.call("GPT-4o", "What is the capital of Nepal?")
    assert isinstance(reply, run.poe.Chat) and reply.quiet
    assert reply.text == "Kathmandu"
    assert reply.last.sender == run.poe.Sender(role="bot", name="GPT-4o")
    assert not reply.last.in_progress
    assert reply.new_messages() == reply.messages
    assert run.events == []  # no output chat: nothing shown


def test_call_strips_at_and_normalises_prompts(make_run: MakeRun) -> None:
    run = make_run({"GPT-4o": echo_bot})
    poe = run.poe
    history = poe.Chat("one", poe.Message(text="two", sender="bot"))
    poe.call("@GPT-4o", history, poe.Message(text="three", sender="system"), "four")
    (request,) = run.port.requests
    assert request.bot_name == "GPT-4o"
    assert [(m["role"], m["content"]) for m in request.messages] == [
        ("user", "one"),
        ("bot", "two"),
        ("system", "three"),
        ("user", "four"),
    ]
    assert request.tools is None and request.tool_calls is None
    assert request.temperature is None and request.adopt_current_bot_name is False
    fp.ProtocolMessage.model_validate(request.messages[0])  # real fastapi_poe dumps


def test_call_passes_temperature_and_adopt_current_bot_name(make_run: MakeRun) -> None:
    run = make_run({"B": echo_bot})
    run.poe.call("B", "x", temperature=0.2, adopt_current_bot_name=True)
    run.poe.stream("B", "x", temperature=1, adopt_current_bot_name=True).close()
    list(run.poe.stream("B", "x", temperature=1))
    first, second = run.port.requests
    assert (first.temperature, first.adopt_current_bot_name) == (0.2, True)
    assert (second.temperature, second.adopt_current_bot_name) == (1.0, False)


def test_call_with_the_query_sends_its_attachments(make_run: MakeRun) -> None:
    query = fp.ProtocolMessage(
        role="user",
        content="describe",
        attachments=[fp.Attachment(url="https://poe/c.png", content_type="image/png", name="c")],
    )
    run = make_run({"B": echo_bot}, conversation=[query])
    run.poe.call("B", run.poe.query + run.poe.Attachment(name="n.txt", contents=b"note"))
    sent = run.port.requests[0].messages[0]["attachments"]
    assert sent[0]["url"] == "https://poe/c.png"
    assert run.port.files[sent[1]["url"]] == b"note"


def test_call_validates_its_arguments(make_run: MakeRun) -> None:
    run = make_run({"B": echo_bot})
    with pytest.raises(ValueError):
        run.poe.call("B")  # no prompt
    with pytest.raises(ValueError):
        run.poe.call("@", "x")
    with pytest.raises(TypeError):
        run.poe.call("B", 42)
    with pytest.raises(TypeError):
        run.poe.call("B", "x", output="not a chat")
    with pytest.raises(TypeError):
        run.poe.call("B", "x", temperature="hot")
    assert run.port.requests == []


def test_call_into_an_output_chat(make_run: MakeRun) -> None:
    run = make_run({"B": text_bot("a", "b")})
    output = run.poe.Chat()
    reply = run.poe.call("B", "x", output=output)
    assert output.last is reply.last and output.last.text == "ab"


def test_silent_bot_still_answers_into_output(make_run: MakeRun) -> None:
    run = make_run({"B": text_bot()})
    reply = run.poe.call("B", "x", output=run.poe.default_chat)
    assert reply.last.text == ""
    assert run.events == [
        MessageAdded(msg_id=0, role="bot", text="", sender_name="B"),
        MessageFinished(0),
    ]


def test_suggested_replies_are_not_text(make_run: MakeRun) -> None:
    def bot(request):
        yield fp.PartialResponse(text="answer")
        yield fp.PartialResponse(text="Tell me more", is_suggested_reply=True)

    run = make_run({"B": bot})
    assert run.poe.call("B", "x").text == "answer"


def test_bot_attachment_is_added_to_the_reply(make_run: MakeRun) -> None:
    file = fp.Attachment(url="https://poe/out.png", content_type="image/png", name="out.png")

    def bot(request):
        yield fp.PartialResponse(text="here", attachment=file)

    run = make_run({"B": bot})
    reply = run.poe.call("B", "x", output=run.poe.default_chat)
    assert reply.last.attachments[0].url == "https://poe/out.png"
    assert run.port.attachments()[0].url == "https://poe/out.png"
    assert run.port.uploads == []  # already stored by the bot's host


def test_failing_bot_raises_a_bot_error_and_finishes_the_output(make_run: MakeRun) -> None:
    def bot(request):
        yield fp.PartialResponse(text="partial")
        yield fp.ErrorResponse(text="model overloaded")

    run = make_run({"B": bot})
    with pytest.raises(run.poe.BotError) as caught:
        run.poe.call("B", "x", output=run.poe.default_chat)
    assert isinstance(caught.value, BotCallError)
    assert caught.value.bot_name == "B" and "model overloaded" in caught.value.message
    assert run.events == [
        MessageAdded(msg_id=0, role="bot", text="", sender_name="B"),
        TextAppended(0, "partial"),
        MessageFinished(0),
    ]


def test_unknown_bot_raises_before_any_output(make_run: MakeRun) -> None:
    run = make_run()
    with pytest.raises(run.poe.BotError):
        run.poe.call("Nobody", "x", output=run.poe.default_chat)
    assert run.events == []


def test_spent_budget_raises_limit_reached(make_run: MakeRun) -> None:
    run = make_run({"B": echo_bot}, max_bot_calls=1)
    run.poe.call("B", "x")
    with pytest.raises(LimitReached) as caught:
        run.poe.call("B", "x")
    assert caught.value.limit == "bot_calls"
    assert not isinstance(caught.value, run.poe.BotError)


def test_debug_show_chat_prints_a_summary(make_run: MakeRun) -> None:
    run = make_run({"B": echo_bot})
    run.poe.call("B", "What is 2+2?", debug_show_chat=True)
    (event, finished) = run.events
    assert isinstance(event, MessageAdded) and finished == MessageFinished(0)
    assert event.content_type == "text/plain" and event.sender_name == BOT_NAME
    assert event.text.startswith("Calling @B with:\nChat with 1 message(s)")
    assert "1. user: What is 2+2?" in event.text


def test_stream_yields_parts_as_they_arrive(make_run: MakeRun) -> None:
    run = make_run({"B": text_bot("a", "b", "c")})
    parts = run.poe.stream("@B", "x")
    assert run.port.requests == []  # the call starts on the first next()
    assert next(parts) == fp.PartialResponse(text="a")
    assert [p.text for p in parts] == ["b", "c"]
    assert run.port.requests[0].bot_name == "B"
    assert run.port.cancelled == []


def test_closing_a_stream_early_cancels_the_call(make_run: MakeRun) -> None:
    run = make_run({"B": text_bot("a", "b", "c")})
    parts = run.poe.stream("B", "x")
    for part in parts:
        assert part.text == "a"
        break
    parts.close()
    assert run.port.cancelled == [0]
    assert list(parts) == []


def test_stream_errors_surface_while_iterating(make_run: MakeRun) -> None:
    run = make_run()
    parts = run.poe.stream("Nobody", "x")
    with pytest.raises(run.poe.BotError):
        next(parts)


def test_an_abandoned_stream_is_cancelled(make_run: MakeRun) -> None:
    run = make_run({"B": text_bot("a", "b")})
    parts = run.poe.stream("B", "x")
    next(parts)
    del parts
    assert run.port.cancelled == [0]
