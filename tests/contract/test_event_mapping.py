"""What a script does becomes one Poe response, event by event (SPEC §7), on the wire."""

from __future__ import annotations

import fastapi_poe as fp
import httpx
import pytest

from tests.conftest import CreatorInfo
from tests.contract.conftest import (
    RUN_CPU_S,
    RUN_MEMORY_MB,
    RUN_TIMEOUT_S,
    Service,
    bot_events,
    console_events,
    error_of,
    query_request,
    text_of,
)
from tests.upstream import ACCESS_KEY

WRITES = """
import time
with poe.start_message() as msg:
    for word in ["a", "b", "c"]:
        msg.write(word)
        time.sleep(0.1)
"""

OVERWRITE = """
import time
with poe.start_message() as msg:
    msg.write("thinking...")
    time.sleep(0.1)
    msg.overwrite("No solutions found!")
"""

EARLIER_MESSAGE = """
import time
first = poe.start_message()
first.write("first")
time.sleep(0.1)
print("second")
time.sleep(0.1)
first.write(" more")
first.finish()
"""

PARALLEL = """
import time

def writer(tag):
    def write():
        with poe.start_message() as msg:
            for i in range(4):
                msg.write(tag + str(i) + " ")
                time.sleep(0.05)
    return write

poe.parallel(writer("a"), writer("b"))
"""

ATTACH = """
with poe.start_message() as msg:
    msg.write("Here is your file.")
    msg.attach_file(name="report.csv", contents=b"a,b,c\\n1,2,3", content_type="text/csv")
    msg.attach_file(name="pixel.png", contents=b"\\x89PNGfake", is_inline=True)
"""

BOT_ERROR = """
print("partial")
if "cat" not in poe.query:
    raise poe.BotError("I only talk about cats!")
"""

EXCEPTION = """
def divide(a, b):
    return a / b

print("before")
divide(1, 0)
"""


async def test_print_gives_text_messages_joined_by_a_blank_line(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, 'print("a")\nprint("b", "c", sep="-")')
    events = await bot_events(service, name, creator.token, "x")
    assert events[0][0] == "meta" and events[-1] == ("done", {})
    assert {event for event, _ in events[1:-1]} == {"text"}
    assert text_of(events) == "a\n\nb-c"


async def test_streaming_writes_are_text_events(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, WRITES)
    events = await bot_events(service, name, creator.token, "x")
    assert events[1:] == [("text", {"text": t}) for t in "abc"] + [("done", {})]


async def test_overwrite_is_replace_response(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, OVERWRITE)
    events = await bot_events(service, name, creator.token, "x")
    assert events[1:] == [
        ("text", {"text": "thinking..."}),
        ("replace_response", {"text": "No solutions found!"}),
        ("done", {}),
    ]


async def test_a_write_into_an_earlier_message_replaces_the_response(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, EARLIER_MESSAGE)
    events = await bot_events(service, name, creator.token, "x")
    assert events[1:] == [
        ("text", {"text": "first"}),
        ("text", {"text": "\n\nsecond"}),
        ("replace_response", {"text": "first more\n\nsecond"}),
        ("done", {}),
    ]


async def test_parallel_writers_replace_the_response(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, PARALLEL)
    events = await bot_events(service, name, creator.token, "x")
    assert "replace_response" in [event for event, _ in events]
    assert sorted(text_of(events).split("\n\n")) == ["a0 a1 a2 a3 ", "b0 b1 b2 b3 "]
    final = await fp.get_final_response(
        query_request("x"), name, api_key=creator.token, base_url=service.bots_base
    )
    assert final == text_of(events) or sorted(final.split("\n\n")) == sorted(
        text_of(events).split("\n\n")
    )


async def test_attachments_are_file_events_served_by_the_service(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, ATTACH, access_key=ACCESS_KEY)
    for events in (
        await console_events(service, creator, name, {"query": "x"}),
        await bot_events(service, name, creator.token, "x"),  # a token: not from Poe
    ):
        files = [data for event, data in events if event == "file"]
        assert [f["name"] for f in files] == ["report.csv", "pixel.png"]
        csv, png = files
        assert csv["content_type"] == "text/csv" and csv["inline_ref"] is None
        assert png["content_type"] == "image/png" and png["inline_ref"]
        assert f"![pixel.png][{png['inline_ref']}]" in text_of(events)
        for file, contents in ((csv, b"a,b,c\n1,2,3"), (png, b"\x89PNGfake")):
            assert file["url"].startswith(service.base + "/files/")
            response = httpx.get(file["url"])
            assert response.status_code == 200 and response.content == contents
            assert response.headers["content-type"].startswith(file["content_type"])
            assert response.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(service.base + "/files/" + "x" * 32).status_code == 404


async def test_attachments_of_a_query_from_poe_are_uploaded_to_poe(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, ATTACH, access_key=ACCESS_KEY)
    before = set(service.upstream.record.uploads)
    events = await bot_events(service, name, ACCESS_KEY, "x")
    files = [data for event, data in events if event == "file"]
    assert [f["name"] for f in files] == ["report.csv", "pixel.png"]
    assert all(f["url"].startswith(service.upstream.root + "/uploaded/") for f in files)
    uploads = {u.name: u.contents for k, u in service.upstream.record.uploads.items()}
    assert len(service.upstream.record.uploads) == len(before) + 2
    assert uploads["report.csv"] == b"a,b,c\n1,2,3"
    assert httpx.get(files[0]["url"]).content == b"a,b,c\n1,2,3"


async def test_bot_error_ends_with_its_message_and_no_retry(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, BOT_ERROR)
    events = await bot_events(service, name, creator.token, "Tell me about dogs")
    assert error_of(events) == {"allow_retry": False, "text": "I only talk about cats!"}
    assert text_of(events) == "partial"
    assert text_of(await bot_events(service, name, creator.token, "cats!")) == "partial"
    with pytest.raises(fp.client.BotErrorNoRetry, match="I only talk about cats!"):
        await fp.get_final_response(
            query_request("dogs"), name, api_key=creator.token, base_url=service.bots_base
        )
    statuses = sorted(r["status"] for r in service.runs(creator, name))
    assert statuses == ["error", "error", "ok"]


async def test_an_exception_shows_the_scripts_own_traceback(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, EXCEPTION)
    error = error_of(await bot_events(service, name, creator.token, "x"))
    text = error["text"]
    assert error["allow_retry"] is False
    assert text.startswith("Traceback (most recent call last):")
    assert 'File "<script>", line 6, in <module>' in text
    assert 'File "<script>", line 3, in divide' in text
    assert text.rstrip().endswith("ZeroDivisionError: division by zero")
    assert ".py" not in text and "sandbox" not in text and "service" not in text


@pytest.mark.parametrize(
    ("source", "names", "statuses"),
    [
        pytest.param(
            "import time\nprint('waiting')\ntime.sleep(60)\n",
            f"time limit of {RUN_TIMEOUT_S} seconds",
            {"timeout"},
            id="time",
        ),
        pytest.param(
            "print('spinning')\nwhile True:\n    pass\n",
            f"CPU time limit of {RUN_CPU_S} seconds",
            {"killed", "error"},
            id="cpu",
        ),
        pytest.param(
            "blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))\n",
            f"memory limit of {RUN_MEMORY_MB} MB",
            {"killed", "error"},
            id="memory",
        ),
        pytest.param(
            "for i in range(20):\n    print('x' * 9999)\n",
            "output limit of 100000 characters",
            {"killed", "error"},
            id="output",
        ),
        pytest.param(
            "for i in range(11):\n    poe.call('Echo', str(i))\n",
            "limit of 10 bot calls",
            {"error"},
            id="bot_calls",
        ),
    ],
)
async def test_each_limit_ends_with_an_error_naming_it(
    service: Service, creator: CreatorInfo, source: str, names: str, statuses: set[str]
) -> None:
    name = service.script(creator, source, access_key=ACCESS_KEY)
    events = await bot_events(service, name, ACCESS_KEY, "x")
    error = error_of(events)
    assert names in error["text"], error
    assert error["allow_retry"] is False
    (run,) = service.runs(creator, name)
    assert run["status"] in statuses and names in run["error"]
    if "output" in names:  # the write past the limit is refused whole
        assert 90_000 < run["chars_out"] == len(text_of(events)) <= 100_000
    if "bot calls" in names:
        assert run["bot_calls"] == 10


TOO_MANY = """
def attach(count):
    with poe.start_message() as msg:
        for i in range(count):
            try:
                msg.attach_file(name=f"f{i}.txt", contents=b"x")
            except poe.BotError as error:
                print(poe.bot_name, "file", i, "refused:", error.message)
                return
"""


async def test_a_response_carries_at_most_20_attachments(
    service: Service, creator: CreatorInfo
) -> None:
    callee = service.script(creator, TOO_MANY + "attach(10)\n")
    caller = service.script(
        creator, TOO_MANY + f'attach(15)\npoe.call("{callee}", "x", output=poe.default_chat)\n'
    )
    events = await bot_events(service, caller, creator.token, "x")
    files = [data for event, data in events if event == "file"]
    assert len(files) == 20  # the nested script's count against its caller's response
    assert f"{callee} file 5 refused: a response may carry at most 20 attachments" in text_of(
        events
    )
