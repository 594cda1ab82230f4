"""Readiness checks that need words: ``NotReady(reason)`` is what /readyz shows for a part.

``DiskCheck``: the data directory (and a SQLite database's own directory) must exist, take
a write (a probe file written and synced, so that a full file system answers ENOSPC here
rather than in the middle of recording a run) and keep ``DATA_MIN_FREE_MB`` free. A load
balancer then sends queries to a replica that can record them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url

MIB = 1024 * 1024


class NotReady(Exception):
    """A readiness check's failure; ``str(exc)`` says why, for the operator."""


def directories_to_check(data_dir: Path, database_url: str) -> list[Path]:
    """The data directory, and the SQLite database's directory when it is elsewhere."""
    paths = [data_dir]
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database_dir = Path(url.database).parent
        if database_dir.resolve() != data_dir.resolve():
            paths.append(database_dir)
    return paths


class DiskCheck:
    """Registered in ``app.state.readiness["disk"]``; raises ``NotReady`` with the reason."""

    def __init__(self, directories: list[Path], min_free_mb: int) -> None:
        self.directories = directories
        self.min_free_mb = min_free_mb

    def __call__(self) -> None:
        for directory in self.directories:
            self._check(directory)

    def _check(self, directory: Path) -> None:
        if not directory.is_dir():
            raise NotReady(f"the data directory {directory} does not exist")
        probe = directory / f".ready-{secrets.token_hex(6)}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, b"ready\n")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise NotReady(f"cannot write in {directory}: {exc.strerror or exc}") from None
        finally:
            probe.unlink(missing_ok=True)
        stats = os.statvfs(directory)
        free_mb = stats.f_bavail * stats.f_frsize // MIB
        if free_mb < self.min_free_mb:
            raise NotReady(
                f"{directory} has {free_mb} MiB free, below the floor of "
                f"{self.min_free_mb} MiB (SCRIPTBOTS_DATA_MIN_FREE_MB)"
            )
