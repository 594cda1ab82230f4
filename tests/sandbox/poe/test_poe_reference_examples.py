"""Every example of the Poe Python reference (reference 004), run as written."""

from __future__ import annotations

import builtins
import types
from typing import Any

import pytest

from sandbox.protocol import AttachmentAdded, MessageAdded, MessageFinished, TextAppended
from tests.sandbox.poe.harness import BOT_NAME, MakeRun, Run

ATTACHMENTS = """
one_attachment = poe.Attachment(
    name="report.csv", contents=b"a,b,c\\n1,2,3",
)
other_attachment = poe.Attachment(
    name="tiger",
    url="http://my.hosting.com/tiger.jpg",
    content_type="image/jpeg",
    is_inline=True,
)
"""

ATTACHMENT_PLUS_MESSAGE = """
message = poe.Message(text="Here's my report")
# Create an attachment in another message.
with poe.start_message() as other_message:
    attachment = other_message.attach_file(
        name="data.csv",
        contents=b"a,b,c\\n1,2,3",
    )
# Combine the message with the attachment.
message_with_attachment = message + attachment
# The opposite order works as well.
message_with_attachment = attachment + message
"""

OVERWRITE = """
import time
msg = poe.Message(text="thinking...", in_progress=True)
time.sleep(5)
msg.overwrite("No solutions found!")
"""

MESSAGE_PLUS = """
# Combine messages with strings.
greeting = poe.Message(text="Hello, ")
name = "Alice"
full_greeting = greeting + name
# Combine multiple messages.
question = poe.Message(text="What is ")
topic = poe.Message(text="quantum computing")
question_mark = "?"
full_question = question + topic + question_mark
"""

FORMAT = """
# No need to use message.text below.
message = poe.Message(text="Attention!")
bold_text = f"**{message}**"
"""

CHAT_START_MESSAGE = """
chat = poe.Chat(quiet=False)
with chat.start_message() as msg:
    msg.write("Hello!")
"""

CHAT_CONTAINS = """
test_chat = poe.Chat("testing...")
assert "test" in test_chat
assert poe.Message(text="test") not in test_chat
assert poe.Message(text="testing...") in test_chat
"""

DOC = '''
def get_weather(
    location: poe.Doc[str, "City name or location to get weather for"]
) -> str:
    """Get current weather information for a specified location"""
    ...
'''

BOT_ERROR = """
if "cat" not in poe.query:
    raise poe.BotError("I only talk about cats!")
"""

SET_QUERY = """
with poe.set_query("Testing..."):
    assert poe.query.text == "Testing..."
"""


def test_attachments(run: Run) -> None:
    env = run.exec(ATTACHMENTS)
    assert env["one_attachment"].get_contents() == b"a,b,c\n1,2,3"
    assert env["other_attachment"].is_inline and env["other_attachment"].inline_ref
    assert env["other_attachment"].content_type == "image/jpeg"


def test_attachment_plus_message(run: Run) -> None:
    env = run.exec(ATTACHMENT_PLUS_MESSAGE)
    combined = env["message_with_attachment"]
    assert combined.text == "Here's my report"
    assert combined.attachments == (env["attachment"],)
    (upload,) = run.port.uploads
    assert [type(e) for e in run.events] == [MessageAdded, AttachmentAdded, MessageFinished]
    assert run.events[1] == AttachmentAdded(0, upload)


def test_overwrite(run: Run) -> None:
    slept: list[float] = []
    fake_time = types.SimpleNamespace(sleep=slept.append)

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        return fake_time if name == "time" else builtins.__import__(name, *args, **kwargs)

    env = run.exec(OVERWRITE, __builtins__={**vars(builtins), "__import__": fake_import})
    assert slept == [5]
    assert env["msg"].text == "No solutions found!"


def test_message_plus(run: Run) -> None:
    env = run.exec(MESSAGE_PLUS)
    assert env["full_greeting"].text == "Hello, Alice"
    assert env["full_question"].text == "What is quantum computing?"


def test_format(run: Run) -> None:
    assert run.exec(FORMAT)["bold_text"] == "**Attention!**"


def test_chat_start_message(run: Run) -> None:
    env = run.exec(CHAT_START_MESSAGE)
    assert env["chat"].last.text == "Hello!"
    assert run.events == [
        MessageAdded(msg_id=0, role="bot", text="", sender_name=BOT_NAME),
        TextAppended(0, "Hello!"),
        MessageFinished(0),
    ]


def test_chat_contains(run: Run) -> None:
    run.exec(CHAT_CONTAINS)


def test_doc(run: Run) -> None:
    env = run.exec(DOC)
    run.port.bots["GPT-4o"] = lambda request: iter(())
    run.poe.call("GPT-4o", "Weather in Paris?", tools=[env["get_weather"]])
    (tool,) = run.port.requests[0].tools or []
    assert tool["function"] == {
        "name": "get_weather",
        "description": "Get current weather information for a specified location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "City name or location to get weather for",
                }
            },
            "required": ["location"],
        },
    }


def test_bot_error(make_run: MakeRun) -> None:
    make_run(conversation=["Tell me about cats"]).exec(BOT_ERROR)
    dogs = make_run(conversation=["Tell me about dogs"])
    with pytest.raises(dogs.poe.BotError) as caught:
        dogs.exec(BOT_ERROR)
    assert caught.value.message == "I only talk about cats!"


def test_set_query(make_run: MakeRun) -> None:
    make_run().exec(SET_QUERY)
    make_run(conversation=[]).exec(SET_QUERY)  # also when the run has no query
