"""poe.Attachment: construction rules, lazy upload through the port, copies, conversions."""

from __future__ import annotations

import fastapi_poe as fp
import pytest

from tests.sandbox.poe.harness import MakeRun, Run


def test_attachment_from_contents(run: Run) -> None:
    attachment = run.poe.Attachment(name="report.csv", contents=b"a,b,c\n1,2,3")
    assert attachment.name == "report.csv"
    assert attachment.content_type == "text/csv"  # inferred from the name
    assert attachment.inline_ref is None and attachment.is_inline is False
    assert attachment.get_contents() == b"a,b,c\n1,2,3"
    assert run.port.uploads == []  # nothing stored until a URL is needed


def test_attachment_needs_contents_or_url_but_not_both(run: Run) -> None:
    with pytest.raises(ValueError):
        run.poe.Attachment(name="x")
    with pytest.raises(ValueError):
        run.poe.Attachment(name="x", contents=b"a", url="https://h/x")
    with pytest.raises(ValueError):
        run.poe.Attachment(name="", contents=b"a")
    with pytest.raises(TypeError):
        run.poe.Attachment(name="x", contents="text, not bytes")


def test_url_is_uploaded_once_on_first_use(run: Run) -> None:
    attachment = run.poe.Attachment(name="a.bin", contents=b"\x00\x01")
    url = attachment.url
    assert url == attachment.url
    assert len(run.port.uploads) == 1
    assert run.port.files[url] == b"\x00\x01"
    assert attachment.content_type == "application/octet-stream"


def test_explicit_content_type_wins(run: Run) -> None:
    attachment = run.poe.Attachment(name="a.txt", contents=b"x", content_type="text/x-custom")
    assert attachment.content_type == "text/x-custom"
    _ = attachment.url
    assert run.port.uploads[0].content_type == "text/x-custom"


def test_inline_attachment_has_an_inline_ref(run: Run) -> None:
    attachment = run.poe.Attachment(
        name="tiger",
        url="http://my.hosting.com/tiger.jpg",
        content_type="image/jpeg",
        is_inline=True,
    )
    assert attachment.is_inline
    assert attachment.inline_ref is not None and len(attachment.inline_ref) == 8
    assert attachment.inline_ref.isalnum()


def test_third_party_url_is_fetched_and_stored_again(make_run: MakeRun) -> None:
    run = make_run(files={"http://my.hosting.com/tiger.jpg": b"jpeg"})
    attachment = run.poe.Attachment(name="tiger", url="http://my.hosting.com/tiger.jpg")
    assert attachment.content_type == "image/jpeg"  # from the URL's extension
    assert attachment.get_contents() == b"jpeg"
    assert run.port.fetches == ["http://my.hosting.com/tiger.jpg"]
    stored = attachment.url
    assert stored.startswith("memory://files/") and run.port.files[stored] == b"jpeg"
    assert run.port.fetches == ["http://my.hosting.com/tiger.jpg"]  # cached


def test_get_contents_fetches_through_the_port(make_run: MakeRun) -> None:
    run = make_run(files={"https://poe/f.txt": b"hello"})
    attachment = run.poe.Attachment.from_protocol_attachment(
        fp.Attachment(url="https://poe/f.txt", content_type="text/plain", name="f.txt")
    )
    assert attachment.get_contents() == b"hello"
    assert attachment.get_contents() == b"hello"
    assert run.port.fetches == ["https://poe/f.txt"]
    assert attachment.url == "https://poe/f.txt"  # already stored: never uploaded again
    assert run.port.uploads == []


def test_fetch_failure_is_a_bot_error(run: Run) -> None:
    attachment = run.poe.Attachment(name="x.png", url="https://nowhere/x.png")
    with pytest.raises(run.poe.BotError):
        attachment.get_contents()


def test_copy_changes_name_or_inline_status(run: Run) -> None:
    original = run.poe.Attachment(name="a.png", contents=b"png")
    renamed = original.copy(name="b.png")
    assert (renamed.name, renamed.is_inline, renamed.get_contents()) == ("b.png", False, b"png")
    inline = original.copy(is_inline=True)
    assert inline.name == "a.png" and inline.is_inline and inline.inline_ref
    assert inline.copy(is_inline=False).inline_ref is None
    assert original.copy() == original and original.copy() is not original
    _ = renamed.url
    assert inline.url == renamed.url  # copies share the stored file
    assert len(run.port.uploads) == 1


def test_attachment_is_immutable(run: Run) -> None:
    attachment = run.poe.Attachment(name="a.txt", contents=b"a")
    with pytest.raises(AttributeError):
        attachment.name = "b.txt"
    with pytest.raises(AttributeError):
        attachment.url = "https://elsewhere"


def test_protocol_attachment_round_trip(run: Run) -> None:
    low = fp.Attachment(
        url="https://poe/img.png",
        content_type="image/png",
        name="img.png",
        inline_ref="r1",
        parsed_content="an image of a cat",
    )
    attachment = run.poe.Attachment.from_protocol_attachment(low)
    assert isinstance(attachment, run.poe.Attachment)
    assert (attachment.name, attachment.url, attachment.content_type) == (
        "img.png",
        "https://poe/img.png",
        "image/png",
    )
    assert attachment.inline_ref == "r1" and attachment.is_inline
    assert attachment.to_protocol_attachment() == low
    with pytest.raises(TypeError):
        run.poe.Attachment.from_protocol_attachment({"url": "x"})


def test_to_protocol_attachment_uploads_contents(run: Run) -> None:
    attachment = run.poe.Attachment(name="a.txt", contents=b"a", is_inline=True)
    low = attachment.to_protocol_attachment()
    assert isinstance(low, fp.Attachment)
    assert run.port.files[low.url] == b"a"
    assert low.inline_ref == attachment.inline_ref
    assert low.content_type == "text/plain"


def test_add_with_str_makes_a_message(run: Run) -> None:
    attachment = run.poe.Attachment(name="a.txt", contents=b"a")
    for message in (attachment + "see file", "see file" + attachment):
        assert isinstance(message, run.poe.Message)
        assert message.text == "see file" and message.attachments == (attachment,)


def test_add_with_message_appends_or_prepends(run: Run) -> None:
    poe = run.poe
    first = poe.Attachment(name="1.txt", contents=b"1")
    second = poe.Attachment(name="2.txt", contents=b"2")
    message = poe.Message(text="m", attachments=[first])
    assert (message + second).attachments == (first, second)
    assert (second + message).attachments == (second, first)
    assert (second + message).text == "m"
    with pytest.raises(TypeError):
        first + 1


def test_equality_and_hash(run: Run) -> None:
    poe = run.poe
    a = poe.Attachment(name="a.txt", contents=b"a")
    assert a == poe.Attachment(name="a.txt", contents=b"a")
    assert a != poe.Attachment(name="a.txt", contents=b"b")
    assert len({a, poe.Attachment(name="a.txt", contents=b"a")}) == 1
