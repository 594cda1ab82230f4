"""The test console's parameter controls: the script's Poe ``parameter_controls`` as a flat
list of form fields (sections, tabs and conditions flattened: the console shows them all),
and the submitted fields back as the ``parameters`` of the query's last message, typed as
Poe sends them (toggles as booleans, sliders as numbers, the rest as text)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fastapi_poe as fp
from starlette.datastructures import FormData

FIELD_PREFIX = "param."
_INPUTS = frozenset(
    {"text_field", "text_area", "drop_down", "toggle_switch", "slider", "aspect_ratio"}
)
MAX_CONTROLS = 50


@dataclass(frozen=True)
class Control:
    kind: str
    name: str  # the parameter's name
    label: str
    description: str = ""
    default: Any = None
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, shown)
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None

    @property
    def field_name(self) -> str:
        return FIELD_PREFIX + self.name


def console_controls(controls: fp.ParameterControls | None) -> list[Control]:
    """Every input control of ``controls``, in order, each parameter once."""
    if controls is None:
        return []
    found: dict[str, Control] = {}
    for raw in _walk(controls.model_dump(mode="json")):
        name = raw.get("parameter_name")
        if not isinstance(name, str) or not name or name in found:
            continue
        found[name] = _control(raw, name)
        if len(found) >= MAX_CONTROLS:
            break
    return list(found.values())


def form_parameters(form: FormData, controls: list[Control]) -> dict[str, Any]:
    """The parameters the form sets, typed by their controls; unknown fields are ignored."""
    parameters: dict[str, Any] = {}
    for control in controls:
        value = form.get(control.field_name)
        if control.kind == "toggle_switch":
            parameters[control.name] = value in ("on", "true", "yes")
            continue
        if not isinstance(value, str):
            continue
        if control.kind == "slider":
            try:
                number = float(value)
            except ValueError:
                continue
            parameters[control.name] = int(number) if number.is_integer() else number
        elif control.kind in ("drop_down", "aspect_ratio"):
            if value in {v for v, _ in control.options}:
                parameters[control.name] = value
        else:
            parameters[control.name] = value
    return parameters


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("control") in _INPUTS:
            yield node
        for key in ("sections", "controls", "tabs"):
            for child in node.get(key) or []:
                yield from _walk(child)


def _control(raw: dict[str, Any], name: str) -> Control:
    kind = str(raw["control"])
    options: list[tuple[str, str]] = []
    for option in raw.get("options") or []:
        value = option.get("value")
        if kind == "aspect_ratio":
            shown = f"{option.get('width')}:{option.get('height')}"
            value = value if value is not None else shown
        else:
            shown = str(option.get("name") or value)
        options.append((str(value), shown))
    return Control(
        kind=kind,
        name=name,
        label=str(raw.get("label") or name),
        description=str(raw.get("description") or ""),
        default=raw.get("default_value"),
        options=options,
        minimum=raw.get("min_value"),
        maximum=raw.get("max_value"),
        step=raw.get("step"),
    )
