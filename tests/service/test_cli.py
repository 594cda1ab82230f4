"""The ``scriptbots`` command (SPEC §3), run as a real process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.service.processes import clean_environment, scriptbots

TOKEN = re.compile(r"^sb_[A-Za-z0-9_-]{40,}\n$")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def env(workdir: Path) -> dict[str, str]:
    return clean_environment(SCRIPTBOTS_DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite'}")


def test_creator_create_prints_only_the_token(workdir: Path, env: dict[str, str]) -> None:
    done = scriptbots("creator", "create", "alice", cwd=workdir, env=env)
    assert done.returncode == 0, done.stderr
    assert TOKEN.match(done.stdout)
    assert "alice" in done.stderr
    assert (workdir / "var" / "secret.key").exists()  # generated on first start


def test_creator_names_are_unique_and_follow_the_rule(workdir: Path, env: dict[str, str]) -> None:
    assert scriptbots("creator", "create", "alice", cwd=workdir, env=env).returncode == 0
    again = scriptbots("creator", "create", "ALICE", cwd=workdir, env=env)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.strip().endswith("already taken; choose another.")
    bad = scriptbots("creator", "create", "a b", cwd=workdir, env=env)
    assert bad.returncode == 1 and bad.stdout == ""
    assert "name must be" in bad.stderr


def test_password_stdin(workdir: Path, env: dict[str, str]) -> None:
    from service.security import verify_password
    from service.store.creators import get_creator
    from service.store.db import Database

    done = scriptbots(
        "creator",
        "create",
        "bob",
        "--password-stdin",
        cwd=workdir,
        env=env,
        stdin="s3cret pass phrase\n",
    )
    assert done.returncode == 0, done.stderr
    assert TOKEN.match(done.stdout) and "s3cret" not in done.stderr
    database = Database(env["SCRIPTBOTS_DATABASE_URL"])
    try:
        with database.transaction() as session:
            password_hash = get_creator(session, "bob").password_hash
    finally:
        database.dispose()
    assert password_hash is not None and verify_password(password_hash, "s3cret pass phrase")
    empty = scriptbots(
        "creator", "create", "carol", "--password-stdin", cwd=workdir, env=env, stdin=""
    )
    assert empty.returncode == 1 and empty.stdout == ""


def test_password_stdin_follows_the_password_rule(workdir: Path, env: dict[str, str]) -> None:
    for weak in ("short", "password1234"):
        done = scriptbots(
            "creator", "create", "erin", "--password-stdin", cwd=workdir, env=env, stdin=weak
        )
        assert done.returncode == 1 and done.stdout == ""
        assert "password is refused" in done.stderr and weak not in done.stderr


def test_creator_passwd_gives_a_cli_creator_a_password(workdir: Path, env: dict[str, str]) -> None:
    from service.security import verify_password
    from service.store.creators import get_creator
    from service.store.db import Database

    assert scriptbots("creator", "create", "frank", cwd=workdir, env=env).returncode == 0
    done = scriptbots(
        "creator",
        "passwd",
        "Frank",
        "--password-stdin",
        cwd=workdir,
        env=env,
        stdin="a long new pass phrase\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "phrase" not in done.stderr
    database = Database(env["SCRIPTBOTS_DATABASE_URL"])
    try:
        with database.transaction() as session:
            frank = get_creator(session, "frank")
            assert frank.password_hash is not None
            assert verify_password(frank.password_hash, "a long new pass phrase")
            assert frank.session_version == 1  # every older web session is over
    finally:
        database.dispose()
    weak = scriptbots(
        "creator", "passwd", "frank", "--password-stdin", cwd=workdir, env=env, stdin="qwertyuiop\n"
    )
    assert weak.returncode == 1
    missing = scriptbots(
        "creator",
        "passwd",
        "nobody",
        "--password-stdin",
        cwd=workdir,
        env=env,
        stdin="a long new pass phrase\n",
    )
    assert missing.returncode == 1 and "no creator named 'nobody'" in missing.stderr


def test_token_list_and_revoke(workdir: Path, env: dict[str, str]) -> None:
    first = scriptbots("creator", "create", "gina", cwd=workdir, env=env).stdout.strip()
    second = scriptbots("token", "create", "gina", cwd=workdir, env=env).stdout.strip()
    listed = scriptbots("token", "list", "gina", cwd=workdir, env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split("\t") == ["id", "created", "last used", "label"]
    assert len(lines) == 3
    assert first not in listed.stdout and second not in listed.stdout  # never the secret
    newest_id = lines[1].split("\t")[0]
    revoked = scriptbots("token", "revoke", newest_id, cwd=workdir, env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert len(scriptbots("token", "list", "gina", cwd=workdir, env=env).stdout.splitlines()) == 2
    again = scriptbots("token", "revoke", newest_id, cwd=workdir, env=env)
    assert again.returncode == 1 and "no unrevoked API token" in again.stderr


def test_token_create_for_an_existing_creator(workdir: Path, env: dict[str, str]) -> None:
    first = scriptbots("creator", "create", "dave", cwd=workdir, env=env).stdout
    second = scriptbots("token", "create", "Dave", cwd=workdir, env=env)
    assert second.returncode == 0, second.stderr
    assert TOKEN.match(second.stdout) and second.stdout != first
    missing = scriptbots("token", "create", "nobody", cwd=workdir, env=env)
    assert missing.returncode == 1 and missing.stdout == ""
    assert "no creator named 'nobody'" in missing.stderr


def test_migrate_works_from_any_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "some" / "where"
    elsewhere.mkdir(parents=True)
    env = clean_environment(SCRIPTBOTS_DATABASE_URL=f"sqlite:///{tmp_path / 'm.sqlite'}")
    done = scriptbots("migrate", cwd=elsewhere, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    again = scriptbots("migrate", cwd=elsewhere, env=env)
    assert again.returncode == 0


def test_default_database_lives_under_var(workdir: Path) -> None:
    done = scriptbots("migrate", cwd=workdir, env=clean_environment())
    assert done.returncode == 0, done.stderr
    assert (workdir / "var" / "scriptbots.db").exists()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SCRIPTBOTS_PORT", "http"), ("SCRIPTBOTS_RUN_CPU_S", "0"), ("SCRIPTBOTS_SECRET_KEY", "x")],
)
def test_bad_setting_stops_with_one_line(
    workdir: Path, env: dict[str, str], variable: str, value: str
) -> None:
    done = scriptbots("migrate", cwd=workdir, env={**env, variable: value})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_database_is_one_line(workdir: Path) -> None:
    env = clean_environment(SCRIPTBOTS_DATABASE_URL="postgresql+psycopg://x@127.0.0.1:9/none")
    done = scriptbots("creator", "create", "erin", cwd=workdir, env=env)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: database:") and "Traceback" not in done.stderr


def test_check_prints_problems_as_file_line_col(workdir: Path, env: dict[str, str]) -> None:
    good = workdir / "good.py"
    good.write_text('print("hello")\n')
    bad = workdir / "bad.py"
    bad.write_text("x = 1\ny = _getattr_\n")
    ok = scriptbots("check", "good.py", cwd=workdir, env=env)
    assert ok.returncode == 0 and ok.stdout == ""
    refused = scriptbots("check", "bad.py", cwd=workdir, env=env)
    assert refused.returncode == 1
    assert re.fullmatch(r"bad\.py:2:\d+: .+\n", refused.stdout), refused.stdout
    broken = workdir / "broken.py"
    broken.write_text("def f(:\n")
    assert re.match(
        r"broken\.py:1:\d+: ", scriptbots("check", "broken.py", cwd=workdir, env=env).stdout
    )


def test_check_reports_imports_that_will_fail_at_their_line(
    workdir: Path, env: dict[str, str]
) -> None:
    (workdir / "imports.py").write_text(
        "import json, os\nimport pandas as pd\n\nimport subprocess\n"
        "from os import system\nfrom matplotlib import pyplot\nimport poe\n"
    )
    done = scriptbots("check", "imports.py", cwd=workdir, env=env)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout
    assert lines[0].startswith("imports.py:4:1: import of 'subprocess' is not allowed in scripts")
    assert lines[0].endswith(
        'the README, section "What a script can import", lists what scripts can import'
    )
    assert lines[1].startswith("imports.py:5:1: os.system is not available to scripts")


def test_check_of_unreadable_files(workdir: Path, env: dict[str, str]) -> None:
    missing = scriptbots("check", "missing.py", cwd=workdir, env=env)
    assert missing.returncode == 1 and "missing.py" in missing.stderr
    (workdir / "latin.py").write_bytes(b"x = '\xe9'\n")
    latin = scriptbots("check", "latin.py", cwd=workdir, env=env)
    assert latin.returncode == 1 and latin.stdout.startswith("latin.py:1:1: ")


def test_every_command_is_registered(workdir: Path, env: dict[str, str]) -> None:
    usage = scriptbots("--help", cwd=workdir, env=env).stdout
    for command in ("serve", "migrate", "creator", "token", "run", "check", "check-sandbox"):
        assert command in usage
    run_help = scriptbots("run", "--help", cwd=workdir, env=env).stdout
    assert all(flag in run_help for flag in ("--query", "--bot-base", "--access-key"))
    serve_help = scriptbots("serve", "--help", cwd=workdir, env=env).stdout
    assert all(flag in serve_help for flag in ("--host", "--port", "--workers"))
    assert scriptbots("nonsense", cwd=workdir, env=env).returncode == 2
