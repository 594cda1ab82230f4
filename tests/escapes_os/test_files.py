"""The file system, with the restricted layer off: nothing to read, nothing to write.

Stopped by: the mount namespace (an empty, read-only tmpfs is the root: no path names a host
file) and Landlock (even that empty root cannot be listed or written)."""

from __future__ import annotations

import pytest

from sandbox import SandboxPool
from tests.escapes_os.conftest import SECRET, Planted
from tests.escapes_os.harness import attempt, outcome_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

READ_ENVIRON = "_result = open('/proc/self/environ', 'rb').read()"
READ_PASSWD = "_result = open('/etc/passwd').read()"
READ_HOST_ENVIRON = "_result = open('/proc/{host_pid}/environ', 'rb').read()"
READ_OTHER_PROC_MEM = "_result = open('/proc/{host_pid}/mem', 'rb').read(1)"
READ_SECRET_KEY = "_result = open('{secret_key}').read()"
READ_DATABASE = "_result = open('{database}').read()"
OPEN_BY_FD_DIR = (
    "import os\n_result = os.open('/', os.O_RDONLY | os.O_DIRECTORY)\nos.listdir(_result)"
)


@pytest.mark.parametrize(
    "attack",
    [
        READ_ENVIRON,
        READ_PASSWD,
        READ_HOST_ENVIRON,
        READ_OTHER_PROC_MEM,
        READ_SECRET_KEY,
        READ_DATABASE,
    ],
    ids=["proc-self-environ", "etc-passwd", "host-environ", "host-mem", "secret-key", "database"],
)
async def test_host_files_do_not_exist_for_the_child__mount_namespace(
    open_pool: SandboxPool, planted: Planted, attack: str
) -> None:
    body = attack.format(
        host_pid=planted.host_pid, secret_key=planted.secret_key, database=planted.database
    )
    assert await attempt(open_pool, body) == ("BLOCKED", "FileNotFoundError", "ENOENT")


async def test_even_the_empty_root_cannot_be_listed__landlock(open_pool: SandboxPool) -> None:
    assert await attempt(open_pool, "import os\n_result = os.listdir('/')") == (
        "BLOCKED",
        "PermissionError",
        "EACCES",
    )
    assert (await attempt(open_pool, OPEN_BY_FD_DIR))[:2] == ("BLOCKED", "PermissionError")


@pytest.mark.parametrize(
    "attack",
    [
        "_result = open('/written', 'w').write('x')",
        "import os\nos.mkdir('/made')",
        "import os\nos.symlink('/etc/passwd', '/link')",
        "import os\nos.mknod('/fifo', 0o600 | 0o010000)",
    ],
    ids=["write", "mkdir", "symlink", "mknod"],
)
async def test_nothing_can_be_written__mount_namespace_read_only_and_landlock(
    open_pool: SandboxPool, attack: str
) -> None:
    verdict, kind, code = await attempt(open_pool, attack)
    assert verdict == "BLOCKED"
    assert code in ("EROFS", "EACCES", "EPERM"), (kind, code)


async def test_the_secret_never_reaches_the_output(
    open_pool: SandboxPool, planted: Planted
) -> None:
    source = f"""
    import os
    found = []
    for path in ('{planted.secret_key}', '{planted.database}', '/proc/self/environ',
                 '/proc/1/environ', '/proc/{planted.host_pid}/environ'):
        try:
            found.append(open(path, 'rb').read().decode(errors='replace'))
        except OSError as exc:
            found.append(type(exc).__name__)
    print(found)
    """
    outcome = await outcome_of(open_pool, source)
    assert SECRET not in outcome.text and SECRET not in (outcome.end.error or "")  # type: ignore[union-attr]
