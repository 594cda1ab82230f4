"""poe.Chat: construction, the sequence protocol, additions, derived chats, `in`, `with`."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.sandbox.poe.harness import BOT_NAME, Run


def test_chat_flattens_strings_messages_and_chats(run: Run) -> None:
    poe = run.poe
    inner = poe.Chat("a", poe.Message(text="b", sender="bot"))
    chat = poe.Chat(inner, "c")
    assert [m.text for m in chat.messages] == ["a", "b", "c"]
    assert [m.role for m in chat] == ["user", "bot", "user"]
    assert chat.initial_length == 3 and chat.quiet is True
    with pytest.raises(TypeError):
        poe.Chat(42)


def test_chat_is_a_full_sequence(run: Run) -> None:
    chat = run.poe.Chat("a", "b", "c")
    assert isinstance(chat, Sequence)
    assert len(chat) == 3
    assert chat[0].text == "a" and chat[-1].text == "c"
    assert [m.text for m in reversed(chat)] == ["c", "b", "a"]
    assert chat.index(chat[1]) == 1 and chat.count(chat[0]) == 1
    part = chat[1:]
    assert isinstance(part, run.poe.Chat) and [m.text for m in part] == ["b", "c"]
    with pytest.raises(IndexError):
        chat[3]


def test_last_and_text(run: Run) -> None:
    poe = run.poe
    chat = poe.Chat("one", poe.Message(text="[]", sender="bot", is_tool_call=True), "two")
    assert chat.last.text == "two"
    assert chat.text == "one\ntwo"  # tool-call messages left out
    with pytest.raises(IndexError):
        _ = poe.Chat().last


def test_messages_is_a_copy(run: Run) -> None:
    chat = run.poe.Chat("a")
    chat.messages.append(run.poe.Message(text="b"))
    assert len(chat) == 1


def test_add_message_and_messages(run: Run) -> None:
    chat = run.poe.Chat()
    chat.add_message("a")
    chat.add_message(run.poe.Message(text="b", sender="bot"))
    chat.add_messages(["c", run.poe.Message(text="d")])
    assert [m.text for m in chat] == ["a", "b", "c", "d"]
    assert chat[0].role == "user"
    with pytest.raises(TypeError):
        chat.add_message(3)
    with pytest.raises(TypeError):
        chat.add_messages("not a list")


def test_iadd_takes_a_message_or_many(run: Run) -> None:
    chat = run.poe.Chat()
    chat += "a"
    chat += run.poe.Message(text="b")
    chat += ["c", "d"]
    chat += run.poe.Chat("e")
    assert [m.text for m in chat] == ["a", "b", "c", "d", "e"]


def test_start_message_defaults_to_the_current_bot(run: Run) -> None:
    chat = run.poe.Chat()
    with chat.start_message() as msg:
        msg.write("Hello!")
    assert msg.sender == run.poe.Sender(role="bot", name=BOT_NAME)
    assert chat.last is msg and msg.text == "Hello!" and not msg.in_progress
    other = chat.start_message(sender="system", content_type="text/plain")
    assert other.role == "system" and other.content_type == "text/plain" and other.in_progress
    with pytest.raises(ValueError):
        chat.start_message(content_type="text/html")


def test_new_messages_and_initial_length(run: Run) -> None:
    chat = run.poe.Chat("prompt", "more")
    assert chat.new_messages() == []
    chat.add_message("answer")
    assert [m.text for m in chat.new_messages()] == ["answer"]
    explicit = run.poe.Chat("a", "b", "c", initial_length=1)
    assert [m.text for m in explicit.new_messages()] == ["b", "c"]
    with pytest.raises(ValueError):
        run.poe.Chat("a", initial_length=-1)


def test_make_child_tracks_its_own_additions(run: Run) -> None:
    chat = run.poe.Chat("q")
    chat.add_message("a1")
    child = chat.make_child()
    assert child.initial_length == 2 and child.quiet == chat.quiet
    child.add_message("a2")
    assert [m.text for m in child.new_messages()] == ["a2"]
    assert len(chat) == 2  # the parent is untouched


def test_copy_keeps_or_changes_quiet(run: Run) -> None:
    chat = run.poe.Chat("a", "b", initial_length=1)
    same = chat.copy()
    assert same is not chat and [m.text for m in same] == ["a", "b"]
    assert same.initial_length == 1 and same.quiet is True
    assert chat.copy(quiet=False).quiet is False
    same.add_message("c")
    assert len(chat) == 2


def test_summarize(run: Run) -> None:
    poe = run.poe
    chat = poe.Chat(
        "What is " + "very " * 40 + "long?",
        poe.Message(text="Answer", sender=poe.Sender(role="bot", name="GPT-4o")),
    )
    summary = chat.summarize()
    assert summary.splitlines()[0] == "Chat with 2 message(s), 0 new:"
    assert summary.splitlines()[1].startswith("1. user: What is very")
    assert summary.splitlines()[1].endswith("...")
    assert summary.splitlines()[2] == "2. bot (GPT-4o): Answer"


def test_contains_string_vs_message(run: Run) -> None:
    test_chat = run.poe.Chat("testing...")
    assert "test" in test_chat
    assert run.poe.Message(text="test") not in test_chat
    assert run.poe.Message(text="testing...") in test_chat
    with pytest.raises(TypeError):
        3 in test_chat  # noqa: B015


def test_with_chat_replaces_default_chat(run: Run) -> None:
    poe = run.poe
    outer = poe.default_chat
    side = poe.Chat()
    with side as entered:
        assert entered is side and poe.default_chat is side
        run.print("into the side chat")
        with poe.Chat() as inner:
            assert poe.default_chat is inner
        assert poe.default_chat is side
    assert poe.default_chat is outer
    assert side.last.text == "into the side chat"
    assert run.port.events == []  # a quiet chat echoes nothing


def test_format_and_str_use_text(run: Run) -> None:
    chat = run.poe.Chat("a", "b")
    assert f"<{chat}>" == "<a\nb>"
    assert str(chat) == "a\nb"


def test_default_chat_is_primed_and_not_quiet(make_run) -> None:
    run = make_run(conversation=["first", "second"])
    chat = run.poe.default_chat
    assert chat.quiet is False
    assert [m.text for m in chat] == ["first", "second"]
    assert chat.initial_length == 2 and chat.new_messages() == []
    assert run.port.events == []  # the primed conversation is not part of the response
