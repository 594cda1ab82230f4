"""``scriptbots run`` and ``scriptbots check-sandbox``: the same sandbox, from a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import fastapi_poe as fp
import pytest

from sandbox.check import check_sandbox
from service.runs.terminal import run_file
from tests.upstream import serve_app
from tests.webstandin import serve_web

SCRIPTBOTS = str(Path(sys.executable).parent / "scriptbots")
NO_BOTS = "http://127.0.0.1:9/"  # scripts that call no bot (the discard port: nothing answers)


class ShoutBot(fp.PoeBot):
    async def get_response(self, request: fp.QueryRequest) -> AsyncIterator[fp.PartialResponse]:
        yield fp.PartialResponse(text=request.query[-1].content.upper())


@pytest.fixture(scope="module")
def bot_base() -> Iterator[str]:
    app = fp.make_app(ShoutBot(path="/Shout"), allow_without_key=True)
    with serve_app(app) as url:
        yield url + "/"


def write(tmp_path: Path, source: str) -> str:
    path = tmp_path / "script.py"
    path.write_text(source)
    return str(path)


def test_hello_world_prints_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_file(write(tmp_path, 'print("hello world")\n'), "hi", NO_BOTS) == 0
    assert "hello world" in capsys.readouterr().out


def test_query_and_streamed_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = "with poe.start_message() as m:\n    m.write('got ')\n    m.write(poe.query.text)\n"
    assert run_file(write(tmp_path, source), "the query", NO_BOTS) == 0
    assert "got the query" in capsys.readouterr().out


def test_script_error_exits_1_with_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_file(write(tmp_path, "print('before')\n{}['missing']\n"), "hi", NO_BOTS) == 1
    captured = capsys.readouterr()
    assert "before" in captured.out
    assert "KeyError" in captured.err and "line 2" in captured.err


def test_calls_a_bot_at_bot_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bot_base: str
) -> None:
    source = "print(poe.call('Shout', 'quiet please').text)\n"
    assert run_file(write(tmp_path, source), "hi", bot_base) == 0
    assert "QUIET PLEASE" in capsys.readouterr().out


def test_attachments_get_placeholder_urls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = "with poe.start_message() as m:\n    m.attach_file(name='a.txt', contents=b'x')\n"
    assert run_file(write(tmp_path, source), "hi", NO_BOTS) == 0
    assert "memory://attachments/1/a.txt" in capsys.readouterr().err


def test_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_file(str(tmp_path / "nope.py"), "hi", NO_BOTS) == 1
    assert "cannot read" in capsys.readouterr().err


def test_console_script_runs_a_file_end_to_end(tmp_path: Path, bot_base: str) -> None:
    path = write(tmp_path, "print(poe.call('Shout', poe.query.text).text)\n")
    result = subprocess.run(
        [SCRIPTBOTS, "run", path, "--query", "from the cli", "--bot-base", bot_base],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SCRIPTBOTS_SECRET_KEY": "never-used-by-run"},
    )
    assert result.returncode == 0, result.stderr
    assert "FROM THE CLI" in result.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="every protection needs root; CI runs as root")
def test_check_sandbox_reports_all_active_as_root(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_sandbox() == 0
    out = capsys.readouterr().out
    assert "MISSING" not in out and "seccomp" in out and "landlock" in out


def test_a_half_shield_script_reaches_a_local_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_web() as (base, _):
        get = f"import requests\nprint(requests.get({base!r} + '/hello').text)\n"
        half = "# poe: privacy_shield=half\n" + get
        assert run_file(write(tmp_path, half), "hi", NO_BOTS) == 0
        assert "hello world" in capsys.readouterr().out
        assert run_file(write(tmp_path, get), "hi", NO_BOTS) == 1
        assert "`# poe: privacy_shield=half`" in capsys.readouterr().err
