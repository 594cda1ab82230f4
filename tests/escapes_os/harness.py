"""Attacks as plain Python, each reporting how it was stopped in one line the test can parse."""

from __future__ import annotations

import textwrap

from sandbox import SandboxPool
from tests.sandbox.process.harness import Outcome, run

_WRAPPER = """
import errno as _errno
try:
{body}
    print("ESCAPED", repr(_result) if "_result" in dir() else "")
except BaseException as _exc:
    _code = getattr(_exc, "errno", None) or 0
    print("BLOCKED", type(_exc).__name__, _errno.errorcode.get(_code, "-"))
"""


async def attempt(pool: SandboxPool, body: str) -> tuple[str, str, str]:
    """Run ``body`` unrestricted; ("BLOCKED", exception type, errno name) or ("ESCAPED", ...)."""
    source = _WRAPPER.format(body=textwrap.indent(textwrap.dedent(body).strip(), "    "))
    outcome = await run(pool, source)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    first = outcome.text.strip().splitlines()[0]
    verdict, _, rest = first.partition(" ")
    kind, _, code = rest.partition(" ")
    return verdict, kind, code


async def outcome_of(pool: SandboxPool, source: str) -> Outcome:
    return await run(pool, textwrap.dedent(source))
