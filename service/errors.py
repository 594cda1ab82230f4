"""Domain exceptions of the service. They carry data, never HTTP statuses.

    ScriptbotsError
    ├── NotFound          no such object for this creator (script, version, run, creator)
    ├── NameTaken         a script or creator name is already in use (case-insensitive)
    ├── InvalidName       a name that breaks the naming rule
    ├── InvalidSecret     a script secret's name or value breaks its rule, or too many
    ├── SourceRejected    the source does not compile under the sandbox policy
    │   └── SettingsFailed    it failed while its settings were read (saving runs it)
    ├── SourceTooLarge    the source is over the size limit
    ├── Unauthorized      no, an unknown or a revoked credential
    ├── SandboxBusy       no sandbox could read a saved script's settings right now
    ├── WeakPassword      a password that breaks the password rule (service/passwords.py)
    ├── QuotaExceeded     too many runs at once for one creator
    ├── FilesFull         a creator's kept attachments would pass their byte limit
    └── TryLater          refused for now; ``retry_after_s`` says when to come back
        ├── LoginThrottled  too many failed logins for the account or the address
        └── ServiceBusy     too much of one kind of work at once (password hashing)

``routes/errors.py`` is the one table from these classes to HTTP answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox import Problem


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


class InvalidSecret(ScriptbotsError):
    pass


class SourceRejected(ScriptbotsError):
    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        super().__init__(
            f"The source does not compile under the sandbox policy "
            f"({count} problem{'s' if count != 1 else ''})."
        )
        self.problems = problems


class SettingsFailed(SourceRejected):
    """Saving runs the script up to ``if __name__ == "__main__":`` for its settings, as Poe
    does; it failed there. ``problems`` holds the error at its line, ``error`` all of it."""

    def __init__(self, error: str, line: int | None) -> None:
        # Imported here: sandbox brings fastapi_poe and fastapi, 0.6 s of every CLI command's
        # start (the commands import this module; a settings run already has sandbox).
        from sandbox import Problem

        last = error.strip().splitlines()[-1] if error.strip() else error
        super().__init__([Problem(line or 1, 1, last)])
        self.args = (
            "The script failed while its settings were read (saving runs it up to "
            f'if __name__ == "__main__":, as Poe does):\n{error}',
        )
        self.error = error


class SandboxBusy(ScriptbotsError):
    pass


class SourceTooLarge(ScriptbotsError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"The source is {size} bytes; the limit is {limit} bytes.")
        self.size = size
        self.limit = limit


class Unauthorized(ScriptbotsError):
    pass


class QuotaExceeded(ScriptbotsError):
    pass


class FilesFull(ScriptbotsError):
    def __init__(self, name: str, size: int, used: int, limit: int) -> None:
        mib = 1024 * 1024
        super().__init__(
            f"The attachment {name!r} ({size / mib:.1f} MB) was not stored: this bot's "
            f"creator already keeps {used / mib:.1f} MB of attachments, and the limit is "
            f"{limit // mib} MB. Files of runs older than the retention period are deleted."
        )


class WeakPassword(ScriptbotsError):
    pass


class TryLater(ScriptbotsError):
    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


class LoginThrottled(TryLater):
    pass


class ServiceBusy(TryLater):
    pass
