"""The words an editor completes in a script: the members of ``poe`` and the importable
modules, read from the runtime (``sandbox.poe.namespace.Poe``) and the policy
(``sandbox.policy.modules``), so that the editor offers exactly what a run has."""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

from sandbox.poe.namespace import Poe
from sandbox.policy.modules import ALIASES, ALLOWED_MODULES, PACKAGES

#: Importable besides the policy's modules: the runtime itself (SPEC §10).
RUNTIME_MODULES = ("poe", "fastapi_poe", "fastapi_poe.types")


@cache
def completions() -> dict[str, Any]:
    """``{"poe": [{"label", "type", "detail", "info"}], "modules": [names]}``."""
    members = []
    for name, value in inspect.getmembers(Poe):
        if name.startswith("_"):
            continue
        member: dict[str, str] = {"label": name}
        if isinstance(value, property):
            kind = "class" if name[:1].isupper() else "property"
            doc = inspect.getdoc(value.fget) or ""
        else:
            kind = "function"
            doc = inspect.getdoc(value) or ""
            member["detail"] = _signature(value)
        member["type"] = kind
        if doc:
            member["info"] = doc.split("\n\n")[0]
        members.append(member)
    modules = sorted({*ALLOWED_MODULES, *PACKAGES, *ALIASES, *RUNTIME_MODULES})
    return {"poe": members, "modules": modules}


def _signature(function: Any) -> str:
    try:
        parameters = list(inspect.signature(function).parameters.values())[1:]  # not self
    except (TypeError, ValueError):
        return "(...)"
    shown = [p.replace(annotation=inspect.Parameter.empty) for p in parameters]
    return str(inspect.Signature(shown))
