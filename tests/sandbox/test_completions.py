"""The editor's word list is the runtime's and the policy's: what it offers, a run has."""

from __future__ import annotations

import importlib.util

from sandbox import completions
from sandbox.policy.modules import DENIED_MODULES


def test_poe_members_are_the_runtimes_public_names() -> None:
    members = {m["label"]: m for m in completions()["poe"]}
    assert {"call", "stream", "query", "start_message", "update_settings", "BotError"} <= set(
        members
    )
    assert not any(label.startswith("_") for label in members)
    assert members["call"]["type"] == "function" and members["call"]["detail"].startswith(
        "(bot_name"
    )
    assert members["query"]["type"] == "property"


def test_modules_are_the_importable_ones_only() -> None:
    modules = completions()["modules"]
    assert {"json", "re", "numpy", "pandas", "poe", "fastapi_poe"} <= set(modules)
    assert not set(modules) & set(DENIED_MODULES)
    for name in ("json", "collections.abc", "numpy"):
        assert name in modules and importlib.util.find_spec(name) is not None
