"""poe.Sender and poe.Message: fields, mutation rules, operators, conversions."""

from __future__ import annotations

import fastapi_poe as fp
import pytest

from tests.sandbox.poe.harness import Run


def test_sender_accepts_the_four_roles(run: Run) -> None:
    for role in ("user", "bot", "system", "tool"):
        assert run.poe.Sender(role=role).role == role
    sender = run.poe.Sender(role="bot", id="b1", name="GPT")
    assert (sender.id, sender.name) == ("b1", "GPT")


def test_sender_refuses_other_roles(run: Run) -> None:
    with pytest.raises(ValueError, match="role"):
        run.poe.Sender(role="assistant")


def test_sender_is_immutable(run: Run) -> None:
    sender = run.poe.Sender(role="user")
    with pytest.raises(AttributeError):
        sender.role = "bot"


def test_message_defaults(run: Run) -> None:
    msg = run.poe.Message(text="hi")
    assert msg.text == "hi"
    assert msg.sender == run.poe.Sender(role="user", id=None, name=None)
    assert msg.role == "user"
    assert msg.content_type == "text/markdown"
    assert msg.attachments == ()
    assert msg.in_progress is False
    assert msg.is_tool_call is False
    assert msg.parameters == {}


def test_message_role_string_becomes_sender(run: Run) -> None:
    msg = run.poe.Message(text="x", sender="system")
    assert msg.sender == run.poe.Sender(role="system")
    assert msg.role == "system"


def test_message_refuses_bad_role_and_content_type(run: Run) -> None:
    with pytest.raises(ValueError):
        run.poe.Message(text="x", sender="robot")
    with pytest.raises(ValueError):
        run.poe.Message(text="x", content_type="text/html")
    with pytest.raises(TypeError):
        run.poe.Message(text=3)


def test_message_parameters_are_a_copy(run: Run) -> None:
    params = {"a": 1}
    msg = run.poe.Message(text="x", parameters=params)
    params["a"] = 2
    msg.parameters["a"] = 3
    assert msg.parameters == {"a": 1}


@pytest.mark.parametrize(
    "change",
    [
        lambda m, poe: m.write("x"),
        lambda m, poe: m.overwrite("x"),
        lambda m, poe: m.add_attachment(poe.Attachment(name="a.txt", contents=b"a")),
        lambda m, poe: m.update(fp.PartialResponse(text="x")),
        lambda m, poe: m.attach_file(name="a.txt", contents=b"a"),
        lambda m, poe: m.finish(),
    ],
    ids=["write", "overwrite", "add_attachment", "update", "attach_file", "finish"],
)
def test_changes_to_a_message_not_in_progress_raise_value_error(run: Run, change) -> None:
    created_finished = run.poe.Message(text="done")
    with pytest.raises(ValueError):
        change(created_finished, run.poe)
    finished_later = run.poe.Message(text="", in_progress=True)
    finished_later.finish()
    with pytest.raises(ValueError):
        change(finished_later, run.poe)
    assert created_finished.text == "done" and finished_later.text == ""


def test_write_and_overwrite(run: Run) -> None:
    msg = run.poe.Message(text="thinking", in_progress=True)
    msg.write("...")
    assert msg.text == "thinking..."
    msg.overwrite("No solutions found!")
    assert msg.text == "No solutions found!"
    msg.finish()
    assert msg.in_progress is False


def test_write_needs_a_str(run: Run) -> None:
    msg = run.poe.Message(text="", in_progress=True)
    with pytest.raises(TypeError):
        msg.write(5)


def test_add_attachment_appends_inline_ref_to_markdown(run: Run) -> None:
    poe = run.poe
    image = poe.Attachment(name="cat.png", contents=b"png", is_inline=True)
    msg = poe.Message(text="Look:", in_progress=True)
    msg.add_attachment(image)
    assert msg.attachments == (image,)
    assert msg.text == f"Look:\n![cat.png][{image.inline_ref}]"


def test_add_attachment_without_inline_ref(run: Run) -> None:
    poe = run.poe
    image = poe.Attachment(name="cat.png", contents=b"png", is_inline=True)
    msg = poe.Message(text="Look:", in_progress=True)
    msg.add_attachment(image, add_inline_ref=False)
    assert msg.text == "Look:"
    plain = poe.Message(text="Look:", content_type="text/plain", in_progress=True)
    plain.add_attachment(image)
    assert plain.text == "Look:"
    not_inline = poe.Attachment(name="a.csv", contents=b"a")
    msg.add_attachment(not_inline)
    assert msg.text == "Look:" and msg.attachments == (image, not_inline)


def test_add_attachment_refuses_other_objects(run: Run) -> None:
    msg = run.poe.Message(text="", in_progress=True)
    with pytest.raises(TypeError):
        msg.add_attachment(b"bytes")


def test_update_applies_text_replace_and_attachment(run: Run) -> None:
    msg = run.poe.Message(text="", in_progress=True)
    msg.update(fp.PartialResponse(text="Hel"))
    msg.update(fp.PartialResponse(text="lo"))
    assert msg.text == "Hello"
    msg.update(fp.PartialResponse(text="Bye", is_replace_response=True))
    assert msg.text == "Bye"
    msg.update(fp.PartialResponse(text="suggestion", is_suggested_reply=True))
    msg.update(fp.MetaResponse(text=""))
    assert msg.text == "Bye"
    file = fp.Attachment(url="https://poe/x.png", content_type="image/png", name="x.png")
    msg.update(fp.PartialResponse(text="", attachment=file))
    (attachment,) = msg.attachments
    assert (attachment.url, attachment.name, attachment.content_type) == (
        "https://poe/x.png",
        "x.png",
        "image/png",
    )
    with pytest.raises(TypeError):
        msg.update("text")


def test_attach_file_creates_and_adds_an_attachment(run: Run) -> None:
    msg = run.poe.Message(text="", in_progress=True)
    attachment = msg.attach_file(name="data.csv", contents=b"a,b", content_type="text/csv")
    assert isinstance(attachment, run.poe.Attachment)
    assert msg.attachments == (attachment,)
    assert attachment.get_contents() == b"a,b"


def test_finish_twice_raises(run: Run) -> None:
    msg = run.poe.Message(text="", in_progress=True)
    msg.finish()
    with pytest.raises(ValueError):
        msg.finish()


def test_context_manager_finishes(run: Run) -> None:
    with run.poe.Message(text="", in_progress=True) as msg:
        msg.write("x")
        assert msg.in_progress
    assert not msg.in_progress
    with run.poe.Message(text="", in_progress=True) as other:
        other.finish()  # finishing inside the block is fine too
    with pytest.raises(RuntimeError), run.poe.Message(text="", in_progress=True) as failed:
        raise RuntimeError
    assert not failed.in_progress


def test_copy_replaces_given_fields(run: Run) -> None:
    poe = run.poe
    attachment = poe.Attachment(name="a.txt", contents=b"a")
    msg = poe.Message(text="a", sender="bot", attachments=[attachment], parameters={"k": 1})
    same = msg.copy()
    assert same == msg and same is not msg
    changed = msg.copy(text="b", sender="system", attachments=[], parameters={"j": 2})
    assert (changed.text, changed.role, changed.attachments, changed.parameters) == (
        "b",
        "system",
        (),
        {"j": 2},
    )
    assert msg.text == "a"


def test_copy_of_message_in_progress_raises(run: Run) -> None:
    msg = run.poe.Message(text="", in_progress=True)
    with pytest.raises(ValueError):
        msg.copy()
    msg.finish()
    assert msg.copy().in_progress is False


def test_protocol_message_round_trip(run: Run) -> None:
    original = fp.ProtocolMessage(
        role="bot",
        sender=fp.Sender(id="s1", name="GPT-4o"),
        content="answer",
        content_type="text/plain",
        parameters={"x": 1},
        attachments=[
            fp.Attachment(
                url="https://poe/f.png", content_type="image/png", name="f.png", inline_ref="ab"
            )
        ],
    )
    msg = run.poe.Message.from_protocol_message(original)
    assert isinstance(msg, run.poe.Message)
    assert (msg.text, msg.role, msg.sender.name, msg.sender.id) == ("answer", "bot", "GPT-4o", "s1")
    assert msg.content_type == "text/plain" and msg.parameters == {"x": 1}
    assert msg.attachments[0].inline_ref == "ab" and msg.attachments[0].is_inline
    back = msg.to_protocol_message()
    assert isinstance(back, fp.ProtocolMessage)
    assert back.content == "answer" and back.role == "bot"
    assert back.sender == fp.Sender(id="s1", name="GPT-4o")
    assert back.attachments[0].url == "https://poe/f.png"
    assert back.attachments[0].inline_ref == "ab"
    with pytest.raises(TypeError):
        run.poe.Message.from_protocol_message({"role": "user", "content": "x"})


def test_to_protocol_message_uploads_contents(run: Run) -> None:
    msg = run.poe.Message(text="x", attachments=[run.poe.Attachment(name="a.txt", contents=b"a")])
    (attachment,) = msg.to_protocol_message().attachments
    assert run.port.files[attachment.url] == b"a"


def test_add_strings_and_messages(run: Run) -> None:
    poe = run.poe
    greeting = poe.Message(text="Hello, ")
    assert (greeting + "Alice").text == "Hello, Alice"
    assert ("Oh, " + greeting).text == "Oh, Hello, "
    question = poe.Message(text="What is ")
    topic = poe.Message(text="quantum computing")
    assert (question + topic + "?").text == "What is quantum computing?"
    assert greeting.text == "Hello, "


def test_add_right_message_fields_win_and_parameters_merge(run: Run) -> None:
    poe = run.poe
    a1 = poe.Attachment(name="1.txt", contents=b"1")
    a2 = poe.Attachment(name="2.txt", contents=b"2")
    left = poe.Message(text="L", sender="user", attachments=[a1], parameters={"a": 1, "b": 1})
    right = poe.Message(
        text="R", sender="bot", content_type="text/plain", attachments=[a2], parameters={"b": 2}
    )
    merged = left + right
    assert merged.text == "LR"
    assert merged.role == "bot" and merged.content_type == "text/plain"
    assert merged.attachments == (a1, a2)
    assert merged.parameters == {"a": 1, "b": 2}


def test_add_attachments_to_message(run: Run) -> None:
    poe = run.poe
    a1 = poe.Attachment(name="1.txt", contents=b"1")
    a2 = poe.Attachment(name="2.txt", contents=b"2")
    msg = poe.Message(text="m")
    assert (msg + a1).attachments == (a1,)
    assert (msg + [a1, a2]).attachments == (a1, a2)  # noqa: RUF005  # the operator under test
    assert ([a2] + (msg + a1)).attachments == (a2, a1)
    with pytest.raises(TypeError):
        msg + 5
    with pytest.raises(TypeError):
        msg + [a1, "x"]  # noqa: RUF005


def test_contains_checks_the_text(run: Run) -> None:
    msg = run.poe.Message(text="I like cats")
    assert "cat" in msg
    assert "dog" not in msg
    with pytest.raises(TypeError):
        5 in msg  # noqa: B015


def test_format_and_str_use_the_text(run: Run) -> None:
    message = run.poe.Message(text="Attention!")
    assert f"**{message}**" == "**Attention!**"
    assert f"{message:>12}" == "  Attention!"
    assert str(message) == "Attention!"


def test_equality(run: Run) -> None:
    poe = run.poe
    assert poe.Message(text="a") == poe.Message(text="a")
    assert poe.Message(text="a") != poe.Message(text="a", sender="bot")
    assert poe.Message(text="a") != "a"
    with pytest.raises(TypeError):
        hash(poe.Message(text="a"))
