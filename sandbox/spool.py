"""Attachment bytes on their way through the host: a megabyte in memory, the rest in an
unnamed temporary file, so that the host's memory never grows with an attachment's size
(issue 11). What ``RunServices.upload`` is handed."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO

SPOOL_MEMORY_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 1024 * 1024


class Spool:
    """Written once in order, then read (from the start) as often as needed; ``close``
    when done. Reading whole (``read``) is for small files and tests."""

    def __init__(self) -> None:
        # Closed by close(): a spool outlives any one block of code.
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
        self.size = 0

    @classmethod
    def of(cls, data: bytes) -> Spool:
        spool = cls()
        spool.write(data)
        return spool

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self.size += len(data)

    def chunks(self, size: int = READ_CHUNK_BYTES) -> Iterator[bytes]:
        """The contents from the start, at most ``size`` bytes at a time."""
        self._file.seek(0)
        while data := self._file.read(size):
            yield data

    def file(self) -> IO[bytes]:
        """The contents as a binary file, positioned at the start (for an HTTP body)."""
        self._file.seek(0)
        return self._file

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def close(self) -> None:
        self._file.close()

    def __del__(self) -> None:  # a spool nobody closed still leaves no file behind
        self._file.close()
