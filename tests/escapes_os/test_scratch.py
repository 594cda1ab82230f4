"""The run's scratch directory, with the restricted layer off: writable, fresh, capped, alone.

Stopped by: the mount namespace (the scratch directory is a tmpfs of the run's own, mounted
``noexec``, in a root that holds nothing else but the read-only Python library), its size
and inode caps, RLIMIT_FSIZE, and Landlock (reading and writing beneath it only)."""

from __future__ import annotations

import ast
import dataclasses
import os
import sys

import pytest

from sandbox import SandboxPool
from tests.conftest import LIBRARY_UNDER_SCRATCH
from tests.escapes_os.harness import attempt, outcome_of
from tests.sandbox.process.harness import QUICK, run

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL_DISK = dataclasses.replace(QUICK, disk_mb=8)

WORK_IN_SCRATCH = """
import os, sqlite3, tempfile, zipfile
print(os.getcwd())
with open("chart.png", "wb") as file:
    file.write(b"\\x89PNG" * 1000)
db = sqlite3.connect("x.db")
db.execute("create table t (v)")
db.executemany("insert into t values (?)", [(i,) for i in range(100)])
db.commit()
with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as tmp:
    tmp.write("hello")
with zipfile.ZipFile("out.zip", "w") as archive:
    archive.write("chart.png")
    archive.write(tmp.name, "t.txt")
os.makedirs("a/b/c")
os.rename("out.zip", "a/b/c/out.zip")
print(db.execute("select sum(v) from t").fetchone()[0], sorted(os.listdir(".")))
print(zipfile.ZipFile("a/b/c/out.zip").read("t.txt"))
"""
FILL_DISK = """
import errno
written = 0
try:
    while True:
        with open(f"part{written}", "wb") as file:
            file.write(b"x" * 2**20)
        written += 1
except OSError as exc:
    print("stopped", errno.errorcode[exc.errno], written)
"""
ONE_BIG_FILE = """
import errno
try:
    with open("big", "wb") as file:
        file.truncate(2**40)
except OSError as exc:
    print("stopped", errno.errorcode[exc.errno])
"""
FILL_INODES = """
import errno
made = 0
try:
    while True:
        open(f"f{made}", "w").close()
        made += 1
except OSError as exc:
    print("stopped", errno.errorcode[exc.errno], made)
"""


async def test_a_run_works_in_its_scratch_directory(open_pool: SandboxPool) -> None:
    outcome = await outcome_of(open_pool, WORK_IN_SCRATCH)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    lines = [line for line in outcome.text.splitlines() if line]
    assert lines[0] == "/tmp", lines
    total, listing = lines[1].split(" ", 1)
    assert total == "4950"
    names = [name for name in ast.literal_eval(listing) if name != LIBRARY_UNDER_SCRATCH]
    assert names[:2] == ["a", "chart.png"] and names[3:] == ["x.db"], names
    assert names[2].startswith("tmp") and names[2].endswith(".txt"), names
    assert lines[2] == "b'hello'"


async def test_nothing_survives_a_run__own_tmpfs_per_mount_namespace(
    open_pool: SandboxPool,
) -> None:
    first = await outcome_of(open_pool, "open('left-behind', 'w').write('x')\nprint('ok')")
    assert first.text.strip() == "ok", first.describe()
    second = await outcome_of(open_pool, "import os\nprint(os.listdir('.'))")
    left = [name for name in ast.literal_eval(second.text.strip()) if name != LIBRARY_UNDER_SCRATCH]
    assert left == [], second.describe()


async def test_filling_the_disk_stops_at_its_size__tmpfs_size(open_pool: SandboxPool) -> None:
    outcome = await run(open_pool, FILL_DISK, limits=SMALL_DISK)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    verdict, code, written = outcome.text.split()
    assert (verdict, code) == ("stopped", "ENOSPC")
    assert 4 <= int(written) <= 8
    big = await run(open_pool, ONE_BIG_FILE, limits=SMALL_DISK)
    assert big.text.split() == ["stopped", "EFBIG"], big.describe()  # RLIMIT_FSIZE


async def test_filling_the_inodes_stops__tmpfs_nr_inodes(open_pool: SandboxPool) -> None:
    outcome = await run(open_pool, FILL_INODES, limits=dataclasses.replace(QUICK, timeout_s=30))
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    verdict, code, made = outcome.text.split()
    assert (verdict, code) == ("stopped", "ENOSPC")
    assert int(made) < 20000


@pytest.mark.parametrize(
    "attack",
    [
        f"_result = open({PROJECT + '/pyproject.toml'!r}).read()",
        "_result = open('/etc/hostname').read()",
        "_result = open('/proc/self/mounts').read()",
        "_result = open('/sys/kernel/notes', 'rb').read()",
        "_result = open('/dev/null', 'rb').read()",
    ],
    ids=["project-file", "etc", "proc", "sys", "dev"],
)
async def test_nothing_outside_scratch_and_library_exists__mount_namespace(
    open_pool: SandboxPool, attack: str
) -> None:
    assert await attempt(open_pool, attack) == ("BLOCKED", "FileNotFoundError", "ENOENT")


async def test_the_project_directory_is_empty_and_unlistable__landlock(
    open_pool: SandboxPool,
) -> None:
    # It exists only when the venv lies inside it, as a bare directory on the way there.
    body = f"import os\n_result = os.listdir({PROJECT!r})"
    if LIBRARY_UNDER_SCRATCH is None:
        assert (await attempt(open_pool, body))[0] == "BLOCKED"
    else:  # beneath the scratch directory, readable: it holds the way to the library only
        outcome = await outcome_of(open_pool, body.replace("_result = ", "print(") + ")")
        assert outcome.text.strip() == "['.venv']", outcome.describe()


@pytest.mark.parametrize(
    "attack",
    [
        f"_result = open({os.__file__!r}, 'a').write('x')",
        f"import os\nos.mkdir({os.path.dirname(os.__file__) + '/made'!r})",
        f"import os\nos.unlink({os.__file__!r})",
    ],
    ids=["append", "mkdir", "unlink"],
)
async def test_the_library_is_read_only__bind_mount_and_landlock(
    open_pool: SandboxPool, attack: str
) -> None:
    verdict, kind, code = await attempt(open_pool, attack)
    assert verdict == "BLOCKED", kind
    assert code in ("EROFS", "EACCES", "EPERM"), (kind, code)


async def test_the_library_reads_for_lazy_imports(open_pool: SandboxPool) -> None:
    source = f"print(len(open({os.__file__!r}).read()) > 1000)\nimport tomllib\nprint(tomllib)"
    outcome = await outcome_of(open_pool, source)
    assert outcome.text.split()[0] == "True", outcome.describe()
    assert "tomllib" in outcome.text


async def test_files_written_cannot_be_mapped_executable__noexec(open_pool: SandboxPool) -> None:
    body = """
    import mmap
    with open("code.bin", "wb") as f:
        f.write(b"\\xc3" * 4096)
    with open("code.bin", "rb") as f:
        _result = mmap.mmap(f.fileno(), 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC)
    """
    assert (await attempt(open_pool, body))[:2] == ("BLOCKED", "PermissionError")


async def test_a_symlink_out_of_scratch_leads_nowhere__chroot_and_landlock(
    open_pool: SandboxPool,
) -> None:
    body = f"""
    import os
    os.symlink({sys.prefix!r} + "/../../etc/passwd", "link")
    os.symlink("/", "root")
    try:
        os.listdir("root")
    except PermissionError:
        pass
    else:
        raise AssertionError("the root could be listed")
    _result = open("link").read()
    """
    assert await attempt(open_pool, body) == ("BLOCKED", "FileNotFoundError", "ENOENT")
