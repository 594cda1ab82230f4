"""The script's ``poe`` runtime: stdlib, fastapi_poe types and sandbox.protocol only.

Everything leaving the script goes through a ``HostPort`` (``port.py``).
"""

from sandbox.poe.errors import BotCallError, BotError, LimitReached
from sandbox.poe.memory import MemoryPort
from sandbox.poe.namespace import ScriptNamespace, build_namespace
from sandbox.poe.port import HostPort

__all__ = [
    "BotCallError",
    "BotError",
    "HostPort",
    "LimitReached",
    "MemoryPort",
    "ScriptNamespace",
    "build_namespace",
]
