"""The README tells the truth: its curl tour works verbatim against a real server, and its
configuration table lists every setting (Datasette's docs test)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from service.settings import ENV_PREFIX, Settings
from tests.service.processes import SCRIPTBOTS, clean_environment, free_port, serving

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _section(heading: str) -> str:
    start = README.index(f"\n## {heading}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _blocks(language: str, heading: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(heading), re.DOTALL)


ShellRunner = Callable[[str], subprocess.CompletedProcess[str]]


@contextmanager
def tour_server(tmp_path: Path) -> Iterator[tuple[int, ShellRunner]]:
    """A real server on a free port, as `make run` would serve it (the same database and
    secret for the server and the tour's CLI); yields the port and a runner of README shell
    snippets, with the README's port replaced by the real one."""
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "scriptbots").symlink_to(SCRIPTBOTS)
    env = clean_environment()
    port = free_port()

    def run_shell(script: str) -> subprocess.CompletedProcess[str]:
        script = script.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    with serving(cwd=tmp_path, env=env, port=port):
        yield port, run_shell


def test_configuration_table_lists_every_setting() -> None:
    table = _section("Configuration")
    rows = set(re.findall(r"^\| `(SCRIPTBOTS_[A-Z_]+)` \|", table, re.MULTILINE))
    assert rows == {ENV_PREFIX + field.upper() for field in Settings.model_fields}


def test_configuration_defaults_match_the_code() -> None:
    table = _section("Configuration")
    defaults = dict(re.findall(r"^\| `SCRIPTBOTS_([A-Z_]+)` \| `([^`]*)`", table, re.MULTILINE))
    for variable, shown in defaults.items():
        field = Settings.model_fields[variable.lower()]
        if field.default is None:  # computed defaults (PUBLIC_URL, SECRET_KEY) are prose
            continue
        assert str(field.default).lower() == shown.lower(), variable


def test_curl_tour_works_verbatim(tmp_path: Path) -> None:
    (tour,) = _blocks("sh", "Five-minute tour")
    with tour_server(tmp_path) as (port, run_shell):
        done = run_shell(tour)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 9, done.stdout
    created, listed, read, patched, versions, first, restored, deleted, gone = lines
    assert f'"bot_url":"http://127.0.0.1:{port}/bots/hello-bot"' in created
    assert '"name":"hello-bot"' in listed and '"total":1' in listed
    assert '"version":1' in read
    assert '"version":2' in patched and '"has_access_key":true' in patched
    assert "0123456789abcdef0123456789abcdef" not in done.stdout
    assert '"number":2' in versions and '"number":1' in versions
    assert "Hello from a script bot" in first
    assert '"version":3' in restored and "Hello from a script bot" in restored
    assert deleted == "204"
    assert '"detail"' in gone


def test_accounts_tokens_work_verbatim(tmp_path: Path) -> None:
    (snippet,) = _blocks("sh", "Accounts")
    revoked = (
        '\ncurl -sS "$API/tokens" -H "Authorization: Bearer $(echo "$CI" | python3 -c '
        "'import json, sys; print(json.load(sys.stdin)[\"token\"])')\" -w ' %{http_code}\\n'\n"
    )
    with tour_server(tmp_path) as (_, run_shell):
        done = run_shell(snippet + revoked)
    assert done.returncode == 0, done.stderr
    created, listed, deleted, refused = done.stdout.splitlines()
    assert created.startswith('{"id":') and '"token":"sb_' in created
    token = created.split('"token":"')[1].split('"')[0]
    assert '"label":"ci"' in listed and '"total":2' in listed and token not in listed
    assert deleted == "204"
    assert refused.endswith(" 401") and "revoked" in refused
