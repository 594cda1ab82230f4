"""Domain exceptions of the service. They carry data, never HTTP statuses.

    ScriptbotsError
    ├── NotFound          no such object for this creator (script, version, run, creator)
    ├── NameTaken         a script or creator name is already in use (case-insensitive)
    ├── InvalidName       a name that breaks the naming rule
    ├── SourceRejected    the source does not compile under the sandbox policy
    ├── SourceTooLarge    the source is over the size limit
    ├── Unauthorized      no, an unknown or a revoked credential
    └── QuotaExceeded     too many runs at once for one creator

``routes/errors.py`` is the one table from these classes to HTTP answers.
"""

from __future__ import annotations

from sandbox.policy.compiler import Problem


class ScriptbotsError(Exception):
    """Base class; ``str(exc)`` is a sentence a creator can act on."""


class NotFound(ScriptbotsError):
    pass


class NameTaken(ScriptbotsError):
    def __init__(self, name: str, what: str = "script") -> None:
        super().__init__(f"The {what} name {name!r} is already taken; choose another.")
        self.name = name


class InvalidName(ScriptbotsError):
    pass


class SourceRejected(ScriptbotsError):
    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        super().__init__(
            f"The source does not compile under the sandbox policy "
            f"({count} problem{'s' if count != 1 else ''})."
        )
        self.problems = problems


class SourceTooLarge(ScriptbotsError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"The source is {size} bytes; the limit is {limit} bytes.")
        self.size = size
        self.limit = limit


class Unauthorized(ScriptbotsError):
    pass


class QuotaExceeded(ScriptbotsError):
    pass
