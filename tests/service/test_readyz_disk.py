"""/readyz goes red on a full or unwritable data directory, or one below the free-space
floor (issue 12, finding 7): 503 with the reason, while /healthz stays green.

The full disk is real where the test may mount one (root): a real ``scriptbots serve`` whose
DATA_DIR (and so its SQLite database) is a 4 MiB tmpfs, filled up and emptied again.
Elsewhere the configurable floor stands in for it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.settings import Settings
from tests.service.processes import Server, clean_environment, free_port

READY_TIMEOUT_S = 60


async def readyz(settings: Settings) -> httpx.Response:
    app = create_app(settings, warm_sandbox=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await http.get("/readyz")


async def test_below_the_floor_is_not_ready(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    response = await readyz(make_settings(data_dir=data_dir, data_min_free_mb=2**40))
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["disk"] == "failing"
    assert "below the floor of 1099511627776 MiB" in body["reasons"]["disk"]
    assert "SCRIPTBOTS_DATA_MIN_FREE_MB" in body["detail"]
    assert data_dir.is_dir()  # made at start-up
    assert list(data_dir.iterdir()) == []  # the probe leaves nothing behind

    ok = await readyz(make_settings(data_dir=data_dir, data_min_free_mb=0))
    assert ok.status_code == 200
    assert ok.json()["checks"]["disk"] == "ok"


async def test_a_data_dir_that_cannot_be_made_is_not_ready(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    response = await readyz(make_settings(data_dir=blocker / "data"))
    assert response.status_code == 503
    assert "does not exist" in response.json()["reasons"]["disk"]


async def test_a_sqlite_database_elsewhere_is_checked_too(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from service.readiness import directories_to_check

    data_dir = tmp_path / "data"
    assert directories_to_check(data_dir, f"sqlite:///{data_dir}/scriptbots.db") == [data_dir]
    assert directories_to_check(data_dir, "sqlite:////elsewhere/x.db") == [
        data_dir,
        Path("/elsewhere"),
    ]
    assert directories_to_check(data_dir, "postgresql+psycopg://u@h/db") == [data_dir]


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, where this machine lets the test mount one."""
    mountpoint = tmp_path / "tmpfs"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the floor test covers the check")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(directory: Path, leave_bytes: int = 0) -> Path:
    """A file taking all the free space of ``directory``'s file system but ``leave_bytes``."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as file:
        while True:
            stats = os.statvfs(directory)
            room = stats.f_bavail * stats.f_frsize - leave_bytes
            if room <= 0 and leave_bytes:
                return filler
            try:
                file.write(b"\0" * max(4096, min(room, 65536)))
            except OSError:  # ENOSPC: full
                return filler


def wait_for(base: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        response = httpx.get(f"{base}/readyz", timeout=10)
        if response.status_code == status:
            return response
        assert time.monotonic() < deadline, response.text
        time.sleep(0.1)


def test_a_full_data_dir_turns_readyz_red(tiny_tmpfs: Path, tmp_path: Path) -> None:
    env = clean_environment(
        SCRIPTBOTS_SECRET_KEY=secrets.token_urlsafe(32),
        SCRIPTBOTS_DATA_DIR=str(tiny_tmpfs),  # the SQLite database too, by default
        SCRIPTBOTS_DATA_MIN_FREE_MB="1",
    )
    server = Server(cwd=tmp_path, env=env, port=free_port())
    try:
        base = server.wait_until_up()
        wait_for(base, 200)
        assert (tiny_tmpfs / "scriptbots.db").exists()

        filler = fill(tiny_tmpfs)
        full = wait_for(base, 503)
        assert "No space left on device" in full.json()["reasons"]["disk"]
        assert str(tiny_tmpfs) in full.json()["detail"]
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200

        filler.unlink()
        wait_for(base, 200)

        filler = fill(tiny_tmpfs, leave_bytes=256 * 1024)  # writable, under the 1 MiB floor
        low = wait_for(base, 503)
        assert "below the floor of 1 MiB" in low.json()["reasons"]["disk"]
        filler.unlink()
        wait_for(base, 200)
    finally:
        server.stop()
