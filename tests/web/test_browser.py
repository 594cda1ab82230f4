"""The console in a real headless Chromium against a real ``scriptbots serve``: a chat whose
earlier turns reach the script, attachments and parameters sent, markdown rendered by
markdown-it and sanitised, hostile output kept inert, the run list refreshed in place."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.browsing import create, last_reply, run_console, sign_up

# Prints the conversation the run was given, one "role: text" per message.
ECHO_CONVERSATION = """\
seen = [f"{m.role}: {m.text}" for m in poe.default_chat.messages]
print(" | ".join(seen))
"""

# Printed by a script: every way bot output could try to run code on the console's page.
HOSTILE_SOURCE = """\
print('<img src=x onerror="window.pwned=1">')
print('<script>window.pwned=2</script>')
print('[click me](javascript:window.pwned=3) and ![x](javascript:window.pwned=4)')
print('<a href="javascript:window.pwned=5">raw link</a> **still bold**')
print('`<b>code</b>` [ok](https://example.com/?a=1&b="2")')
print('[data](data:text/html,<script>alert(1)</script>) <svg onload=alert(1)>')
print('[x](https://a.b/" onmouseover="alert(1))')
"""

MARKDOWN_SOURCE = '''\
print("""| fruit | count |
|:------|------:|
| apple | 3 |
| pear  | 5 |

- [x] done
- [ ] to do

**bold *and italic*** &copy; 2026

```python
print("hi")
```
""")
'''

ONE_PIXEL_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0g"
    "AAAABJRU5ErkJggg=="
)
ATTACHMENT_SOURCE = f"""\
import base64
message = poe.start_message()
message.write("A picture:\\n")
picture = base64.b64decode("{ONE_PIXEL_PNG}")
message.attach_file("dot.png", picture, "image/png", is_inline=True)
message.attach_file("notes.txt", b"hello", "text/plain")
"""

READ_ATTACHMENT = """\
for attachment in poe.query.attachments:
    print(f"{attachment.name}: {attachment.get_contents().decode()}")
"""

PARAMETERS_SOURCE = """\
import fastapi_poe as fp
poe.update_settings(fp.SettingsResponse(parameter_controls=fp.ParameterControls(
    api_version="2",
    sections=[fp.Section(name="Style", controls=[
        fp.DropDown(label="Tone", parameter_name="tone", default_value="calm",
                    options=[fp.ValueNamePair(value="calm", name="Calm"),
                             fp.ValueNamePair(value="loud", name="Loud")]),
        fp.ToggleSwitch(label="Shout", parameter_name="shout", default_value=False),
    ])],
)))
if __name__ == "__main__":
    print(f"tone={poe.query.parameters.get('tone')} shout={poe.query.parameters.get('shout')}")
"""


# The elements past the right edge that no scrolling box around them clips.
OVERFLOWING = """() => Array.from(document.querySelectorAll('body *')).filter(e => {
  if (e.getBoundingClientRect().right <= innerWidth + 1) return false;
  for (let p = e.parentElement; p; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== 'visible') return false;
  }
  return true;
}).slice(0, 5).map(e => `${e.tagName}.${e.className}`)"""


def test_a_two_turn_conversation_sends_the_earlier_turns(page: Page) -> None:
    sign_up(page)
    name = create(page, ECHO_CONVERSATION)
    run_console(page, "first")
    expect(last_reply(page)).to_contain_text("user: first")
    run_console(page, "second")
    expect(last_reply(page)).to_contain_text("user: first | bot: user: first | user: second")
    expect(page.locator("[data-chat] .turn.user")).to_have_count(2)
    # The recent runs list shows both runs without a reload, newest first.
    expect(page.locator("[data-recent-runs] tbody tr")).to_have_count(2)
    page.locator("[data-console-status] a", has_text="Transcript").click()
    expect(page.locator(".response")).to_contain_text("user: first | bot: user: first")
    assert page.url.startswith(page.url.split("/scripts")[0] + f"/scripts/{name}/runs/")

    # A new conversation starts from nothing.
    page.go_back()
    page.reload()
    run_console(page, "again")
    expect(last_reply(page).locator(".reply")).to_have_text("user: again")


def test_markdown_renders_gfm_tables_task_lists_code_and_entities(page: Page) -> None:
    sign_up(page)
    create(page, MARKDOWN_SOURCE)
    run_console(page, "go")
    reply = last_reply(page)
    expect(reply.locator("table th")).to_have_text(["fruit", "count"])
    expect(reply.locator("table tbody tr")).to_have_count(2)
    expect(reply.locator("input[type=checkbox]")).to_have_count(2)
    assert reply.locator("input[type=checkbox]:checked").count() == 1
    assert reply.locator("input[type=checkbox]:not([disabled])").count() == 0
    expect(reply.locator("strong em")).to_have_text("and italic")
    expect(reply.locator("strong")).to_have_text("bold and italic")
    expect(reply).to_contain_text("© 2026")
    expect(reply.locator("pre code")).to_have_text('print("hi")')

    page.locator("[data-console-status] a", has_text="Transcript").click()
    expect(page.locator(".response table td").first).to_have_text("apple")


def test_console_shows_attachments_inline_and_listed(page: Page) -> None:
    sign_up(page)
    create(page, ATTACHMENT_SOURCE)
    run_console(page, "go")
    image = last_reply(page).locator("img")
    expect(image).to_have_attribute("alt", "dot.png")
    assert (image.get_attribute("src") or "").startswith(page.url.split("/scripts")[0] + "/files/")
    page.wait_for_function("() => document.querySelector('.turn.bot img').naturalWidth === 1")
    expect(last_reply(page).locator(".console-files a")).to_have_text("notes.txt")


def test_an_attachment_sent_with_a_message_reaches_the_script(page: Page) -> None:
    sign_up(page)
    create(page, READ_ATTACHMENT, allow_attachments="yes")
    # The server's PUBLIC_URL is loopback, where fetches are refused: the host reads its
    # own files from its store.
    page.set_input_files(
        "#console-files",
        files=[
            {"name": "hello.txt", "mimeType": "text/plain", "buffer": b"hi from a file"},
            {"name": "data.bin", "mimeType": "application/octet-stream", "buffer": b"bin ok"},
        ],
    )
    run_console(page, "read it")
    expect(last_reply(page)).to_contain_text("hello.txt: hi from a file")
    expect(last_reply(page)).to_contain_text("data.bin: bin ok")
    sent = page.locator("[data-chat] .turn.user .sent-files")
    expect(sent).to_have_text("Attached: hello.txt, data.bin")


def test_parameter_controls_are_shown_and_sent(page: Page) -> None:
    sign_up(page)
    create(page, PARAMETERS_SOURCE)
    page.click("summary:has-text('Parameters')")
    page.get_by_label("Tone").select_option("loud")
    page.get_by_label("Shout").check()
    run_console(page, "go")
    expect(last_reply(page)).to_contain_text("tone=loud shout=True")


def test_stop_ends_a_running_script(page: Page) -> None:
    sign_up(page)
    create(page, 'import time\nprint("started")\ntime.sleep(60)\nprint("never")\n')
    stop = page.locator("form[data-console] [data-stop]")
    expect(stop).to_be_hidden()  # only while a run goes
    page.fill("#console-query", "go")
    page.click("form[data-console] [data-run]")
    expect(last_reply(page)).to_contain_text("started")
    expect(page.locator("[data-console-status]")).to_contain_text("Running…")
    page.click("form[data-console] [data-stop]")
    expect(page.locator("[data-console-status]")).to_contain_text("Stopped after")
    expect(last_reply(page)).not_to_contain_text("never")
    expect(stop).to_be_hidden()


def test_hostile_output_is_shown_as_text_and_never_runs(page: Page) -> None:
    sign_up(page)
    create(page, HOSTILE_SOURCE)
    run_console(page, "go")
    output = last_reply(page).locator(".reply")
    expect(output).to_contain_text('<img src=x onerror="window.pwned=1">')
    expect(output).to_contain_text("<script>window.pwned=2</script>")
    expect(output.locator("strong")).to_have_text("still bold")
    expect(output.locator("code")).to_have_text("<b>code</b>")
    assert output.locator("img, script, b, svg").count() == 0
    hrefs = output.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert all(h is None or h.startswith("https://") for h in hrefs)
    assert "https://example.com/?a=1&b=%222%22" in hrefs
    assert output.locator("[onmouseover], [onerror], [onload]").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"

    page.locator("[data-console-status] a", has_text="Transcript").click()
    expect(page.locator(".response")).to_contain_text("<script>window.pwned=2</script>")
    assert page.locator(".response img, .response script").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_phone_width_has_no_horizontal_scroll(page: Page) -> None:
    sign_up(page)
    name = create(page, MARKDOWN_SOURCE)
    run_console(page, "go")
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/scripts", f"/scripts/{name}", f"/scripts/{name}/edit", "/new"):
        page.goto(path)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        wide = page.evaluate(OVERFLOWING)
        assert width <= 390, f"{path} is {width} px wide: {wide}"
        if path == f"/scripts/{name}":  # the transcript link of a run is on screen
            link = page.locator("[data-recent-runs] a", has_text="Transcript").first.bounding_box()
            assert link is not None and link["x"] + link["width"] <= 390


def test_the_runs_bot_calls_are_listed(page: Page) -> None:
    sign_up(page)
    callee = create(page, 'print("from the callee")\n')
    create(page, f'poe.call("{callee}", poe.query.text, output=poe.default_chat)\n')
    run_console(page, "go")
    expect(last_reply(page)).to_contain_text("from the callee")
    expect(page.locator("[data-console-call-list] li")).to_have_text([f"Bot {callee}: ok"])
