"""The test console of the script page: the same run as the REST console, with a session and
a CSRF token instead of an API token; live SSE with JavaScript, the run's page without."""

from __future__ import annotations

import json
import re

from tests.web.conftest import MakeVisitor, Visitor

SOURCE = 'print("Hello **" + poe.query.text + "**")\nprint("<script>window.pwned=1</script>")\n'


def _events(body: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in re.split(r"\r?\n\r?\n", body.strip()):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        if "event" in fields:
            events.append((fields["event"], json.loads(fields.get("data", "{}"))))
    return events


async def test_console_streams_poe_events_with_the_run_id(visitor: Visitor) -> None:
    name = await visitor.create_script(SOURCE)
    await visitor.get(f"/scripts/{name}")
    response = await visitor.post(
        f"/scripts/{name}/console",
        {"query": "you"},
        headers={"Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert events[0][0] == "meta" and events[-1][0] == "done"
    text = "".join(str(data.get("text", "")) for kind, data in events if kind == "text")
    assert "Hello **you**" in text
    run_id = response.headers["x-run-id"]
    page = await visitor.get(f"/scripts/{name}/runs/{run_id}")
    assert page.status_code == 200
    assert "Hello **you**" in page.text
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page.text
    assert "<script>window.pwned" not in page.text
    listed = await visitor.get(f"/scripts/{name}")
    assert f"/runs/{run_id}" in listed.text and "status-ok" in listed.text


async def test_console_without_javascript_shows_the_finished_run(visitor: Visitor) -> None:
    name = await visitor.create_script(SOURCE)
    await visitor.get(f"/scripts/{name}")
    response = await visitor.post(f"/scripts/{name}/console", {"query": "plain"})
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(rf"/scripts/{name}/runs/[0-9a-f-]{{36}}", location)
    page = await visitor.get(location)
    assert "Hello **plain**" in page.text
    assert "status-ok" in page.text


async def test_console_errors_for_scripts_answer_json(
    visitor: Visitor, make_visitor: MakeVisitor
) -> None:
    name = await visitor.create_script(SOURCE)
    stranger = await make_visitor()
    await stranger.get("/login")
    response = await stranger.post(
        f"/scripts/{name}/console", {"query": "x"}, headers={"Accept": "text/event-stream"}
    )
    assert response.status_code == 401
    assert response.json()["detail"]
    await visitor.get(f"/scripts/{name}")
    response = await visitor.post(
        f"/scripts/{name}/console",
        {"query": "x" * 100_001},
        headers={"Accept": "text/event-stream"},
    )
    assert response.status_code == 422
    assert "at most" in response.json()["detail"]


async def test_a_refused_edit_keeps_the_console_and_its_parameters(visitor: Visitor) -> None:
    source = (
        "import fastapi_poe as fp\n"
        "poe.update_settings(fp.SettingsResponse(parameter_controls=fp.ParameterControls(\n"
        '    api_version="2", sections=[fp.Section(controls=[\n'
        '        fp.TextField(label="Style", parameter_name="style")])])))\n'
    )
    name = await visitor.create_script(source)
    await visitor.get(f"/scripts/{name}/edit")
    refused = await visitor.post(f"/scripts/{name}/edit", {"source": "x = (\n"})
    assert refused.status_code == 422
    assert "data-console" in refused.text and 'name="param.style"' in refused.text


async def test_a_run_shows_the_query_it_answered(visitor: Visitor) -> None:
    """Issue 13: the runs list and the run's page show what the user sent, escaped."""
    name = await visitor.create_script(SOURCE)
    await visitor.get(f"/scripts/{name}")
    query = "<b>what</b> is " + "very " * 30 + "long"
    response = await visitor.post(
        f"/scripts/{name}/console", {"query": query}, headers={"Accept": "text/event-stream"}
    )
    run_id = response.headers["x-run-id"]
    page = await visitor.get(f"/scripts/{name}/runs/{run_id}")
    assert "&lt;b&gt;what&lt;/b&gt; is very" in page.text and "<b>what</b>" not in page.text
    assert "very long" in page.text  # whole on its page
    listed = await visitor.get(f"/scripts/{name}/runs")
    assert "&lt;b&gt;what&lt;/b&gt; is very" in listed.text
    assert "very long" not in listed.text and "…" in listed.text  # cut in the list
