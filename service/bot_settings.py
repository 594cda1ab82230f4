"""A script's Poe settings: what its creator set, completed with what its source implies.

Validation is fastapi_poe's own ``SettingsResponse``; nothing here re-declares its fields.
"""

from __future__ import annotations

from typing import Any

import fastapi_poe as fp


def stored_settings(settings: fp.SettingsResponse | None) -> dict[str, Any]:
    """The fields the creator set, as JSON, for the ``scripts.settings`` column."""
    if settings is None:
        return {}
    return settings.model_dump(mode="json", exclude_unset=True)


def effective_settings(
    stored: dict[str, Any], bot_dependencies: dict[str, Any]
) -> fp.SettingsResponse:
    """What the bot answers to a ``settings`` request (SPEC §5, §7).

    ``server_bot_dependencies`` defaults to the literal bot names of the current version's
    source when the creator gave none.
    """
    values = dict(stored)
    values.setdefault("server_bot_dependencies", dict(bot_dependencies))
    return fp.SettingsResponse.model_validate(values)
