"""The committed bundles are those ``make assets`` builds from web/src and the lock file
(web/build.mjs records a digest of its inputs in the manifest), and the pages use them."""

from __future__ import annotations

import hashlib
import json

from service.routes.pages.rendering import STATIC_DIR, WEB_DIR


def test_bundles_are_built_from_the_current_sources() -> None:
    manifest = json.loads((STATIC_DIR / "dist" / "manifest.json").read_text())
    digest = hashlib.sha256()
    inputs = ["package-lock.json", *sorted(f"src/{p.name}" for p in (WEB_DIR / "src").iterdir())]
    for path in inputs:
        digest.update(f"{path}\n".encode())
        digest.update((WEB_DIR / path).read_bytes())
    assert manifest["sources"] == digest.hexdigest(), "web/src changed: run `make assets`"
    for name in ("app.js", "editor.js"):
        assert (STATIC_DIR / manifest[name]).is_file()


def test_bundles_stay_small() -> None:
    manifest = json.loads((STATIC_DIR / "dist" / "manifest.json").read_text())
    sizes = {p.name: p.stat().st_size for p in (STATIC_DIR / "dist").glob("*.js")}
    assert sizes[manifest["editor.js"].removeprefix("dist/")] < 600_000  # CodeMirror, minified
    assert sizes[manifest["app.js"].removeprefix("dist/")] < 250_000  # markdown-it, DOMPurify
