"""The script pages: list, new/edit form (editor or .py upload), versions with diff and
restore, deletion, tenancy, and untrusted text kept inert (SPEC §4, §6)."""

from __future__ import annotations

import re
import uuid
from html import unescape

import httpx
import pytest
from sqlalchemy import select

from service.store.db import Database
from service.store.tables import Run, RunEvent, Script, utcnow
from tests.conftest import unique_name
from tests.web.conftest import MakeVisitor, Visitor

KEY = "0123456789abcdef0123456789ABCDEF"
HOSTILE = "<script>window.pwned=1</script><img src=x onerror=alert(1)>"


def _script(db: Database, name: str) -> Script:
    with db.transaction() as session:
        script = session.scalar(select(Script).where(Script.name == name))
        assert script is not None
        return script


def _textarea(html: str, field: str) -> str:
    found = re.search(rf'<textarea id="{field}"[^>]*>(.*?)</textarea>', html, re.DOTALL)
    assert found is not None, field
    return unescape(found.group(1))


# -- list and script page -----------------------------------------------------------------


async def test_my_scripts_lists_bot_urls_and_last_run(visitor: Visitor, db: Database) -> None:
    first = await visitor.create_script()
    second = await visitor.create_script()
    with db.transaction() as session:
        script = session.scalar(select(Script).where(Script.name == first))
        assert script is not None
        session.add(Run(script_id=script.id, version=1, trigger="poe", status="timeout"))
    page = await visitor.get("/scripts")
    assert page.status_code == 200
    for name in (first, second):
        assert f"http://127.0.0.1:8000/bots/{name}" in page.text
    row = page.text[page.text.index(f">{first}<") :]
    assert "status-timeout" in row[: row.index("</li>")]
    row = page.text[page.text.index(f">{second}<") :]
    assert "never" in row[: row.index("</li>")]


async def test_script_page_shows_connect_steps_and_key_status(visitor: Visitor) -> None:
    name = await visitor.create_script(poe_access_key=KEY)
    page = await visitor.get(f"/scripts/{name}")
    assert page.status_code == 200
    assert f'value="http://127.0.0.1:8000/bots/{name}"' in page.text
    assert "Server bot" in page.text and "Access key" in page.text
    assert 'status-ok">set' in page.text
    assert KEY not in page.text
    assert 'action="/scripts/' + name + '/console"' in page.text


async def test_names_resolve_in_any_case(visitor: Visitor) -> None:
    name = await visitor.create_script()
    assert (await visitor.get(f"/scripts/{name.upper()}")).status_code == 200


# -- new and edit -------------------------------------------------------------------------


async def test_create_with_settings_through_the_form(visitor: Visitor, db: Database) -> None:
    name = unique_name()
    await visitor.get("/new")
    response = await visitor.post(
        "/scripts",
        {
            "name": name,
            "source": 'poe.call("GPT-4o", poe.query)\n',
            "introduction_message": "Hi there",
            "allow_attachments": "yes",
            "expand_text_attachments": "no",
            "enable_image_comprehension": "",
            "server_bot_dependencies": '{"Claude-3": 2}',
            "parameter_controls": "",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/scripts/{name}"
    stored = _script(db, name).settings
    assert stored == {
        "introduction_message": "Hi there",
        "allow_attachments": True,
        "expand_text_attachments": False,
        "server_bot_dependencies": {"Claude-3": 2},
    }
    edit = await visitor.get(f"/scripts/{name}/edit")
    assert _textarea(edit.text, "introduction_message") == "Hi there"
    assert '<option value="yes" selected>' in edit.text


async def test_create_from_an_uploaded_py_file(visitor: Visitor, db: Database) -> None:
    name = unique_name()
    source = '# uploaded\r\nprint("from a file")\r\n'
    await visitor.get("/new")
    response = await visitor.post(
        "/scripts",
        {"name": name, "source": "ignored = True\n"},
        files={"source_file": ("bot.py", source.encode(), "text/x-python")},
    )
    assert response.status_code == 303, response.text
    page = await visitor.get(f"/scripts/{name}")
    assert "from a file" in page.text and "ignored" not in page.text
    with db.transaction() as session:
        script = session.scalar(select(Script).where(Script.name == name))
        assert script is not None
    edit = await visitor.get(f"/scripts/{name}/edit")
    assert _textarea(edit.text, "source") == '# uploaded\nprint("from a file")\n'


async def test_an_upload_that_is_not_utf8_is_refused(visitor: Visitor) -> None:
    await visitor.get("/new")
    response = await visitor.post(
        "/scripts",
        {"name": unique_name(), "source": "kept = 1\n"},
        files={"source_file": ("bot.py", b"\xff\xfe\x00bad", "text/x-python")},
    )
    assert response.status_code == 422
    assert "not UTF-8" in response.text
    assert _textarea(response.text, "source") == "kept = 1\n"


async def test_compile_errors_are_shown_at_their_lines_and_input_is_kept(
    visitor: Visitor, db: Database
) -> None:
    name = unique_name()
    source = 'print("fine")\nx = _getattr_\ny = 2\n'
    await visitor.get("/new")
    response = await visitor.post(
        "/scripts",
        {
            "name": name,
            "source": source,
            "introduction_message": "kept intro",
            "poe_access_key": KEY,
            "parameter_controls": "",
        },
    )
    assert response.status_code == 422
    assert "Nothing was saved" in response.text
    assert re.findall(r'<li data-line="(\d+)" data-col="(\d+)">', response.text) == [("2", "5")]
    assert "Line 2, column 5" in response.text and "_getattr_" in response.text
    assert _textarea(response.text, "source") == source
    assert _textarea(response.text, "introduction_message") == "kept intro"
    assert f'value="{name}"' in response.text
    assert KEY not in response.text  # never echoed, even to its owner
    assert "type it again" in response.text
    with db.transaction() as session:
        assert session.scalar(select(Script).where(Script.name == name)) is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "1-bad name", "3 to 40 letters"),
        ("poe_access_key", "too-short", "exactly 32"),
        ("server_bot_dependencies", "{not json", "not valid JSON"),
        ("server_bot_dependencies", '{"GPT-4o": "many"}', "valid integer"),
        ("parameter_controls", '{"sections": 3}', "parameter_controls"),
        ("parameter_controls", "[]", "valid dictionary"),
        ("parameter_controls", "[" * 100_000 + "]" * 100_000, "nested too deeply"),  # was 500
    ],
)
async def test_invalid_fields_are_refused_as_the_api_refuses_them(
    visitor: Visitor, field: str, value: str, message: str
) -> None:
    form = {"name": unique_name(), "source": "x = 1\n", field: value}
    await visitor.get("/new")
    response = await visitor.post("/scripts", form)
    assert response.status_code == 422
    assert message in unescape(response.text)
    if field in ("server_bot_dependencies", "parameter_controls"):
        assert _textarea(response.text, field) == value
        assert '<details class="field settings" open>' in response.text


async def test_a_taken_name_answers_409_with_the_form(
    visitor: Visitor, make_visitor: MakeVisitor
) -> None:
    name = await visitor.create_script()
    other = await make_visitor()
    await other.signup()
    await other.get("/new")
    response = await other.post("/scripts", {"name": name.upper(), "source": "x = 1\n"})
    assert response.status_code == 409
    assert "already taken" in unescape(response.text)
    assert _textarea(response.text, "source") == "x = 1\n"


async def test_edit_makes_a_version_only_when_the_source_changes(
    visitor: Visitor, db: Database
) -> None:
    name = await visitor.create_script("x = 1\n")
    await visitor.get(f"/scripts/{name}/edit")
    response = await visitor.post(f"/scripts/{name}/edit", {"source": "x = 1\n"})
    assert response.status_code == 303
    assert "no new version" in (await visitor.get(response.headers["location"])).text
    await visitor.post(f"/scripts/{name}/edit", {"source": "x = 2\n"})
    assert "Saved as version 2" in (await visitor.get(f"/scripts/{name}")).text
    assert _script(db, name).current_version == 2


async def test_edit_keeps_settings_the_form_does_not_show(
    visitor: Visitor, db: Database, client: httpx.AsyncClient
) -> None:
    name = await visitor.create_script()
    with db.transaction() as session:
        script = session.scalar(select(Script).where(Script.name == name))
        assert script is not None
        script.settings = {"custom_rate_card": "1 point", "introduction_message": "old"}
    await visitor.get(f"/scripts/{name}/edit")
    await visitor.post(f"/scripts/{name}/edit", {"source": "x = 1\n", "introduction_message": ""})
    assert _script(db, name).settings == {"custom_rate_card": "1 point"}


async def test_access_key_is_write_only_and_can_be_cleared(visitor: Visitor, db: Database) -> None:
    name = await visitor.create_script()
    await visitor.get(f"/scripts/{name}/edit")
    response = await visitor.post(
        f"/scripts/{name}/edit", {"source": "x = 1\n", "poe_access_key": KEY}
    )
    assert response.status_code == 303
    assert _script(db, name).access_key_encrypted is not None
    for path in (f"/scripts/{name}", f"/scripts/{name}/edit", "/scripts"):
        page = await visitor.get(path)
        assert KEY not in page.text
    edit = await visitor.get(f"/scripts/{name}/edit")
    assert "An access key is stored" in edit.text
    # Saving without a key keeps it; the checkbox removes it.
    await visitor.post(f"/scripts/{name}/edit", {"source": "x = 1\n"})
    assert _script(db, name).access_key_encrypted is not None
    await visitor.post(f"/scripts/{name}/edit", {"source": "x = 1\n", "clear_access_key": "yes"})
    assert _script(db, name).access_key_encrypted is None
    assert "No access key is stored" in (await visitor.get(f"/scripts/{name}/edit")).text


async def test_failed_edit_changes_nothing(visitor: Visitor, db: Database) -> None:
    name = await visitor.create_script("x = 1\n")
    await visitor.get(f"/scripts/{name}/edit")
    response = await visitor.post(
        f"/scripts/{name}/edit",
        {"source": "x = (\n", "poe_access_key": KEY, "introduction_message": "new"},
    )
    assert response.status_code == 422
    script = _script(db, name)
    assert script.current_version == 1
    assert script.access_key_encrypted is None
    assert script.settings == {}


# -- versions, restore, delete ------------------------------------------------------------


async def test_versions_diff_and_restore(visitor: Visitor, db: Database) -> None:
    name = await visitor.create_script("a = 1\nb = 2\n")
    await visitor.get(f"/scripts/{name}/edit")
    await visitor.post(f"/scripts/{name}/edit", {"source": "a = 1\nb = 3\nc = '<b>'\n"})
    diff = await visitor.get(f"/scripts/{name}/versions/2")
    assert diff.status_code == 200
    rows = [
        (kind, unescape(re.sub(r"<[^>]+>", "", html)))  # the text of highlighted lines
        for kind, html in re.findall(r'<tr class="(removed|added)">(.*?)</tr>', diff.text, re.S)
    ]
    assert [(kind, text.split()[-3:]) for kind, text in rows] == [  # after the sign
        ("removed", ["\u2212b", "=", "2"]),  # U+2212, the minus sign
        ("added", ["+b", "=", "3"]),
        ("added", ["+c", "=", "'<b>'"]),
    ]
    assert "&lt;b&gt;" in diff.text and "'<b>'" not in diff.text
    against = await visitor.get(f"/scripts/{name}/versions/1?against=2")
    assert "Changes from version 2" in against.text
    response = await visitor.post(f"/scripts/{name}/versions/1/restore")
    assert response.status_code == 303
    page = await visitor.get(response.headers["location"])
    assert "Version 1 restored as version 3" in page.text
    script = _script(db, name)
    assert script.current_version == 3
    edit = await visitor.get(f"/scripts/{name}/edit")
    assert _textarea(edit.text, "source") == "a = 1\nb = 2\n"


async def test_unknown_versions_answer_404_pages(visitor: Visitor) -> None:
    name = await visitor.create_script()
    for path in (
        f"/scripts/{name}/versions/9",
        f"/scripts/{name}/versions/0",
        f"/scripts/{name}/versions/99999999999999999999",
        f"/scripts/{name}/versions/1?against=7",
    ):
        response = await visitor.get(path)
        assert response.status_code in (404, 422), path
        assert "text/html" in response.headers["content-type"]
    response = await visitor.post(f"/scripts/{name}/versions/5/restore")
    assert response.status_code == 404


async def test_delete_asks_first_then_deletes(visitor: Visitor, db: Database) -> None:
    name = await visitor.create_script()
    confirm = await visitor.get(f"/scripts/{name}/delete")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    response = await visitor.post(f"/scripts/{name}/delete")
    assert response.status_code == 303
    assert f"Script {name} is deleted" in (await visitor.get("/scripts")).text
    with db.transaction() as session:
        assert session.scalar(select(Script).where(Script.name == name)) is None
    assert (await visitor.get(f"/scripts/{name}")).status_code == 404


# -- tenancy ------------------------------------------------------------------------------


async def test_another_creators_scripts_are_404_everywhere(
    visitor: Visitor, make_visitor: MakeVisitor, db: Database
) -> None:
    name = await visitor.create_script()
    with db.transaction() as session:
        script = session.scalar(select(Script).where(Script.name == name))
        assert script is not None
        run = Run(script_id=script.id, version=1, trigger="poe", status="ok")
        session.add(run)
        session.flush()
        run_id = run.id
    intruder = await make_visitor()
    await intruder.signup()
    await intruder.get("/scripts")  # shows (and so clears) the welcome notice
    missing = await intruder.get(f"/scripts/{unique_name()}")
    assert "not yours" in missing.text
    for path in (
        f"/scripts/{name}",
        f"/scripts/{name}/edit",
        f"/scripts/{name}/versions/1",
        f"/scripts/{name}/delete",
        f"/scripts/{name}/runs",
        f"/scripts/{name}/runs/{run_id}",
        f"/scripts/{name}/runs/{run_id}/calls",
        f"/scripts/{name}/recent-runs",
    ):
        response = await intruder.get(path)
        assert response.status_code == 404, path
        assert name not in response.text
        # The same page as for no script at all (but for the page's own style nonce).
        assert _NONCE.sub("", response.text) == _NONCE.sub("", missing.text)
    for path, form in [
        (f"/scripts/{name}/edit", {"source": "x = 666\n"}),
        (f"/scripts/{name}/versions/1/restore", {}),
        (f"/scripts/{name}/delete", {}),
        (f"/scripts/{name}/console", {"query": "hi"}),
    ]:
        response = await intruder.post(path, form)
        assert response.status_code == 404, path
    script = _script(db, name)
    assert script.current_version == 1
    assert name not in (await intruder.get("/scripts")).text


_NONCE = re.compile(r'<meta name="style-nonce" content="([^"]+)">')


# -- untrusted text -----------------------------------------------------------------------


async def test_hostile_text_is_escaped_everywhere(visitor: Visitor, db: Database) -> None:
    source = f"# {HOSTILE}\nx = '{HOSTILE}'\n"
    name = await visitor.create_script(source, introduction_message=HOSTILE)
    await visitor.get(f"/scripts/{name}/edit")
    await visitor.post(f"/scripts/{name}/edit", {"source": source + "y = 1\n"})
    with db.transaction() as session:
        script = session.scalar(select(Script).where(Script.name == name))
        assert script is not None
        run = Run(script_id=script.id, version=2, trigger="console", status="error", error=HOSTILE)
        session.add(run)
        session.flush()
        events = [
            ("text", {"text": HOSTILE}),
            ("file", {"url": "javascript:alert(1)", "name": HOSTILE, "content_type": "image/png"}),
            (
                "file",
                {"url": "https://cdn.example/a.png", "name": HOSTILE, "content_type": "image/png"},
            ),
            ("error", {"text": HOSTILE, "allow_retry": False}),
            ("done", {}),
        ]
        session.add_all(
            RunEvent(run_id=run.id, seq=seq, type=kind, data=data)
            for seq, (kind, data) in enumerate(events)
        )
        run_id = run.id
    pages = [
        f"/scripts/{name}",
        f"/scripts/{name}/edit",
        f"/scripts/{name}/versions/2",
        f"/scripts/{name}/runs",
        f"/scripts/{name}/runs/{run_id}",
    ]
    for path in pages:
        page = await visitor.get(path)
        assert page.status_code == 200, path
        assert "<script>window.pwned" not in page.text, path
        assert "<img src=x" not in page.text, path
        assert not re.search(r"(href|src)=[\"']?javascript:", page.text), path
    run_page = await visitor.get(f"/scripts/{name}/runs/{run_id}")
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in run_page.text
    assert 'src="https://cdn.example/a.png"' in run_page.text
    # Invalid names never get stored, but are echoed (escaped) in the refusal.
    await visitor.get("/new")
    response = await visitor.post("/scripts", {"name": HOSTILE, "source": "x = 1\n"})
    assert response.status_code == 422
    assert "<script>window.pwned" not in response.text


async def test_pages_carry_a_strict_content_security_policy(visitor: Visitor) -> None:
    nonces = set()
    for path in ("/scripts", "/new", "/signup"):
        response = await visitor.get(path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        # <style> elements (the editor's) only with this response's nonce, given to the page.
        found = _NONCE.search(response.text)
        assert found is not None
        assert f"style-src 'self' 'nonce-{found.group(1)}';" in policy
        nonces.add(found.group(1))
    assert len(nonces) == 3


async def test_run_pages_show_the_transcript(visitor: Visitor, db: Database) -> None:
    name = await visitor.create_script()
    run_id = uuid.uuid4()
    with db.transaction() as session:
        script = session.scalar(select(Script).where(Script.name == name))
        assert script is not None
        session.add(
            Run(
                id=run_id,
                script_id=script.id,
                version=1,
                trigger="console",
                status="ok",
                started_at=utcnow(),
                duration_ms=42,
                chars_out=11,
            )
        )
        session.flush()
        for seq, (kind, data) in enumerate(
            [
                ("meta", {"content_type": "text/markdown"}),
                ("text", {"text": "first"}),
                ("replace_response", {"text": "Hello"}),
                ("text", {"text": " **world**"}),
                ("done", {}),
            ]
        ):
            session.add(RunEvent(run_id=run_id, seq=seq, type=kind, data=data))
    listing = await visitor.get(f"/scripts/{name}/runs")
    assert f"/scripts/{name}/runs/{run_id}" in listing.text
    page = await visitor.get(f"/scripts/{name}/runs/{run_id}")
    assert "Hello **world**" in page.text
    assert "5 events" in page.text and "42 ms" in page.text
    assert (await visitor.get(f"/scripts/{name}/runs/not-a-uuid")).status_code == 404
    assert (await visitor.get(f"/scripts/{name}/runs/{uuid.uuid4()}")).status_code == 404
