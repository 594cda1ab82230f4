"""The service's own ``PUBLIC_URL/files/`` URLs are read from its store, whatever the
fetch rules say of PUBLIC_URL's address (loopback by default); anything else is fetched by
the rules as before."""

from __future__ import annotations

import pytest

from sandbox import Spool
from service.runs.attachments import (
    AttachmentError,
    MemoryAttachmentStore,
    OwnFiles,
    UrlFetcher,
)

FILES_URL = "http://127.0.0.1:8000/files/"


async def _read(fetcher: UrlFetcher, url: str) -> bytes:
    return b"".join([chunk async for chunk in fetcher.fetch(url)])


async def test_own_files_come_from_the_store_and_others_follow_the_rules() -> None:
    store = MemoryAttachmentStore()
    file_id = await store.save("a.bin", "application/octet-stream", Spool.of(b"\x00stored"))
    fetcher = UrlFetcher(allow_private=False, own_files=OwnFiles(FILES_URL, store))
    assert await _read(fetcher, FILES_URL + file_id) == b"\x00stored"
    with pytest.raises(AttachmentError, match="does not exist"):
        await _read(fetcher, FILES_URL + "not-an-id")
    with pytest.raises(AttachmentError, match="does not exist"):
        await _read(fetcher, FILES_URL + "../" + file_id)
    with pytest.raises(AttachmentError, match="loopback"):  # the rules, for any other URL
        await _read(fetcher, "http://127.0.0.1:8000/elsewhere/" + file_id)
