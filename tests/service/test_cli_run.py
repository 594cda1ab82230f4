"""``scriptbots run`` as a new user meets it (issue 13): bot calls go to POE_API_BASE unless
--bot-base says otherwise, with the access key of --access-key or POE_ACCESS_KEY; a script
reading the query runs without --query; Ctrl-C ends it with one line."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from tests.service.processes import SCRIPTBOTS, clean_environment, scriptbots
from tests.upstream import ACCESS_KEY, Upstream, upstream

__all__ = ["upstream"]  # the loopback upstream fixture

INSPECT = "import json\nprint(json.dumps(json.loads(poe.call('Inspect', 'hi').text)))\n"


def _inspected(stdout: str) -> dict[str, object]:
    return json.loads(stdout.strip().splitlines()[-1])


def test_bot_calls_go_to_poe_api_base_with_the_access_key(
    tmp_path: Path, upstream: Upstream
) -> None:
    (tmp_path / "inspect.py").write_text(INSPECT)
    env = clean_environment(
        SCRIPTBOTS_POE_API_BASE=upstream.base_url, SCRIPTBOTS_POE_ACCESS_KEY=ACCESS_KEY
    )
    done = scriptbots("run", "inspect.py", "--query", "q", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert _inspected(done.stdout)["authorization"] == f"Bearer {ACCESS_KEY}"
    assert ACCESS_KEY not in done.stderr
    assert not (tmp_path / "var").exists()  # no secret key, no database for a terminal run


def test_access_key_option_wins_over_the_variable(tmp_path: Path, upstream: Upstream) -> None:
    (tmp_path / "inspect.py").write_text(INSPECT)
    env = clean_environment(
        SCRIPTBOTS_POE_API_BASE="http://127.0.0.1:9/", SCRIPTBOTS_POE_ACCESS_KEY="x" * 32
    )
    args = ("--bot-base", upstream.base_url, "--access-key", ACCESS_KEY)
    done = scriptbots("run", "inspect.py", *args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert _inspected(done.stdout)["authorization"] == f"Bearer {ACCESS_KEY}"


def test_a_wrong_access_key_is_the_bots_error(tmp_path: Path, upstream: Upstream) -> None:
    (tmp_path / "inspect.py").write_text(INSPECT)
    env = clean_environment(SCRIPTBOTS_POE_API_BASE=upstream.base_url)  # no key: refused
    done = scriptbots("run", "inspect.py", cwd=tmp_path, env=env)
    assert done.returncode == 1 and "Traceback (most recent call last)" not in done.stderr
    assert "Inspect" in done.stderr


def test_without_query_the_script_gets_the_default_one(tmp_path: Path) -> None:
    (tmp_path / "echo.py").write_text("print('you said', poe.query.text)\n")
    done = scriptbots("run", "echo.py", cwd=tmp_path, env=clean_environment())
    assert done.returncode == 0, done.stderr
    assert done.stdout == "you said Hello\n"
    assert "no --query given" in done.stderr


def test_ctrl_c_ends_the_run_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    process = subprocess.Popen(
        [SCRIPTBOTS, "run", "slow.py"],
        cwd=tmp_path,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        # The message's line ends only when the next one starts: read its text, not a line.
        assert process.stdout.read(len("started")) == "started"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Traceback" not in stderr and "interrupted" in stderr


def test_a_bad_setting_stops_run_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text("print('hi')\n")
    env = clean_environment(SCRIPTBOTS_POE_API_BASE="not a url")
    done = scriptbots("run", "hello.py", cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: bad setting")
