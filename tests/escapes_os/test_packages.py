"""Package and standard-library entry points, with the restricted layer off: what a script
that reached them could do is still nothing outside its process (issue 9).

Stopped by: seccomp (no exec, fork or sockets: pickle and YAML gadgets that start
commands), the mount namespace and Landlock (loaders reading host files), and the process
boundary (raw memory access through numpy or ctypes reaches the child's own memory only;
a bad address kills the child, never the host)."""

from __future__ import annotations

import pytest

from sandbox import SandboxPool
from tests.escapes_os.conftest import SECRET, Planted
from tests.escapes_os.harness import attempt, outcome_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

PICKLE_RUNS_A_COMMAND = (
    "import pickle\n_result = pickle.loads(b\"csubprocess\\ncheck_output\\n((lp0\\nS'id'\\natR.\")"
)
YAML_RUNS_A_COMMAND = (
    "import yaml\n"
    "_result = yaml.unsafe_load('!!python/object/apply:subprocess.check_output [[id]]')"
)
CTYPES_SOCKET = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
if libc.socket(2, 1, 0) < 0:
    raise OSError(ctypes.get_errno(), "socket")
_result = "a socket"
"""
NUMPY_CTYPESLIB_FILE_READ = """
import ctypes, numpy as np
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.open(b"{path}", 0)
if fd < 0:
    raise OSError(ctypes.get_errno(), "open")
_result = fd
"""
PANDAS_READS_HOST_FILE = "import pandas as pd\n_result = pd.read_csv('{path}')"
SQLITE_ATTACHES_HOST_DB = (
    "import sqlite3\ndb = sqlite3.connect('x.db')\n"
    "db.execute(\"attach database '{path}' as host\")\n"
    "_result = db.execute('select * from host.sqlite_master').fetchall()"
)
MATPLOTLIB_SAVES_OUTSIDE = (
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
    "plt.plot([1, 2])\nplt.savefig('{path}.png')"
)
REQUESTS_REACHES_HOST = "import requests\n_result = requests.get('http://127.0.0.1:{port}/')"
AS_STRIDED_WILD_READ = """
import numpy as np
from numpy.lib.stride_tricks import as_strided
base = np.zeros(1, dtype=np.uint8)
wild = as_strided(base, shape=(2,), strides=(2**46,))  # far past any mapping
print(int(wild[1]))
"""


async def test_a_pickle_gadget_cannot_start_a_command__seccomp(open_pool: SandboxPool) -> None:
    assert (await attempt(open_pool, PICKLE_RUNS_A_COMMAND))[:2] == ("BLOCKED", "PermissionError")


async def test_a_yaml_gadget_cannot_start_a_command__seccomp(open_pool: SandboxPool) -> None:
    assert (await attempt(open_pool, YAML_RUNS_A_COMMAND))[:2] == ("BLOCKED", "PermissionError")


async def test_ctypes_cannot_open_a_socket__seccomp(open_pool: SandboxPool) -> None:
    assert await attempt(open_pool, CTYPES_SOCKET) == ("BLOCKED", "PermissionError", "EPERM")


async def test_raw_open_of_a_host_file_finds_nothing__mount_namespace(
    open_pool: SandboxPool, planted: Planted
) -> None:
    body = NUMPY_CTYPESLIB_FILE_READ.format(path=planted.secret_key)
    assert await attempt(open_pool, body) == ("BLOCKED", "FileNotFoundError", "ENOENT")


@pytest.mark.parametrize(
    "attack",
    [PANDAS_READS_HOST_FILE, SQLITE_ATTACHES_HOST_DB, MATPLOTLIB_SAVES_OUTSIDE],
    ids=["pandas-read-csv", "sqlite-attach", "matplotlib-savefig"],
)
async def test_package_loaders_reach_no_host_file__mount_namespace_and_landlock(
    open_pool: SandboxPool, planted: Planted, attack: str
) -> None:
    verdict, kind, _ = await attempt(open_pool, attack.format(path=planted.database))
    assert verdict == "BLOCKED"
    assert kind in ("FileNotFoundError", "OperationalError", "PermissionError", "OSError"), kind


async def test_http_clients_reach_no_host_service__seccomp(
    open_pool: SandboxPool, planted: Planted
) -> None:
    body = REQUESTS_REACHES_HOST.format(port=planted.listener_port)
    assert (await attempt(open_pool, body))[:2] == ("BLOCKED", "ConnectionError")


async def test_wild_memory_access_ends_only_the_child(
    open_pool: SandboxPool, planted: Planted
) -> None:
    crashed = await outcome_of(open_pool, AS_STRIDED_WILD_READ)
    assert crashed.end is not None and crashed.end.status != "ok", crashed.describe()
    assert SECRET not in crashed.text and SECRET not in (crashed.end.error or "")
    after = await outcome_of(open_pool, "print('still serving')")
    assert after.text.strip() == "still serving", after.describe()
