"""The editor in a real Chromium: CodeMirror over the form's textarea, problems marked as
you type (the check route, the save's own checks), Ctrl+S, Ctrl+Enter into the console, the
caret where the click was, and the plain form without JavaScript."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.conftest import unique_name
from tests.web.browsing import create, editor_text, last_reply, set_source, sign_up


def _problem_lines(page: Page) -> list[int]:
    """The 1-based lines that carry a problem mark in the editor."""
    return page.evaluate(
        """() => {
            const lines = Array.from(document.querySelectorAll('[data-editor] .cm-line'));
            return lines.flatMap((line, index) =>
                line.querySelector('.cm-lintRange-error') ? [index + 1] : []);
        }"""
    )


def test_typing_marks_a_compile_problem_at_its_line_and_fixing_it_clears_it(page: Page) -> None:
    sign_up(page)
    page.goto("/new")
    set_source(page, "")
    page.locator("[data-editor] .cm-content").click()
    # Typed as a person would: after ":" Enter indents a level; exec() is refused by the
    # sandbox policy, which a plain Python parser would accept.
    page.keyboard.type("def greet(who):\nreturn exec(who)\n")
    assert "    return exec(who)" in editor_text(page)
    expect(page.locator("[data-editor] .cm-lintRange-error")).to_have_count(1)
    assert _problem_lines(page) == [2]
    page.locator("[data-editor] .cm-lintRange-error").hover()
    expect(page.locator(".cm-tooltip-lint")).to_contain_text("Exec calls are not allowed")

    # The mark follows the text: fixed at line 2, a new problem at line 3.
    page.keyboard.press("Control+a")
    page.keyboard.type("x = 1\ny = 2\nz = x +\nprint(x, y)\n")
    third = page.locator("[data-editor] .cm-line").nth(2)
    expect(third.locator(".cm-lintRange-error")).to_have_count(1)
    assert _problem_lines(page) == [3]

    set_source(page, 'def greet(who):\n    return who.upper()\nprint(greet("x"))\n')
    expect(page.locator("[data-editor] .cm-lintRange-error")).to_have_count(0)
    # Highlighting: keywords and strings are coloured by the Python grammar.
    assert page.locator("[data-editor] .cm-line").first.locator("span").count() >= 2


def test_check_route_answers_the_problems_a_save_refuses(page: Page) -> None:
    sign_up(page)
    page.goto("/new")
    token = page.locator("input[name=csrf_token]").first.input_value()
    source = 'import os.path\nif __name__ == "__main__":\n    print(1)\nx = 1 +\n'
    checked = page.request.post(
        "/check", multipart={"source": source, "name": ""}, headers={"X-CSRF-Token": token}
    ).json()
    page.fill("#name", unique_name())
    set_source(page, source)
    page.click("text=Create script")
    shown = page.locator(".problems li").evaluate_all(
        "items => items.map(i => [Number(i.dataset.line), Number(i.dataset.col)])"
    )
    assert [[p["line"], p["col"]] for p in checked["problems"]] == shown
    assert shown


def test_autocomplete_offers_the_poe_namespace_and_importable_modules(page: Page) -> None:
    sign_up(page)
    page.goto("/new")
    set_source(page, "")
    page.locator("[data-editor] .cm-content").click()
    page.keyboard.type("poe.sta")
    options = page.locator(".cm-tooltip-autocomplete li")
    expect(options.first).to_contain_text("start_message")
    page.wait_for_timeout(200)  # CodeMirror ignores Enter for 75 ms after the list opens
    page.keyboard.press("Enter")
    assert editor_text(page) == "poe.start_message"
    page.keyboard.type("()\nimport date")
    expect(options.filter(has_text="datetime")).to_have_count(1)
    assert "dateutil" in options.all_inner_texts()  # a preinstalled package
    page.keyboard.press("Escape")
    page.keyboard.type("\nimport subpro")
    page.wait_for_timeout(300)  # a refused module is never offered
    assert (
        "subprocess" not in (page.locator(".cm-tooltip-autocomplete").all_inner_texts() or [""])[0]
    )


def test_ctrl_s_saves_and_leaving_unsaved_changes_asks_first(page: Page) -> None:
    sign_up(page)
    name = create(page, 'print("one")\n')
    page.goto(f"/scripts/{name}/edit")
    set_source(page, 'print("two")\n')
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    page.click("text=Cancel")  # leaving with unsaved changes: the browser asks
    assert dialogs == ["beforeunload"]
    assert page.url.endswith("/edit")

    page.locator("[data-editor] .cm-content").click()
    page.keyboard.press("Control+s")
    expect(page.locator(".notice")).to_have_text("Saved as version 2.")
    expect(page.locator("pre.numbered")).to_contain_text('print("two")')


def test_ctrl_enter_runs_the_unsaved_text_in_the_console(page: Page) -> None:
    sign_up(page)
    name = create(page, 'print("saved")\n')
    page.goto(f"/scripts/{name}/edit")
    set_source(page, 'print("unsaved " + poe.query.text)\n')
    page.fill("#console-query", "draft")
    page.locator("[data-editor] .cm-content").click()
    page.keyboard.press("Control+Enter")
    expect(last_reply(page)).to_contain_text("unsaved draft")
    expect(page.locator("[data-console-status]")).to_contain_text("Done in")
    page.goto(f"/scripts/{name}")  # nothing was saved
    expect(page.locator("pre.numbered")).to_contain_text('print("saved")')


def test_the_caret_lands_where_the_text_was_clicked(page: Page) -> None:
    sign_up(page)
    page.goto("/new")
    line = "x = " + repr("abcdefghij" * 8) + "  # the end"
    set_source(page, f"{line}\nprint(x)\n")
    for column in (5, 40, 68, 80):
        # The screen position of the character at ``column`` (0-based), from the text as
        # drawn, not from the editor's own bookkeeping.
        box = page.evaluate(
            """(column) => {
                const line = document.querySelector('[data-editor] .cm-line');
                const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
                let node, seen = 0;
                while ((node = walker.nextNode())) {
                    if (seen + node.length > column) break;
                    seen += node.length;
                }
                const range = document.createRange();
                range.setStart(node, column - seen);
                range.setEnd(node, column - seen + 1);
                const r = range.getBoundingClientRect();
                return {x: r.left + 1, y: r.top + r.height / 2};
            }""",
            column,
        )
        page.mouse.click(box["x"], box["y"])
        head = page.evaluate(
            "document.querySelector('[data-editor]').editorView.state.selection.main.head"
        )
        assert head == column


def test_without_javascript_the_plain_form_creates_and_edits(no_js_page: Page) -> None:
    page = no_js_page
    sign_up(page)
    name = unique_name()
    page.goto("/new")
    expect(page.locator("#source")).to_be_visible()  # the plain textarea
    assert page.locator(".cm-editor").count() == 0
    page.fill("#name", name)
    page.fill("#source", "print(poe.query.text\n")
    page.click("text=Create script")
    expect(page.locator(".problems li")).to_have_count(1)
    page.fill("#source", "print(poe.query.text)\n")
    page.click("text=Create script")
    expect(page.locator("h1")).to_have_text(name)
    page.goto(f"/scripts/{name}/edit")
    page.fill("#source", 'print("v2", poe.query.text)\n')
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".notice")).to_have_text("Saved as version 2.")
    # The console posts too, and shows the finished run's page.
    page.fill("#console-query", "plain")
    page.click("form[data-console] [data-run]")
    expect(page.locator(".response")).to_contain_text("v2 plain")
