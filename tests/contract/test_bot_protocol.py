"""/bots/{name} speaks Poe protocol 1.2 as fastapi_poe.make_app does: authentication, settings,
report requests, unknown types, and 4xx (not 500) for malformed requests."""

from __future__ import annotations

import fastapi_poe as fp
import httpx
import pytest

from tests.conftest import CreatorInfo, unique_name
from tests.contract.conftest import PROTOCOL, Service, ask, query_request
from tests.upstream import ACCESS_KEY

SETTINGS = {
    "introduction_message": "Welcome to the trivia bot. Please provide me a topic.",
    "allow_attachments": True,
    "expand_text_attachments": True,
    "enable_image_comprehension": True,
    "enable_multi_bot_chat_prompting": True,
}


def post(service: Service, name: str, body: object, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(service.bots_base + name, json=body, headers=headers, timeout=30)


def settings_of(service: Service, name: str, key: str) -> fp.SettingsResponse:
    response = post(service, name, {"version": PROTOCOL, "type": "settings"}, key)
    assert response.status_code == 200, response.text
    return fp.SettingsResponse.model_validate(response.json())


async def test_the_access_key_and_the_creators_tokens_are_accepted(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, 'print("hi")', access_key=ACCESS_KEY)
    assert await ask(service, name, ACCESS_KEY, "x") == "hi"
    assert await ask(service, name, creator.token, "x") == "hi"
    assert await ask(service, name.upper(), ACCESS_KEY, "x") == "hi"  # names ignore case


@pytest.mark.parametrize("key", [None, "wrong-key", ACCESS_KEY[:-1] + "X", "other-creator"])
def test_anything_else_is_401(service: Service, creator: CreatorInfo, key: str | None) -> None:
    name = service.script(creator, 'print("hi")', access_key=ACCESS_KEY)
    if key == "other-creator":
        key = service.creator().token
    body = query_request("x").model_dump(mode="json")
    for request in (body, {"version": PROTOCOL, "type": "settings"}):
        response = post(service, name, request, key)
        assert response.status_code == 401, response.text
        assert "detail" in response.json()


def test_unknown_and_deleted_scripts_are_404(service: Service, creator: CreatorInfo) -> None:
    body = {"version": PROTOCOL, "type": "settings"}
    assert post(service, unique_name(), body, creator.token).status_code == 404
    assert post(service, "not a name!", body, creator.token).status_code == 404
    name = service.script(creator, 'print("hi")')
    assert post(service, name, body, creator.token).status_code == 200
    assert service.api("DELETE", f"/scripts/{name}", creator).status_code == 204
    response = post(service, name, body, creator.token)
    assert response.status_code == 404 and "detail" in response.json()
    assert httpx.get(service.bots_base + name).status_code == 404


def test_settings_are_the_scripts_as_a_settings_response(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, 'poe.call("Echo", poe.query)', settings=SETTINGS)
    settings = settings_of(service, name, creator.token)
    assert settings == fp.SettingsResponse(**SETTINGS, server_bot_dependencies={"Echo": 1})
    plain = service.script(creator, 'print("x")')
    assert settings_of(service, plain, creator.token).server_bot_dependencies == {}


async def test_reports_are_recorded_with_their_run(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, 'print("rate me")', access_key=ACCESS_KEY)
    service.deliberate_reports.add(name)
    request = query_request("hello")
    await fp.get_final_response(request, name, api_key=ACCESS_KEY, base_url=service.bots_base)
    ids = {"message_id": request.message_id, "user_id": "u1", "conversation_id": "c1"}
    sent = [
        {"type": "report_feedback", **ids, "feedback_type": "like"},
        {"type": "report_reaction", **ids, "reaction": "heart"},
        {"type": "report_error", "message": "bad", "metadata": {"message_id": request.message_id}},
        {"type": "report_error", "message": "orphan", "metadata": {}},
    ]
    for body in sent:
        response = post(service, name, {"version": PROTOCOL, **body}, ACCESS_KEY)
        assert response.status_code == 200 and response.json() == {}
    (run,) = service.runs(creator, name)
    reports = service.run(creator, name, run["id"])["reports"]
    assert [r["kind"] for r in reports] == ["feedback", "reaction", "error"]
    assert reports[0]["data"]["feedback_type"] == "like" and reports[0]["run_id"] == run["id"]
    assert reports[1]["data"]["reaction"] == "heart"
    listed = service.api("GET", f"/scripts/{name}/reports?limit=3", creator).json()
    assert listed["total"] == 4 and len(listed["items"]) == 3
    newest = listed["items"][0]
    assert newest["kind"] == "error" and newest["run_id"] is None
    assert newest["data"] == {"message": "orphan", "metadata": {}}


def test_an_unknown_type_is_501(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, 'print("x")')
    response = post(service, name, {"version": PROTOCOL, "type": "dance"}, creator.token)
    assert response.status_code == 501
    assert response.json() == {"detail": "Unsupported request type"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b'{"version": "1.2"}', 400),
        (b'{"version": "1.2", "type": 7}', 400),
        (b'{"version": "1.2", "type": "query"}', 422),
        (b'{"version": "1.2", "type": "query", "query": "x", "user_id": 1}', 422),
        (b'{"version": "1.2", "type": "report_feedback", "message_id": "m"}', 422),
        (b'{"type": "settings"}', 422),
    ],
)
def test_malformed_requests_are_4xx_with_a_detail(
    service: Service, creator: CreatorInfo, body: bytes, status: int
) -> None:
    name = service.script(creator, 'print("x")')
    response = httpx.post(
        service.bots_base + name,
        content=body,
        headers={**creator.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    assert "detail" in response.json()


def test_get_answers_a_page_about_the_bot(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, 'print("x")')
    response = httpx.get(service.bots_base + name)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert name in response.text and service.bots_base + name in response.text
    assert "poe.com/create_bot" in response.text
