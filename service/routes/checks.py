"""``POST /api/v1/check``: the problems a save of this source would refuse it for, without
saving anything, for editors that mark them while the creator types (issue 13).

The checks are the save's own (``Orchestrator.checked_source``: the compile under the
sandbox policy, the ``# poe:`` header, the settings run up to the main block), so the
editor and the save never disagree. The page editor calls ``check_problems`` through its
session route (``pages/editor.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from service.errors import QuotaExceeded, SandboxBusy, SourceRejected, SourceTooLarge
from service.names import is_valid_name
from service.routes.deps import CurrentCreatorId, OrchestratorDep
from service.routes.schemas import ErrorOut, ProblemOut, _Input
from service.runs.orchestrator import Orchestrator
from service.script_header import read_header

MAX_CHECK_CHARS = 1_100_000  # a source past MAX_SOURCE_BYTES is still answered with its size
PLACEHOLDER_NAME = "script"  # the settings run's bot name when the source names none yet

router = APIRouter(prefix="/api/v1", tags=["scripts"])


class CheckIn(_Input):
    source: str = Field(max_length=MAX_CHECK_CHARS)
    name: str | None = Field(
        None, max_length=200, description="The script's name, as poe.bot_name in the settings run."
    )


class CheckOut(BaseModel):
    problems: list[ProblemOut] = Field(
        description="What a save would refuse; empty: it would save."
    )
    settings_checked: bool = Field(
        description="False when the settings run was not possible just now (the sandbox is "
        "busy): the problems are then the compile's only, and a save checks again."
    )
    note: str | None = Field(None, description="Why the settings were not checked, if so.")


async def check_problems(
    orchestrator: Orchestrator, source: str, name: str | None, creator_id: int
) -> CheckOut:
    """The save's checks of ``source``, answered as problems instead of a refusal."""
    bot_name = name if name and is_valid_name(name) else None
    bot_name = bot_name or read_header(source).name or PLACEHOLDER_NAME
    try:
        await orchestrator.checked_source(source, bot_name, creator_id)
    except SourceRejected as exc:
        return CheckOut(problems=[_out(p) for p in exc.problems], settings_checked=True)
    except SourceTooLarge as exc:
        return CheckOut(
            problems=[ProblemOut(line=1, col=1, message=str(exc))], settings_checked=True
        )
    except (QuotaExceeded, SandboxBusy) as exc:  # raised after the compile passed
        return CheckOut(problems=[], settings_checked=False, note=str(exc))
    return CheckOut(problems=[], settings_checked=True)


def _out(problem: Any) -> ProblemOut:
    return ProblemOut(line=problem.line, col=problem.col, message=problem.message)


@router.post(
    "/check",
    responses={401: {"model": ErrorOut, "description": "No, an unknown or a revoked API token."}},
)
async def check(
    body: CheckIn, creator_id: CurrentCreatorId, orchestrator: OrchestratorDep
) -> CheckOut:
    """The problems saving ``source`` would be refused for (422 of a save), as a list;
    nothing is saved. The same checks as ``POST /api/v1/scripts`` and ``PATCH``."""
    return await check_problems(orchestrator, body.source, body.name, creator_id)
