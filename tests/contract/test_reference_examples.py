"""Every example of reference 003 (Poe's server-bot guides) and 004 (the poe namespace),
adapted to a script and queried through the server, gives the documented result.

Adaptations: the loopback ``Echo`` bot stands in for GPT-3.5-Turbo, ``ToolCaller`` for an
OpenAI model that calls functions (it passes the user's text as a ``query`` argument), and
``Inspect`` shows what a called bot received; a text file stands in for the PDF; sleeps are
shorter. A script has no HTTP request of its own: the HTTP-request example prints what a
script knows of its query instead.
"""

from __future__ import annotations

import json

import fastapi_poe as fp
import httpx
from fastapi_poe.templates import IMAGE_VISION_ATTACHMENT_TEMPLATE, TEXT_ATTACHMENT_TEMPLATE

from tests.conftest import CreatorInfo
from tests.contract.conftest import (
    PROTOCOL,
    Service,
    ask,
    bot_events,
    console_events,
    error_of,
    responses,
    text_of,
)
from tests.upstream import ACCESS_KEY

# -- reference 003 ------------------------------------------------------------------------

FORWARD = 'poe.call("Echo", poe.query, output=poe.default_chat)\n'

WEATHER = '''
import json

def get_current_weather(query: poe.Doc[str, "The city and state, e.g. San Francisco, CA"]):
    """Get the current weather in a given location"""
    if "tokyo" in query.lower():
        return json.dumps({"location": "Tokyo", "temperature": "11", "unit": "fahrenheit"})
    elif "san francisco" in query.lower():
        return json.dumps({"location": "San Francisco", "temperature": "72", "unit": "fahrenheit"})
    elif "paris" in query.lower():
        return json.dumps({"location": "Paris", "temperature": "22", "unit": "fahrenheit"})
    else:
        return json.dumps({"location": query, "temperature": "unknown"})

poe.call("ToolCaller", poe.query, tools=[get_current_weather], output=poe.default_chat)
'''

IMAGE_URL = "https://images.pexels.com/photos/46254/leopard-wildcat-big-cat-botswana-46254.jpeg"
IMAGE = f'IMAGE_URL = "{IMAGE_URL}"\nprint(f"This is a test image. ![leopard]({{IMAGE_URL}})")\n'

SHOW_CONVERSATION = """
for message in poe.default_chat:
    print(message.role + ": " + message.text)
"""

COUNT_BYTES = """
def respond():
    for message in reversed(poe.default_chat):
        for attachment in message.attachments:
            if attachment.content_type == "text/plain":
                try:
                    size = len(attachment.get_contents())
                    print(f"{attachment.name} has {size} bytes")
                except poe.BotError:
                    print("Failed to retrieve the document.")
                return

respond()
"""

ATTACH_LAST_MESSAGE = """
with poe.start_message() as msg:
    msg.attach_file(name="dummy.txt", contents=poe.query.text.encode())
    msg.write("Attached a text file containing your last message.")
"""

TRIVIA = 'print("Bot under construction. Please visit later")\n'

REQUEST_INFO = 'print(f"The bot is: {poe.bot_name}, the query is: {poe.query.text}")\n'


def settings_of(service: Service, name: str, key: str) -> dict[str, object]:
    response = httpx.post(
        service.bots_base + name,
        json={"version": PROTOCOL, "type": "settings"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200
    return dict(response.json())


async def test_accessing_other_bots(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, FORWARD, access_key=ACCESS_KEY)
    assert settings_of(service, name, ACCESS_KEY)["server_bot_dependencies"] == {"Echo": 1}
    assert await ask(service, name, ACCESS_KEY, "Tell me a joke") == "Tell me a joke"


async def test_using_openai_function_calling(service: Service, creator: CreatorInfo) -> None:
    name = service.script(
        creator,
        WEATHER,
        access_key=ACCESS_KEY,
        settings={"server_bot_dependencies": {"ToolCaller": 2}},
    )
    assert settings_of(service, name, ACCESS_KEY)["server_bot_dependencies"] == {"ToolCaller": 2}
    answer = await ask(service, name, ACCESS_KEY, "Tokyo")
    assert answer.startswith("Results: get_current_weather=")
    result = json.loads(json.loads(answer.removeprefix("Results: get_current_weather=")))
    assert result == {"location": "Tokyo", "temperature": "11", "unit": "fahrenheit"}
    assert service.runs(creator, name)[0]["bot_calls"] == 2  # "call OpenAI twice"


async def test_rendering_an_image_in_the_response(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, IMAGE)
    events = await bot_events(service, name, creator.token, "show me")
    assert events[1:] == [
        ("text", {"text": f"This is a test image. ![leopard]({IMAGE_URL})"}),
        ("done", {}),
    ]


async def test_enabling_file_upload(service: Service, creator: CreatorInfo) -> None:
    settings = {
        "allow_attachments": True,
        "expand_text_attachments": True,
        "enable_image_comprehension": True,
    }
    name = service.script(creator, SHOW_CONVERSATION, settings=settings)
    assert {k: settings_of(service, name, creator.token)[k] for k in settings} == settings
    text = fp.Attachment(
        url=service.upstream.root + "/files/hello.txt",
        content_type="text/plain",
        name="hello.txt",
        parsed_content="hello world",
    )
    image = fp.Attachment(
        url=service.upstream.root + "/files/pixel.png",
        content_type="image/png",
        name="pixel.png",
        parsed_content="pixel.png***A single pixel.",
    )
    message = fp.ProtocolMessage(role="user", content="What is this?", attachments=[text, image])
    answer = await ask(service, name, creator.token, "Hi", message)
    # fastapi_poe's templates, inserted before the last user message
    expected = [
        "user: Hi",
        "user: "
        + TEXT_ATTACHMENT_TEMPLATE.format(
            attachment_name="hello.txt", attachment_parsed_content="hello world"
        ),
        "user: "
        + IMAGE_VISION_ATTACHMENT_TEMPLATE.format(
            filename="pixel.png", parsed_image_description="A single pixel."
        ),
        "user: What is this?",
    ]
    assert answer == "\n\n".join(expected)
    no_parsing = service.script(
        creator,
        SHOW_CONVERSATION,
        settings={"allow_attachments": True, "expand_text_attachments": False},
    )
    assert await ask(service, no_parsing, creator.token, message) == "user: What is this?"


async def test_parsing_your_own_files(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, COUNT_BYTES, settings={"allow_attachments": True})
    root = service.upstream.root
    found = fp.Attachment(url=root + "/files/hello.txt", content_type="text/plain", name="a.txt")
    missing = fp.Attachment(url=root + "/files/none.txt", content_type="text/plain", name="b.txt")
    for attachment, answer in (
        (found, "a.txt has 11 bytes"),
        (missing, "Failed to retrieve the document."),
    ):
        message = fp.ProtocolMessage(role="user", content="count", attachments=[attachment])
        assert await ask(service, name, creator.token, message) == answer


async def test_sending_files_with_your_response(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, ATTACH_LAST_MESSAGE, access_key=ACCESS_KEY)
    for events in (
        await console_events(service, creator, name, {"query": "remember this"}),
        await bot_events(service, name, ACCESS_KEY, "remember this"),  # uploaded to Poe
    ):
        assert text_of(events) == "Attached a text file containing your last message."
        (file,) = [data for event, data in events if event == "file"]
        assert file["name"] == "dummy.txt" and file["content_type"] == "text/plain"
        assert httpx.get(file["url"]).content == b"remember this"


async def test_setting_an_introduction_message(service: Service, creator: CreatorInfo) -> None:
    intro = (
        "Welcome to the trivia bot. Please provide me a topic that you would like me to quiz "
        "you on."
    )
    name = service.script(creator, TRIVIA, settings={"introduction_message": intro})
    assert settings_of(service, name, creator.token)["introduction_message"] == intro
    assert (
        await ask(service, name, creator.token, "x") == "Bot under construction. Please visit later"
    )


async def test_multi_bot_support_and_updating_settings(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, TRIVIA)
    assert settings_of(service, name, creator.token)["enable_multi_bot_chat_prompting"] is None
    patch = {"settings": {"enable_multi_bot_chat_prompting": True, "allow_attachments": True}}
    assert service.api("PATCH", f"/scripts/{name}", creator, json=patch).status_code == 200
    settings = settings_of(service, name, creator.token)
    assert settings["enable_multi_bot_chat_prompting"] is True and settings["allow_attachments"]


async def test_accessing_request_information(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, REQUEST_INFO)
    answer = await ask(service, name, creator.token, "where am I?")
    assert answer == f"The bot is: {name}, the query is: where am I?"


async def test_programmatically_accessing_your_bot(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, FORWARD, access_key=ACCESS_KEY)
    parts = await responses(service, name, ACCESS_KEY, "Hello world")
    assert isinstance(parts[0], fp.MetaResponse) and parts[0].content_type == "text/markdown"
    assert [p.text for p in parts[1:]] == ["Hello world"]


# -- reference 004 ------------------------------------------------------------------------

ATTACHMENTS = """
one_attachment = poe.Attachment(
    name="report.csv", contents=b"a,b,c\\n1,2,3",
)
other_attachment = poe.Attachment(
    name="tiger",
    url=TIGER_URL,
    content_type="image/jpeg",
    is_inline=True,
)
with poe.start_message() as msg:
    msg.write("Two attachments:")
    msg.add_attachment(one_attachment)
    msg.add_attachment(other_attachment)
print(one_attachment.get_contents().decode(), "|", other_attachment.inline_ref is not None)
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
poe.default_chat.add_message(message_with_attachment)
"""

OVERWRITE = """
import time
msg = poe.Message(text="thinking...", in_progress=True)
poe.default_chat.add_message(msg)
time.sleep(0.2)
msg.overwrite("No solutions found!")
msg.finish()
"""

MESSAGES_AND_CHATS = """
greeting = poe.Message(text="Hello, ")
name = "Alice"
full_greeting = greeting + name
question = poe.Message(text="What is ")
topic = poe.Message(text="quantum computing")
question_mark = "?"
full_question = question + topic + question_mark
message = poe.Message(text="Attention!")
bold_text = f"**{message}**"
test_chat = poe.Chat("testing...")
assert "test" in test_chat
assert poe.Message(text="test") not in test_chat
assert poe.Message(text="testing...") in test_chat
with poe.set_query("Testing..."):
    assert poe.query.text == "Testing..."
print(full_greeting, full_question, bold_text, sep=" | ")
"""

QUIET_CHAT = """
chat = poe.Chat(quiet=False)
with chat.start_message() as msg:
    msg.write("Hello!")
"""

DOC = '''
def get_weather(
    location: poe.Doc[str, "City name or location to get weather for"]
) -> str:
    """Get current weather information for a specified location"""
    ...

print(poe.call("Inspect", "Weather in Paris?", tools=[get_weather]).text)
'''

CALLS = """
chat = poe.call("Echo", "one")
print(chat.last.text)
for part in poe.stream("Streamer", "go"):
    print(part.text)
results = poe.parallel(
    lambda: poe.call("Echo", "a").last.text, lambda: 1 / 0, return_exceptions=True
)
print(results[0], type(results[1]).__name__)
print(len(poe.repeat(2, lambda: poe.call("Echo", "r"))))
"""

TOOL_LOOP = '''
import json

def lookup(query: poe.Doc[str, "A word"]) -> str:
    """Look a word up."""
    return query.upper()

tool_calls = {}
for part in poe.stream("ToolCaller", poe.query, tools=[lookup]):
    if part.tool_calls:
        poe.update_tool_calls(tool_calls, part.tool_calls)
request = poe.Message(
    text=json.dumps([call.model_dump() for call in tool_calls.values()]),
    sender="bot",
    is_tool_call=True,
)
results = poe.call_tools(request, [lookup])
poe.call("ToolCaller", poe.query, request, results, tools=[lookup], output=poe.default_chat)
'''

BOT_ERROR = """
if "cat" not in poe.query:
    raise poe.BotError("I only talk about cats!")
print("Meow.")
"""

INPUT = """
try:
    input("Your name? ")
except NotImplementedError:
    print("input is not supported")
"""


async def test_attachments_from_contents_and_from_a_url(
    service: Service, creator: CreatorInfo
) -> None:
    source = f'TIGER_URL = "{service.upstream.root}/files/pixel.png"\n' + ATTACHMENTS
    name = service.script(creator, source)
    events = await bot_events(service, name, creator.token, "x")
    files = [data for event, data in events if event == "file"]
    assert [(f["name"], f["content_type"]) for f in files] == [
        ("report.csv", "text/csv"),
        ("tiger", "image/jpeg"),
    ]
    assert files[1]["inline_ref"] and f"![tiger][{files[1]['inline_ref']}]" in text_of(events)
    assert text_of(events).endswith("a,b,c\n1,2,3 | True")
    assert httpx.get(files[0]["url"]).content == b"a,b,c\n1,2,3"


async def test_an_attachment_added_to_a_message(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, ATTACHMENT_PLUS_MESSAGE)
    events = await bot_events(service, name, creator.token, "x")
    assert text_of(events) == "Here's my report"
    names = [data["name"] for event, data in events if event == "file"]
    assert names and set(names) == {"data.csv"}


async def test_message_overwrite(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, OVERWRITE)
    events = await bot_events(service, name, creator.token, "x")
    assert events[1:] == [
        ("text", {"text": "thinking..."}),
        ("replace_response", {"text": "No solutions found!"}),
        ("done", {}),
    ]


async def test_messages_chats_and_set_query(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, MESSAGES_AND_CHATS)
    assert await ask(service, name, creator.token, "x") == (
        "Hello, Alice | What is quantum computing? | **Attention!**"
    )
    quiet = service.script(creator, QUIET_CHAT)
    assert await ask(service, quiet, creator.token, "x") == "Hello!"


async def test_doc_annotations_describe_tools(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, DOC, access_key=ACCESS_KEY)
    seen = json.loads(await ask(service, name, ACCESS_KEY, "x"))
    (tool,) = seen["tools"]
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


async def test_call_stream_parallel_and_repeat(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, CALLS, access_key=ACCESS_KEY)
    answer = await ask(service, name, ACCESS_KEY, "x")
    assert answer == "one\n\none \n\ntwo \n\nthree \n\nfour \n\nfive\n\na ZeroDivisionError\n\n2"
    assert service.runs(creator, name)[0]["bot_calls"] == 5


async def test_a_manual_tool_loop(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, TOOL_LOOP, access_key=ACCESS_KEY)
    assert await ask(service, name, ACCESS_KEY, "quiet") == 'Results: lookup="QUIET"'


async def test_bot_error_print_and_input(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, BOT_ERROR)
    assert await ask(service, name, creator.token, "Tell me about cats") == "Meow."
    error = error_of(await bot_events(service, name, creator.token, "Tell me about dogs"))
    assert error["text"] == "I only talk about cats!"
    no_input = service.script(creator, INPUT)
    assert await ask(service, no_input, creator.token, "x") == "input is not supported"
