"""The template's fastapi_poe (sandbox/protocol_types.py): the protocol types alone, and a
script sees exactly what it would see of the real package."""

from __future__ import annotations

import json
import subprocess
import sys

import fastapi_poe as fp
import pytest

from sandbox import SandboxPool
from sandbox.policy.modules import DENIED_NAMES, module_proxy
from sandbox.protocol_types import EXCEPTIONS, IMPORTED_TYPES, TYPES_NAMES
from tests.sandbox.process.harness import run

SURFACES = ("fastapi_poe", "fastapi_poe.types", "fastapi_poe.client", "fastapi_poe.base")
SERVER_AND_CLIENT = ("fastapi", "starlette", "sse_starlette", "uvicorn", "httpx", "rich")


def test_names_match_the_installed_fastapi_poe() -> None:
    """A new fastapi_poe that moves or adds a name fails here, not in a creator's script."""
    import fastapi_poe.base
    import fastapi_poe.client
    import fastapi_poe.types

    defined_in_types = {n for n in fp.__all__ if vars(fastapi_poe.types).get(n) is getattr(fp, n)}
    assert set(TYPES_NAMES) == defined_in_types
    for part, module in (("client", fastapi_poe.client), ("base", fastapi_poe.base)):
        shown = {
            n
            for n in fp.__all__
            if vars(module).get(n) is getattr(fp, n) and n not in DENIED_NAMES["fastapi_poe"]
        }
        assert shown == set(IMPORTED_TYPES[part]) | set(EXCEPTIONS[part]), part
        for name, bases in EXCEPTIONS[part].items():
            real = getattr(module, name)
            assert [b.__name__ for b in real.__bases__] == list(bases or ("Exception",))


def test_install_loads_the_types_without_the_server_or_the_client() -> None:
    program = f"""
import importlib.util, json, sys
# As the template starts (zygote.BOOTSTRAP): sandbox's __init__ is the host's, not run.
sys.modules["sandbox"] = importlib.util.module_from_spec(importlib.util.find_spec("sandbox"))
from sandbox import protocol_types
protocol_types.install()
import fastapi_poe as fp, fastapi_poe.client, fastapi_poe.base
print(json.dumps({{
    "loaded": sorted(m for m in {list(SERVER_AND_CLIENT)!r} if m in sys.modules),
    "all": sorted(fp.__all__),
    "message": fp.ProtocolMessage(role="user", content="hi").model_dump()["content"],
    "home": fp.ProtocolMessage.__module__,
    "no_retry": [c.__name__ for c in fp.BotErrorNoRetry.__mro__],
    "client_error_is_fp_error": fastapi_poe.client.BotError is fp.BotError,
    "home_of_error": fp.InsufficientFundError.__module__,
}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["loaded"] == []
    expected = {*TYPES_NAMES, *(n for names in EXCEPTIONS.values() for n in names)}
    assert set(seen["all"]) == expected and expected <= set(fp.__all__)
    assert seen["message"] == "hi" and seen["home"] == "fastapi_poe.types"
    assert seen["no_retry"] == [
        "BotErrorNoRetry",
        "BotError",
        "Exception",
        "BaseException",
        "object",
    ]
    assert seen["client_error_is_fp_error"] is True
    assert seen["home_of_error"] == "fastapi_poe.base"


def test_install_refuses_a_process_that_has_the_real_package() -> None:
    from sandbox import protocol_types

    with pytest.raises(RuntimeError, match="imported already"):
        protocol_types.install()
    assert sys.modules["fastapi_poe"] is fp


@pytest.mark.asyncio(loop_scope="module")
async def test_a_script_sees_the_surface_of_the_real_package(pool: SandboxPool) -> None:
    source = (
        "import json\nimport fastapi_poe\nimport fastapi_poe.types, fastapi_poe.client\n"
        "import fastapi_poe.base\n"
        "surfaces = {name: sorted(dir(module)) for name, module in [\n"
        "    ('fastapi_poe', fastapi_poe), ('fastapi_poe.types', fastapi_poe.types),\n"
        "    ('fastapi_poe.client', fastapi_poe.client), ('fastapi_poe.base', fastapi_poe.base)]}\n"
        "print(json.dumps(surfaces))\n"
    )
    outcome = await run(pool, source)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    # In this process, the policy's proxies are built over the real fastapi_poe.
    assert json.loads(outcome.text) == {name: sorted(dir(module_proxy(name))) for name in SURFACES}


@pytest.mark.asyncio(loop_scope="module")
async def test_a_script_uses_the_types_and_exceptions(pool: SandboxPool) -> None:
    source = (
        "import fastapi_poe as fp\nfrom fastapi_poe.client import BotErrorNoRetry\n"
        "try:\n    raise BotErrorNoRetry('no')\nexcept fp.BotError as exc:\n    caught = str(exc)\n"
        "part = fp.PartialResponse(text='x', is_replace_response=True)\n"
        "print(caught, part.text, part.is_replace_response)\n"
    )
    outcome = await run(pool, source)
    assert outcome.text == "no x True", outcome.describe()
