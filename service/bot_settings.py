"""A script's Poe settings: what its creator set, completed with what its source implies.

Validation is fastapi_poe's own ``SettingsResponse``; nothing here re-declares its fields.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import fastapi_poe as fp

if TYPE_CHECKING:
    from service.store.tables import Script, ScriptVersion

# A dropdown option that could name a Poe bot: "GPT-4o", "Claude-Sonnet-4.5", "gemini-2.5-pro".
_BOT_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
# A dropdown that picks a bot says so in its parameter name or label ("model", "Bot", "llm");
# a tone or language dropdown does not, and its values are no bots.
_PICKS_A_BOT = re.compile(r"model|bot|llm", re.IGNORECASE)
_MAX_WALK = 10_000  # nodes of parameter_controls looked at (Poe's own controls are small)


def stored_settings(settings: fp.SettingsResponse | None) -> dict[str, Any]:
    """The fields the creator set, as JSON, for the ``scripts.settings`` column."""
    if settings is None:
        return {}
    return settings.model_dump(mode="json", exclude_unset=True)


def effective_settings(
    stored: dict[str, Any],
    bot_dependencies: dict[str, Any],
    *,
    extracted: dict[str, Any] | None = None,
    dynamic_bot_calls: int = 0,
) -> fp.SettingsResponse:
    """What the bot answers to a ``settings`` request (SPEC §5, §7).

    ``extracted`` (what the version's ``poe.update_settings`` set when it was saved) wins
    over ``stored`` (what the creator set through the API or the form), field by field.
    ``server_bot_dependencies`` defaults to the literal bot names of the version's source;
    when the source also calls bots by a computed name, every bot-like option value of the
    parameter controls' bot-picking dropdowns (``model``, ``bot`` or ``llm`` in the parameter
    name or label) counts too, once per such call site.
    """
    values = {**stored, **(extracted or {})}
    if "server_bot_dependencies" in values:
        return fp.SettingsResponse.model_validate(values)
    dependencies = dict(bot_dependencies)
    if dynamic_bot_calls and values.get("parameter_controls") is not None:
        controls = fp.SettingsResponse.model_validate(values).parameter_controls
        dumped = controls.model_dump(mode="json") if controls is not None else None
        for bot in bot_dropdown_values(dumped):  # the full dump: each control names its kind
            if _BOT_LIKE.fullmatch(bot):
                dependencies[bot] = dependencies.get(bot, 0) + dynamic_bot_calls
    return fp.SettingsResponse.model_validate({**values, "server_bot_dependencies": dependencies})


def version_settings(script: Script, version: ScriptVersion) -> fp.SettingsResponse:
    """``effective_settings`` of ``script`` at ``version``."""
    return effective_settings(
        script.settings,
        version.bot_dependencies,
        extracted=version.settings,
        dynamic_bot_calls=version.dynamic_bot_calls,
    )


def bot_dropdown_values(controls: Any) -> list[str]:
    """The option values of every bot-picking dropdown in ``parameter_controls`` (as JSON)."""
    found: list[str] = []
    pending = [controls]
    walked = 0
    while pending and walked < _MAX_WALK:
        node = pending.pop()
        walked += 1
        if isinstance(node, dict):
            if (
                node.get("control") == "drop_down"
                and isinstance(node.get("options"), list)
                and _PICKS_A_BOT.search(f"{node.get('parameter_name')} {node.get('label')}")
            ):
                for option in node["options"]:
                    value = option.get("value") if isinstance(option, dict) else None
                    if isinstance(value, str) and value not in found:
                        found.append(value)
            pending.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            pending.extend(reversed(node))
    return found
