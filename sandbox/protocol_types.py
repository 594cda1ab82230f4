"""fastapi_poe's protocol types without its server and client: the template's fastapi_poe.

``import fastapi_poe`` runs the package's ``__init__``, which imports its server (FastAPI,
Starlette, sse-starlette, uvicorn) and its client (httpx, and through httpx's command line
rich and pygments) along with its types: 16 of the template's 43 MB of private memory,
whose page tables every child's fork copies and every child's exit tears down (issue 15).
A child never serves or calls over HTTP (its bot calls go through the host) and a script
may use neither part (``policy.modules`` refuses them), so in the template ``fastapi_poe``
is the package with ``fastapi_poe.types`` alone loaded, and ``fastapi_poe.client`` and
``fastapi_poe.base`` hold what the real modules show a script: the protocol types they
import and their exceptions. tests/sandbox/poe/test_protocol_types.py compares each with
the real package.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: ``fastapi_poe.__all__``'s names that ``fastapi_poe.types`` defines.
TYPES_NAMES: tuple[str, ...] = _words(
    "AspectRatio AspectRatioOption Attachment AttachmentUploadResponse BaseControl "
    "ComparatorCondition ConditionallyRenderControls CostItem DataResponse Divider DropDown "
    "ErrorResponse FullControls LiteralValue MessageFeedback MessageReaction MetaResponse "
    "Number ParameterControls ParameterValue PartialResponse ProtocolMessage QueryRequest "
    "ReportErrorRequest ReportFeedbackRequest ReportReactionRequest RequestContext Section "
    "Sender SettingsRequest SettingsResponse Slider Tab TextArea TextField ToggleSwitch "
    "ToolCallDefinition ToolDefinition ToolResultDefinition User ValueNamePair"
)

#: The exceptions the client and the server define (``fastapi_poe.__all__`` has them),
#: with their bases.
EXCEPTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "client": {"BotError": (), "BotErrorNoRetry": ("BotError",)},
    "base": {"CostRequestError": (), "InsufficientFundError": ()},
}

#: The protocol types each of those modules imports from ``fastapi_poe.types``.
IMPORTED_TYPES: dict[str, tuple[str, ...]] = {
    "client": _words(
        "Attachment ProtocolMessage QueryRequest SettingsResponse ToolCallDefinition "
        "ToolDefinition ToolResultDefinition"
    ),
    "base": _words(
        "Attachment AttachmentUploadResponse CostItem DataResponse ErrorResponse MetaResponse "
        "PartialResponse ProtocolMessage QueryRequest ReportErrorRequest ReportFeedbackRequest "
        "ReportReactionRequest Sender SettingsRequest SettingsResponse"
    ),
}


class Request:
    """Stands for ``fastapi.Request`` while ``fastapi_poe.types`` is imported: the type of
    ``RequestContext.http_request``, an HTTP request being served, which a child never has."""


def install() -> None:
    """Make ``import fastapi_poe`` in this process give the protocol types alone. Raises
    if fastapi_poe is imported already (this process has the real one: nothing to gain)
    or if its types need more than they did (a new fastapi_poe): the template then exits,
    it never starts with a half-made package."""
    if "fastapi_poe" in sys.modules:
        raise RuntimeError("fastapi_poe is imported already")
    spec = importlib.util.find_spec("fastapi_poe")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("fastapi_poe is not installed")
    package = importlib.util.module_from_spec(spec)  # not run: __init__ imports the server
    sys.modules["fastapi_poe"] = package
    with _fastapi_request_only():
        protocol = importlib.import_module("fastapi_poe.types")
    package.types = protocol  # type: ignore[attr-defined]
    surface: dict[str, object] = {name: getattr(protocol, name) for name in TYPES_NAMES}
    for part, exceptions in EXCEPTIONS.items():
        module = types.ModuleType(f"fastapi_poe.{part}")
        module.__package__ = "fastapi_poe"
        for name in IMPORTED_TYPES[part]:
            setattr(module, name, surface[name])
        for name, bases in exceptions.items():
            cls = type(name, tuple(getattr(module, b) for b in bases) or (Exception,), {})
            cls.__module__ = module.__name__
            setattr(module, name, cls)
            surface[name] = cls
        sys.modules[module.__name__] = module
        setattr(package, part, module)
    for name, value in surface.items():
        setattr(package, name, value)
    package.__all__ = list(surface)  # type: ignore[attr-defined]


@contextlib.contextmanager
def _fastapi_request_only() -> Iterator[None]:
    """``fastapi`` as a module holding ``Request`` alone, for the time of one import; a
    later ``import fastapi`` (an unrestricted run's) finds the real one."""
    if "fastapi" in sys.modules:
        raise RuntimeError("fastapi is imported already")
    stand_in = types.ModuleType("fastapi")
    stand_in.Request = Request  # type: ignore[attr-defined]
    sys.modules["fastapi"] = stand_in
    try:
        yield
    finally:
        del sys.modules["fastapi"]
