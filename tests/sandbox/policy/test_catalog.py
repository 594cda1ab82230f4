"""The README's list of importable modules is the policy's (sandbox/policy/catalog.py)."""

from __future__ import annotations

from pathlib import Path

from sandbox.policy import catalog
from sandbox.policy.modules import ALLOWED_MODULES, DENIED_MODULES, PACKAGES

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_lists_what_the_policy_allows_and_refuses() -> None:
    shown = catalog.current(README.read_text())
    assert shown is not None, "README.md lost its importable-modules markers"
    assert shown == catalog.section(), "run `python -m sandbox.policy.catalog` and commit"


def test_the_list_names_every_module_and_package_with_its_version_range() -> None:
    text = catalog.section()
    for name in (*ALLOWED_MODULES, *DENIED_MODULES, *PACKAGES):
        assert f"`{name}`" in text, name
    assert "| `pandas` | pandas | `" in text and "`any`" not in text.split("### Refused")[0]
