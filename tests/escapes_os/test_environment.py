"""The environment, with the restricted layer off: the child has none, and no way to see the
host's. Stopped by: the clean process (the template starts with an empty environment, and so
every child) and the mount namespace (no /proc to read another process's)."""

from __future__ import annotations

import pytest

from sandbox import SandboxPool
from tests.escapes_os.conftest import SECRET, SECRET_ENV
from tests.escapes_os.harness import outcome_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

DUMP_ENVIRONMENT = """
import os
print(repr(dict(os.environ)), repr(os.environ.get('{name}')), os.getenv('PATH'))
"""


async def test_environment_is_empty__clean_process(open_pool: SandboxPool) -> None:
    outcome = await outcome_of(open_pool, DUMP_ENVIRONMENT.format(name=SECRET_ENV))
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert outcome.text.strip() == "{} None None"
    assert SECRET not in outcome.text


async def test_no_descriptor_but_the_channel__clean_process(open_pool: SandboxPool) -> None:
    source = """
    import os
    open_fds = []
    for fd in range(64):
        try:
            os.fstat(fd)
            open_fds.append(fd)
        except OSError:
            pass
    print(open_fds)
    """
    outcome = await outcome_of(open_pool, source)
    assert outcome.text.strip() == "[0, 1, 2, 3]", outcome.describe()
