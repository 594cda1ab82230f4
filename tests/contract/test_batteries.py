"""Scripts in the style of public Poe bots that use the standard library, files and the
preinstalled packages, through the real server and fastapi_poe client (issue 9): a chart
attached inline, an uploaded CSV and XLSX read with pandas, an uploaded photo resized with
Pillow, XLSX and DOCX reports produced and attached, sqlite3 in the scratch directory, time
zones, an event loop; the scratch directory fresh and capped; the warm template for the
scripts that import heavy packages only."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator

import fastapi_poe as fp
import httpx
import openpyxl
import pytest
from PIL import Image

from tests.conftest import CreatorInfo, without_library_mount
from tests.contract.conftest import Service, query_request
from tests.upstream import FILES

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHART = """
import io
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(4, 3))
ax.bar(["Mon", "Tue", "Wed"], [3, 7, 5], color="tab:blue")
ax.set_title("Messages per day")
buffer = io.BytesIO()
fig.savefig(buffer, format="png", dpi=80)
with poe.start_message() as msg:
    msg.write("Here is your chart:\\n\\n")
    msg.attach_file(name="chart.png", contents=buffer.getvalue(), content_type="image/png",
                    is_inline=True)
"""

READ_SPREADSHEETS = """
import pandas as pd

for attachment in poe.query.attachments:
    with open(attachment.name, "wb") as file:  # the scratch directory
        file.write(attachment.get_contents())
    if attachment.name.endswith(".csv"):
        frame = pd.read_csv(attachment.name)
    else:
        frame = pd.read_excel(attachment.name)
    frame["total"] = frame["units"] * frame["price"]
    best = frame.sort_values("total", ascending=False).iloc[0]
    print(f"{attachment.name}: {len(frame)} rows, best {best['item']} {best['total']:.2f}")
"""

RESIZE_PHOTO = """
import io
from PIL import Image, ImageOps

photo = poe.query.attachments[0]
image = Image.open(io.BytesIO(photo.get_contents()))
thumb = ImageOps.grayscale(image.resize((image.width // 4, image.height // 4)))
thumb.save("thumb.png")
with poe.start_message() as msg:
    msg.write(f"{image.size[0]}x{image.size[1]} -> {thumb.size[0]}x{thumb.size[1]}")
    msg.attach_file(name="thumb.png", contents=open("thumb.png", "rb").read(),
                    content_type="image/png")
"""

REPORTS = """
import docx
import openpyxl

workbook = openpyxl.Workbook()
sheet = workbook.active
sheet.title = "Summary"
sheet.append(["item", "count"])
for item, count in [("apples", 3), ("pears", 5)]:
    sheet.append([item, count])
sheet["D1"] = "=SUM(B2:B3)"
workbook.save("summary.xlsx")

document = docx.Document()
document.add_heading("Weekly report", level=1)
paragraph = document.add_paragraph("Apples and pears: ")
paragraph.add_run("8 in all").bold = True
document.save("report.docx")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
with poe.start_message() as msg:
    msg.write("Your reports are attached.")
    msg.attach_file(name="summary.xlsx", contents=open("summary.xlsx", "rb").read(),
                    content_type=XLSX)
    msg.attach_file(name="report.docx", contents=open("report.docx", "rb").read(),
                    content_type=DOCX)
"""

STANDARD_LIBRARY = """
import asyncio, datetime, sqlite3, zoneinfo, json, os, tempfile, zipfile, hashlib

db = sqlite3.connect("notes.db")
db.execute("create table notes (body text)")
db.executemany("insert into notes values (?)", [("first",), ("second",)])
db.commit()
count = db.execute("select count(*) from notes").fetchone()[0]

when = datetime.datetime(2024, 7, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))
tokyo = when.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))

# `async def` is the compiler's to allow (issue 8); the event loop itself works here.
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
both = loop.run_until_complete(asyncio.gather(asyncio.sleep(0, "a"), asyncio.sleep(0.01, "b")))
loop.close()

with tempfile.TemporaryDirectory() as directory:
    with zipfile.ZipFile(os.path.join(directory, "n.zip"), "w") as archive:
        archive.writestr("notes.json", json.dumps({"count": count}))
    size = os.path.getsize(os.path.join(directory, "n.zip")) > 0

print(count, tokyo.strftime("%H:%M %Z"), both, size, os.getcwd(),
      sorted(os.listdir(".")), dict(os.environ))
"""

SCRATCH_STATE = """
import os
before = sorted(os.listdir("."))
open("mark.txt", "w").write("x")
try:
    with open("big.bin", "wb") as file:
        for _ in range(64):
            file.write(b"x" * 2**20)
    print(before, "not capped")
except OSError as exc:
    print(before, "capped", exc.strerror)
"""

HTTP_CLIENTS = """
import requests, httpx
for get in (requests.get, httpx.get):
    try:
        get("https://example.com/", timeout=5)
    except Exception as exc:
        print(type(exc).__name__, "`# poe: privacy_shield=half`" in str(exc))
"""

HELLO = 'print("hello")\n'
PANDAS_HELLO = "import pandas as pd\nprint(pd.Series([1, 2]).sum())\n"


def _csv() -> bytes:
    return b"item,units,price\napples,3,0.5\npears,5,0.8\nplums,2,2.5\n"


def _xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in [("item", "units", "price"), ("figs", 4, 1.25), ("kiwis", 10, 0.2)]:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 200), (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


_XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module", autouse=True)
def served_files() -> Iterator[None]:
    added = {
        "sales.csv": (_csv(), "text/csv"),
        "sales.xlsx": (_xlsx(), _XLSX_TYPE),
        "photo.jpg": (_photo(), "image/jpeg"),
    }
    FILES.update(added)
    yield
    for name in added:
        del FILES[name]


@pytest.fixture
def roomy(roomy_service: Service) -> Service:
    return roomy_service


@pytest.fixture
def creator_here(roomy: Service) -> CreatorInfo:
    return roomy.creator()


async def _parts(
    service: Service, name: str, key: str, message: fp.ProtocolMessage
) -> list[fp.PartialResponse]:
    request = query_request(message)
    return [
        part
        async for part in fp.get_bot_response(
            messages=request.query, bot_name=name, api_key=key, base_url=service.bots_base
        )
    ]


def _text(parts: list[fp.PartialResponse]) -> str:
    return "".join(part.text for part in parts if not part.is_replace_response)


def _files(parts: list[fp.PartialResponse]) -> list[fp.Attachment]:
    return [part.attachment for part in parts if part.attachment is not None]


def _attach(service: Service, *names: str) -> fp.ProtocolMessage:
    root = service.upstream.root
    return fp.ProtocolMessage(
        role="user",
        content="here you are",
        attachments=[
            fp.Attachment(url=f"{root}/files/{n}", content_type=FILES[n][1], name=n) for n in names
        ],
    )


def _fetch(url: str) -> bytes:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


async def test_a_matplotlib_chart_is_attached_inline(
    roomy: Service, creator_here: CreatorInfo
) -> None:
    name = roomy.script(creator_here, CHART)
    parts = await _parts(
        roomy, name, creator_here.token, fp.ProtocolMessage(role="user", content="chart")
    )
    (chart,) = _files(parts)
    assert (chart.name, chart.content_type) == ("chart.png", "image/png")
    assert chart.inline_ref and f"![chart.png][{chart.inline_ref}]" in _text(parts)
    image = Image.open(io.BytesIO(_fetch(chart.url)))
    assert image.size == (320, 240)
    colors = image.convert("RGB").getcolors(maxcolors=100_000) or []
    assert len(colors) > 10  # bars, axes and title were drawn


async def test_pandas_reads_an_uploaded_csv_and_xlsx(
    roomy: Service, creator_here: CreatorInfo
) -> None:
    name = roomy.script(creator_here, READ_SPREADSHEETS, settings={"allow_attachments": True})
    parts = await _parts(roomy, name, creator_here.token, _attach(roomy, "sales.csv", "sales.xlsx"))
    assert _text(parts).split("\n\n") == [
        "sales.csv: 3 rows, best plums 5.00",
        "sales.xlsx: 2 rows, best figs 5.00",
    ]


async def test_pillow_resizes_an_uploaded_photo(roomy: Service, creator_here: CreatorInfo) -> None:
    name = roomy.script(creator_here, RESIZE_PHOTO, settings={"allow_attachments": True})
    parts = await _parts(roomy, name, creator_here.token, _attach(roomy, "photo.jpg"))
    assert _text(parts).startswith("400x200 -> 100x50")
    (thumb,) = _files(parts)
    image = Image.open(io.BytesIO(_fetch(thumb.url)))
    assert (image.size, image.mode) == ((100, 50), "L")


async def test_an_xlsx_and_a_docx_are_produced_and_attached(
    roomy: Service, creator_here: CreatorInfo
) -> None:
    import docx

    name = roomy.script(creator_here, REPORTS)
    parts = await _parts(
        roomy, name, creator_here.token, fp.ProtocolMessage(role="user", content="go")
    )
    xlsx, word = _files(parts)
    assert (xlsx.name, word.name) == ("summary.xlsx", "report.docx")
    sheet = openpyxl.load_workbook(io.BytesIO(_fetch(xlsx.url)))["Summary"]
    assert [[c.value for c in row] for row in sheet.iter_rows(max_col=2)] == [
        ["item", "count"],
        ["apples", 3],
        ["pears", 5],
    ]
    assert sheet["D1"].value == "=SUM(B2:B3)"
    paragraphs = [p.text for p in docx.Document(io.BytesIO(_fetch(word.url))).paragraphs]
    assert paragraphs == ["Weekly report", "Apples and pears: 8 in all"]


async def test_sqlite_zoneinfo_asyncio_and_archives_in_the_scratch_directory(
    roomy: Service, creator_here: CreatorInfo
) -> None:
    name = roomy.script(creator_here, STANDARD_LIBRARY)
    text = _text(
        await _parts(roomy, name, creator_here.token, fp.ProtocolMessage(role="user", content="x"))
    )
    assert without_library_mount(text) == "2 21:00 JST ['a', 'b'] True /tmp ['notes.db'] {}"


async def test_the_scratch_directory_is_fresh_each_run_and_capped(
    roomy: Service, creator_here: CreatorInfo
) -> None:
    name = roomy.script(creator_here, SCRATCH_STATE)
    message = fp.ProtocolMessage(role="user", content="x")
    for _ in range(2):  # the second run does not see the first one's files
        text = _text(await _parts(roomy, name, creator_here.token, message))
        assert without_library_mount(text) == "[] capped No space left on device"  # 16 MB disk


async def test_http_clients_import_and_fail_saying_there_is_no_network(
    roomy: Service, creator_here: CreatorInfo
) -> None:
    name = roomy.script(creator_here, HTTP_CLIENTS)
    message = fp.ProtocolMessage(role="user", content="x")
    text = _text(await _parts(roomy, name, creator_here.token, message))
    assert text.split("\n\n") == ["ConnectionError True", "ConnectError True"]


def _template_runs(service: Service) -> dict[str, int]:
    text = httpx.get(service.base + "/metrics", timeout=10).text
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r'scriptbots_sandbox_runs_total\{template="(\w+)"\} (\d+)', text)
    }


async def test_the_warm_template_serves_only_scripts_that_import_heavy_packages(
    roomy: Service, creator_here: CreatorInfo
) -> None:
    heavy = roomy.script(creator_here, PANDAS_HELLO)
    light = roomy.script(creator_here, HELLO)
    message = fp.ProtocolMessage(role="user", content="x")
    deadline = time.monotonic() + 90  # the warm template starts after the lean one
    while True:
        before = _template_runs(roomy)
        assert _text(await _parts(roomy, heavy, creator_here.token, message)) == "3"
        after = _template_runs(roomy)
        if after["warm"] == before["warm"] + 1:
            break
        assert after["lean"] == before["lean"] + 1  # until it is up, the lean one serves
        assert time.monotonic() < deadline, "the warm template never served a run"
    before = _template_runs(roomy)
    assert _text(await _parts(roomy, light, creator_here.token, message)) == "hello"
    after = _template_runs(roomy)
    assert (after["lean"], after["warm"]) == (before["lean"] + 1, before["warm"])
