"""Settings extraction: saving a source runs it in the sandbox up to its
``if __name__ == "__main__":`` block, and what its ``poe.update_settings`` set becomes the
version's settings (Poe's semantics; ``sandbox.extraction`` decides what runs).

The run has no query, no bot calls, fetches or output (the child's runtime refuses them, and
the services below refuse them again should a hostile child ask). It is short and is not
recorded as a run; an error in it refuses the save (``SettingsFailed``, 422 at its line).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing

import anyio.to_thread
import fastapi_poe as fp
from pydantic import ValidationError

from sandbox import (
    AttachmentInfo,
    BotCallRefused,
    BotCallRequest,
    HttpHead,
    HttpRefused,
    HttpRequest,
    Limits,
    RunEnd,
    RunStart,
    SandboxError,
    SandboxPool,
    SettingsUpdated,
    Spool,
    TemplatePools,
    needs_settings_run,
)
from service.errors import QuotaExceeded, SandboxBusy, SettingsFailed
from service.sources import CheckedSource, check_script_source

logger = logging.getLogger(__name__)

SETTINGS_RUN_TIMEOUT_S = 15.0  # saving waits for this; a settings block does little
SAVES_AT_ONCE = 2  # settings runs of one creator's saves at once, in one service process
_REFUSED = "not while the script's settings are read"


class _NoServices:
    """A settings run's services: everything refused (the child's runtime refuses first)."""

    def call_bot(self, request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
        raise BotCallRefused(request.bot_name, _REFUSED)

    def fetch(self, url: str) -> AsyncIterator[bytes]:
        raise BotCallRefused("", _REFUSED)

    async def upload(
        self, name: str, contents: Spool, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        raise BotCallRefused("", _REFUSED)

    def http(self, request: HttpRequest) -> AsyncIterator[HttpHead | bytes]:
        raise HttpRefused(_REFUSED)


async def read_settings(
    pool: SandboxPool | TemplatePools, limits: Limits, source: str, bot_name: str
) -> dict[str, object] | None:
    """What ``source``'s last ``poe.update_settings`` set before its main block (None when
    it set nothing); ``SettingsFailed`` when that code fails or the settings are invalid."""
    timeout_s = min(limits.timeout_s, SETTINGS_RUN_TIMEOUT_S)
    start = RunStart(
        source=source,
        bot_name=bot_name,
        limits=dataclasses.replace(limits, timeout_s=timeout_s),
        mode="settings",
    )
    settings: dict[str, object] | None = None
    end = RunEnd("killed", "The settings run ended without a result.")
    async with aclosing(pool.run(start, _NoServices())) as items:
        async for item in items:
            if isinstance(item, SettingsUpdated):
                settings = item.settings
            elif isinstance(item, RunEnd):
                end = item
    if end.status != "ok":
        error = end.error or f"The run ended: {end.status}."
        if end.limit == "time":
            error = f"It took longer than {timeout_s:g} seconds."
        raise SettingsFailed(error, end.line)
    if settings is None:
        return None
    try:  # the child is not trusted: its settings are checked again, by fastapi_poe
        checked = fp.SettingsResponse.model_validate(settings)
    except ValidationError as exc:
        message = f"poe.update_settings was given invalid settings: {exc}"
        raise SettingsFailed(message, None) from None
    return checked.model_dump(mode="json", exclude_unset=True)


class SaveChecks:
    """The checks of a source being saved: compiled, then its settings run when it needs
    one (a main block or ``update_settings``). At most SAVES_AT_ONCE settings runs per
    creator at once in this process (QuotaExceeded beyond): saves must not crowd out runs."""

    def __init__(
        self,
        pool: SandboxPool | TemplatePools,
        limits: Limits,
        pool_ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._pool = pool
        self._limits = limits
        self._pool_ready = pool_ready
        self._running: Counter[int] = Counter()  # settings runs in progress, by creator

    async def checked_source(self, source: str, bot_name: str, creator_id: int) -> CheckedSource:
        checked = await anyio.to_thread.run_sync(check_script_source, source)
        if not needs_settings_run(source):
            return checked
        if self._running[creator_id] >= SAVES_AT_ONCE:
            raise QuotaExceeded(
                f"{SAVES_AT_ONCE} saves of your scripts are being checked already; "
                "try again when they are done."
            )
        self._running[creator_id] += 1
        try:
            await self._pool_ready()
            settings = await read_settings(self._pool, self._limits, source, bot_name)
        except SandboxError as exc:
            logger.warning("settings run unavailable", extra={"error": str(exc)})
            raise SandboxBusy(
                "The script's settings could not be read: the sandbox is not available "
                "right now. Try saving again in a moment."
            ) from exc
        finally:
            self._running[creator_id] -= 1
            if not self._running[creator_id]:
                del self._running[creator_id]
        return dataclasses.replace(checked, settings=settings)
