"""The new/edit script form: what it shows, and its fields → the REST API's own request models.

Nothing here decides what is valid: the form's values become a ``ScriptCreate`` or
``ScriptUpdate`` (the REST bodies, with fastapi_poe's ``SettingsResponse`` inside), and the
route hands that to the REST handlers. Only the form's own syntax is read here (an uploaded
file's encoding, the JSON of two text areas, the three-way choice of a flag). Whatever fails,
the ``ScriptForm`` keeps what the creator typed, except the access key, which is never sent
back to the browser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from sandbox.policy.compiler import MAX_SOURCE_BYTES, Problem
from service.routes.schemas import ScriptCreate, ScriptUpdate

# The Poe flags the form offers; "" keeps Poe's default (the field stays unset).
FLAGS: dict[str, str] = {
    "allow_attachments": "Allow attachments",
    "expand_text_attachments": "Expand text attachments",
    "enable_image_comprehension": "Enable image comprehension",
    "enable_multi_bot_chat_prompting": "Enable multi-bot chat prompting",
}
JSON_FIELDS = ("server_bot_dependencies", "parameter_controls")
FORM_SETTINGS = frozenset({"introduction_message", *FLAGS, *JSON_FIELDS})

Body = TypeVar("Body", ScriptCreate, ScriptUpdate)


@dataclass
class ScriptForm:
    """The form's values as text, its errors by field, and compile problems by line."""

    name: str = ""
    source: str = ""
    introduction_message: str = ""
    flags: dict[str, str] = field(default_factory=lambda: dict.fromkeys(FLAGS, ""))
    json_text: dict[str, str] = field(default_factory=lambda: dict.fromkeys(JSON_FIELDS, ""))
    clear_access_key: bool = False
    access_key_given: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)
    status_code: int = 422  # of the page that shows the errors: 409 for a taken name
    problems: list[Problem] = field(default_factory=list)
    # Settings set through the API that this form does not show: kept as they are on save
    # (filled from the stored script by the route, never from the browser).
    other_settings: dict[str, Any] = field(default_factory=dict)

    def error(self, where: str, message: str) -> None:
        self.errors.setdefault(where, []).append(message)

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.problems)

    @classmethod
    def from_script(cls, source: str, stored: dict[str, Any]) -> ScriptForm:
        """The edit form of a script: its source and the settings its creator set."""
        form = cls(source=source)
        form.introduction_message = str(stored.get("introduction_message") or "")
        for flag in FLAGS:
            value = stored.get(flag)
            form.flags[flag] = "" if value is None else ("yes" if value else "no")
        for name in JSON_FIELDS:
            if stored.get(name) is not None:
                form.json_text[name] = json.dumps(stored[name], indent=2, ensure_ascii=False)
        form.other_settings = {k: v for k, v in stored.items() if k not in FORM_SETTINGS}
        return form

    def problem_lines(self) -> list[tuple[Problem, str]]:
        """Each compile problem with the text of its line, for the list under the editor."""
        lines = self.source.split("\n")
        return [(p, lines[p.line - 1] if 0 < p.line <= len(lines) else "") for p in self.problems]


def read_script_form(form_data: FormData, *, with_name: bool) -> ScriptForm:
    """The submitted form, with errors for what cannot even be read (a bad upload, bad JSON)."""
    form = ScriptForm(name=_text(form_data, "name").strip() if with_name else "")
    form.source = _text(form_data, "source").replace("\r\n", "\n")
    upload = form_data.get("source_file")
    if isinstance(upload, UploadFile) and upload.filename:
        uploaded = _read_upload(upload, form)
        if uploaded is not None:
            form.source = uploaded
    form.introduction_message = _text(form_data, "introduction_message").replace("\r\n", "\n")
    for flag in FLAGS:
        choice = _text(form_data, flag)
        form.flags[flag] = choice if choice in ("yes", "no") else ""
    for name in JSON_FIELDS:
        form.json_text[name] = _text(form_data, name)
    form.clear_access_key = _text(form_data, "clear_access_key") == "yes"
    form.access_key_given = bool(_text(form_data, "poe_access_key"))
    return form


def settings_of(form: ScriptForm) -> dict[str, Any]:
    """The settings object the form describes; unset fields are left out (Poe's defaults)."""
    settings: dict[str, Any] = dict(form.other_settings)
    if form.introduction_message:
        settings["introduction_message"] = form.introduction_message
    for flag, choice in form.flags.items():
        if choice:
            settings[flag] = choice == "yes"
    for name, text in form.json_text.items():
        if not text.strip():
            continue
        try:
            settings[name] = json.loads(text)
        except ValueError as exc:
            form.error(name, f"This is not valid JSON: {exc}.")
        except RecursionError:
            form.error(name, "This is not valid JSON: it is nested too deeply.")
    return settings


def create_body(form: ScriptForm, form_data: FormData) -> ScriptCreate | None:
    """The REST body for creating the script, or None with the form's errors filled in."""
    values: dict[str, Any] = {"source": form.source, "settings": settings_of(form)}
    if form.name:  # else the source's `# poe: name=` header names it
        values["name"] = form.name
    key = _text(form_data, "poe_access_key")
    if key:
        values["poe_access_key"] = key
    return _validated(ScriptCreate, values, form)


def update_body(form: ScriptForm, form_data: FormData) -> ScriptUpdate | None:
    """The REST body for changing the script (source, settings, key), or None with errors."""
    values: dict[str, Any] = {"source": form.source, "settings": settings_of(form)}
    key = _text(form_data, "poe_access_key")
    if key:
        values["poe_access_key"] = key
    elif form.clear_access_key:
        values["poe_access_key"] = None  # PATCH semantics: null removes the key
    return _validated(ScriptUpdate, values, form)


def _validated(model: type[Body], values: dict[str, Any], form: ScriptForm) -> Body | None:
    if form.failed:
        return None
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            where, message = _describe(error)
            form.error(where, message)
        return None


def _describe(error: Any) -> tuple[str, str]:
    """The form field an error of the REST model belongs to, and its message."""
    loc = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if loc[:1] == ["settings"] and len(loc) > 1:
        where = loc[1] if loc[1] in FORM_SETTINGS else "settings"
        inner = ".".join(loc[2:])
        return where, f"{inner}: {message}" if inner else message
    if loc and loc[0] in ("name", "source", "poe_access_key"):
        return loc[0], message
    return "form", message


def _read_upload(upload: UploadFile, form: ScriptForm) -> str | None:
    # Already spooled by the form parser; read in the route's worker thread.
    upload.file.seek(0)
    data = upload.file.read(MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        form.error("source", f"The uploaded file is over {MAX_SOURCE_BYTES // 1024} KiB.")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        form.error("source", "The uploaded file is not UTF-8 text.")
        return None
    return text.replace("\r\n", "\n")


def _text(form_data: FormData, name: str) -> str:
    value = form_data.get(name)
    return value if isinstance(value, str) else ""
