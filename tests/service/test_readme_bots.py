"""The README's "Your script as a Poe bot" section works verbatim against a real server: the
curl queries (with the tour's variables) and the fastapi_poe snippet."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.service.test_readme import _blocks, tour_server


def test_querying_a_bot_works_verbatim(tmp_path: Path) -> None:
    tour = _blocks("sh", "Five-minute tour")[0]
    variables = "\n".join(line for line in tour.splitlines() if re.match(r"^[A-Z]+=", line))
    (snippet,) = _blocks("sh", "Your script as a Poe bot")
    (python,) = _blocks("python", "Your script as a Poe bot")
    with tour_server(tmp_path) as (port, run_shell):
        done = run_shell(f'{variables}\n{snippet}\necho "TOKEN=$TOKEN"\n')
        assert done.returncode == 0, done.stderr
        token = done.stdout.rsplit("TOKEN=", 1)[1].strip()
        program = python.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace("sb_...", token)
        answered = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
        )
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout == "Hello, world"
    out = done.stdout
    assert out.count("event: meta") == 2 and out.count("event: done") == 2
    assert 'data: {"text": "Hello, world"}' in out
    assert 'data: {"text": "Hello, again"}' in out
    settings = json.loads(
        next(line for line in out.splitlines() if "server_bot_dependencies" in line)
    )
    assert settings["server_bot_dependencies"] == {}
    runs = json.loads(next(line for line in out.splitlines() if line.startswith('{"items"')))
    assert runs["total"] == 2 and [r["trigger"] for r in runs["items"]] == ["console", "poe"]
