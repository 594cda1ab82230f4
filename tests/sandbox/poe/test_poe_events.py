"""The exact chat events the runtime emits: the response as the host receives it."""

from __future__ import annotations

import fastapi_poe as fp
import pytest

from sandbox.poe import LimitReached
from sandbox.protocol import (
    AttachmentAdded,
    AttachmentInfo,
    MessageAdded,
    MessageFinished,
    TextAppended,
    TextReplaced,
)
from tests.sandbox.poe.harness import BOT_NAME, MakeRun, Run, text_bot


def added(msg_id: int, text: str, **fields: object) -> MessageAdded:
    fields.setdefault("role", "bot")
    fields.setdefault("sender_name", BOT_NAME)
    return MessageAdded(msg_id=msg_id, text=text, **fields)  # type: ignore[arg-type]


def test_each_print_is_one_finished_message(run: Run) -> None:
    run.print("Hello", "world")
    run.print("a", "b", sep="-", end="!")
    run.print()
    assert run.events == [
        added(0, "Hello world"),
        MessageFinished(0),
        added(1, "a-b!"),
        MessageFinished(1),
        added(2, ""),
        MessageFinished(2),
    ]
    assert run.port.response_text() == "Hello world\n\na-b!\n\n"


def test_print_to_a_file_object_is_not_a_message(run: Run) -> None:
    import io

    buffer = io.StringIO()
    run.print("x", 1, file=buffer, flush=True)
    assert buffer.getvalue() == "x 1\n" and run.events == []


def test_start_message_write_overwrite_finish(run: Run) -> None:
    with run.poe.start_message() as msg:
        msg.write("Thinking")
        msg.write("...")
        msg.write("")  # nothing to send
        msg.overwrite("Done.")
    assert run.events == [
        added(0, ""),
        TextAppended(0, "Thinking"),
        TextAppended(0, "..."),
        TextReplaced(0, "Done."),
        MessageFinished(0),
    ]


def test_messages_of_quiet_chats_are_not_echoed(run: Run) -> None:
    quiet = run.poe.Chat()
    quiet.add_message("not shown")
    with quiet.start_message() as msg:
        msg.write("also not shown")
    assert run.events == []


def test_adding_a_message_echoes_its_current_state(run: Run) -> None:
    msg = run.poe.Message(text="draft", sender="user", in_progress=True)
    msg.write(" 1")  # before it joins: part of MessageAdded
    run.poe.default_chat.add_message(msg)
    msg.write(" 2")
    msg.finish()
    assert run.events == [
        added(0, "draft 1", role="user", sender_name=None),
        TextAppended(0, " 2"),
        MessageFinished(0),
    ]


def test_changes_through_another_reference_are_echoed(run: Run) -> None:
    msg = run.poe.Message(text="", in_progress=True)
    shown = run.poe.Chat(quiet=False)
    shown.add_message(msg)
    run.poe.Chat(msg)[0].write("x")  # the same object reached through another chat
    assert run.events[-1] == TextAppended(0, "x")


def test_a_message_added_twice_is_echoed_twice(run: Run) -> None:
    msg = run.poe.Message(text="a", in_progress=True)
    run.poe.default_chat.add_message(msg)
    run.poe.default_chat.add_message(msg)
    msg.write("b")
    assert run.events == [
        added(0, "a", role="user", sender_name=None),
        added(1, "a", role="user", sender_name=None),
        TextAppended(0, "b"),
        TextAppended(1, "b"),
    ]
    assert run.port.texts() == ["ab", "ab"]


def test_call_into_default_chat_streams_the_bot_message(make_run: MakeRun) -> None:
    run = make_run({"GPT-4o": text_bot("Hel", "lo")})
    run.print("Asking...")
    reply = run.poe.call("GPT-4o", "hi", output=run.poe.default_chat)
    assert reply.last.text == "Hello"
    assert run.events == [
        added(0, "Asking..."),
        MessageFinished(0),
        added(1, "", sender_name="GPT-4o"),
        TextAppended(1, "Hel"),
        TextAppended(1, "lo"),
        MessageFinished(1),
    ]


def test_call_replace_response_is_a_text_replaced(make_run: MakeRun) -> None:
    def bot(request):
        yield fp.PartialResponse(text="wrong")
        yield fp.PartialResponse(text="right", is_replace_response=True)
        yield fp.PartialResponse(text="!")

    run = make_run({"B": bot})
    run.poe.call("B", "q", output=run.poe.default_chat)
    assert run.events[1:] == [
        TextAppended(0, "wrong"),
        TextReplaced(0, "right"),
        TextAppended(0, "!"),
        MessageFinished(0),
    ]


def test_attach_file_to_an_echoed_message(run: Run) -> None:
    with run.poe.start_message() as msg:
        msg.write("Chart:")
        image = msg.attach_file(name="chart.png", contents=b"png", is_inline=True)
        msg.attach_file(name="data.csv", contents=b"a,b")
    png, csv = run.port.uploads
    assert run.events == [
        added(0, ""),
        TextAppended(0, "Chart:"),
        AttachmentAdded(
            0, AttachmentInfo(png.url, "image/png", "chart.png", inline_ref=image.inline_ref)
        ),
        TextAppended(0, f"\n![chart.png][{image.inline_ref}]"),
        AttachmentAdded(0, AttachmentInfo(csv.url, "text/csv", "data.csv", inline_ref=None)),
        MessageFinished(0),
    ]


def test_message_added_with_attachments_carries_them(run: Run) -> None:
    attachment = run.poe.Attachment(name="r.txt", contents=b"r")
    run.poe.default_chat.add_message(run.poe.Message(text="file", attachments=[attachment]))
    (upload,) = run.port.uploads
    assert run.events == [
        added(
            0,
            "file",
            role="user",
            sender_name=None,
            attachments=[AttachmentInfo(upload.url, "text/plain", "r.txt")],
        ),
        MessageFinished(0),
    ]


def test_quiet_attachments_are_not_uploaded(run: Run) -> None:
    msg = run.poe.Chat().start_message()
    msg.attach_file(name="a.txt", contents=b"a")
    assert run.port.uploads == []


def test_finish_ends_messages_still_in_progress(run: Run) -> None:
    first = run.poe.start_message()
    run.print("done")
    second = run.poe.start_message()
    second.write("x")
    run.ns.finish()
    assert run.events[-2:] == [MessageFinished(0), MessageFinished(2)]
    assert first.in_progress  # the script's object is left as it was
    run.ns.finish()  # idempotent
    assert run.events.count(MessageFinished(0)) == 1


def test_output_cap_refuses_before_sending(make_run: MakeRun) -> None:
    run = make_run(max_output_chars=10)
    run.print("12345", end="")  # 5
    with pytest.raises(LimitReached) as caught:
        run.print("1234", end="")  # 5 + 2 (blank line) + 4 = 11
    assert caught.value.limit == "output"
    msg = run.poe.start_message()  # 5 + 2 + 0 = 7
    msg.write("abc")  # 10: exactly the cap
    with pytest.raises(LimitReached):
        msg.write("d")
    assert msg.text == "abc"
    with pytest.raises(LimitReached):
        msg.overwrite("abcd")
    msg.overwrite("a")  # shrinking is fine, and frees room
    msg.write("bc")
    assert run.port.texts() == ["12345", "abc"]


def test_output_cap_counts_a_flood_of_writes(make_run: MakeRun) -> None:
    run = make_run(max_output_chars=1000)
    msg = run.poe.start_message()
    with pytest.raises(LimitReached):
        for _ in range(10_000):
            msg.write("x")
    assert len(msg.text) == 1000 and len(run.events) == 1001
