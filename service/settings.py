"""Settings (SPEC §2): every ``SCRIPTBOTS_*`` variable, read from the environment and ``.env``.

Built once by ``cli.py`` (or a test) and handed down; no module holds a settings object.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SCRIPTBOTS_"
DATA_DIR = Path("var")
SECRET_KEY_NAME = "secret.key"
MIN_SECRET_KEY_CHARS = 16


# fastapi_poe's default ``upload_file(base_url=...)`` (SPEC §2), written out so that reading
# settings does not import fastapi_poe; a test keeps the two equal.
FASTAPI_POE_UPLOAD_BASE = "https://www.quora.com/poe_api/"
Positive = Annotated[int, Field(gt=0)]


class Settings(BaseSettings):
    """The service's configuration; each field is one ``SCRIPTBOTS_<FIELD>`` variable."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Field(
        DATA_DIR,
        description="The service's own files: the default SQLite database, the generated "
        "secret key; /readyz checks that it is writable with DATA_MIN_FREE_MB free.",
    )
    data_min_free_mb: int = Field(
        64,
        ge=0,
        le=2**40,
        description="/readyz fails when the data directory (and a SQLite database's) has "
        "less free space than this, MiB.",
    )
    database_url: str = Field(
        "sqlite:///var/scriptbots.db",
        description="Any SQLAlchemy URL; PostgreSQL (postgresql+psycopg://...) for production; "
        "by default a SQLite file in DATA_DIR.",
    )
    host: str = Field("127.0.0.1", min_length=1, description="Listen address.")
    port: int = Field(8000, ge=1, le=65535, description="Listen port.")
    public_url: AnyHttpUrl | None = Field(
        None, description="Base of printed bot and attachment URLs; default http://HOST:PORT."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Encrypts stored access keys and signs sessions; "
        "generated into DATA_DIR/secret.key on first start when unset.",
    )
    poe_api_base: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.poe.com/bot/"),
        description="Where poe.call sends calls to bots that are not hosted here.",
    )
    poe_access_key: SecretStr | None = Field(
        None,
        description="The Poe access key of `scriptbots run`'s bot calls (the server uses "
        "each script's own).",
    )
    poe_file_upload_base: AnyHttpUrl = Field(
        AnyHttpUrl(FASTAPI_POE_UPLOAD_BASE),
        description="Where attachments go when a query came from Poe.",
    )
    run_timeout_s: Positive = Field(
        600, description="Wall-clock limit of one run, seconds (Poe's response deadline)."
    )
    run_cpu_s: Positive = Field(30, description="CPU-time limit of one run, seconds.")
    run_memory_mb: Positive = Field(1024, description="Memory limit of one run, MiB.")
    run_disk_mb: Positive = Field(
        256, description="Size of one run's scratch directory, MiB (memory on top of the above)."
    )
    run_max_bot_calls: Positive = Field(10, description="Bot calls one query may make.")
    run_max_output_chars: Positive = Field(
        100_000, description="Response text one run may produce."
    )
    creator_max_concurrent_runs: Positive = Field(
        8, description="Runs of one creator's scripts at once."
    )
    run_lease_s: int = Field(
        45,
        ge=3,
        le=3600,
        description="How long a run stays counted after its server stops renewing it, "
        "seconds: a server that died leaves its runs ended by another within this and a third.",
    )
    sandbox_slots: int = Field(
        128,
        ge=1,
        le=2046,
        description="Queries running in sandboxes at once in one server process; more wait "
        "in their creator's queue, the queues served in turn.",
    )
    shutdown_grace_s: int = Field(
        30,
        ge=0,
        le=3600,
        description="On SIGTERM, how long runs in progress may go on before they are ended "
        "with an error event, seconds.",
    )
    # Storage bounds (issue 11): every run's record and every creator's files are bounded.
    run_max_transcript_mb: Positive = Field(
        5,
        description="Transcript one run may store, MiB; past it a marker event, then only "
        "the run's ending (rewrites replace the text before them either way).",
    )
    creator_max_files_mb: Positive = Field(
        1024,
        description="Attachment bytes the service keeps for one creator's runs, MiB; an "
        "attachment past it is refused with an error the script sees, nothing stored.",
    )
    retention_days: Positive = Field(
        30,
        description="Runs, their transcripts and reports, and kept files older than this are "
        "deleted by the service, days.",
    )
    retention_interval_s: Positive = Field(
        3600,
        description="How often each server deletes what the retention allows, seconds "
        "(in batches; replicas may overlap safely).",
    )
    bot_max_body_mb: Positive = Field(
        8,
        description="Largest /bots request body, MiB: a conversation filling the largest "
        "context window of a bot on Poe (2M tokens, about 8 MiB of text) fits.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info",
        description="Lowest level logged; uvicorn's line per HTTP request is at debug, "
        "the line per run at info.",
    )
    allow_signup: bool | None = Field(
        None,
        description="Whether the web page lets creators sign up; unset: only while the "
        "service is on loopback (a public service opens sign-up only when told to).",
    )
    fetch_allow_private: bool = Field(
        False,
        description="Whether attachment URLs on loopback, private or link-local addresses "
        "may be fetched for a script.",
    )
    allow_half_shield: bool = Field(
        True,
        description="Whether scripts whose header says `# poe: privacy_shield=half` may make "
        "HTTP requests of their own (through the service); false: they are refused.",
    )
    run_max_http_requests: Positive = Field(
        100, description="HTTP requests one half-shield run may make (redirects count)."
    )
    egress_allow: str = Field(
        "",
        description="Hosts half-shield scripts may reach, comma-separated patterns "
        "(`api.openai.com`, `*.example.com`); empty: any public host.",
    )

    @model_validator(mode="before")
    @classmethod
    def _database_in_data_dir(cls, data: Any) -> Any:
        """No DATABASE_URL: the SQLite file lives in DATA_DIR (var/scriptbots.db unset)."""
        if isinstance(data, dict) and not data.get("database_url") and data.get("data_dir"):
            data = {**data, "database_url": f"sqlite:///{Path(data['data_dir'])}/scriptbots.db"}
        return data

    @field_validator("database_url")
    @classmethod
    def _parseable_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url  # here: the CLI's `check` needs no SQLAlchemy
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a SQLAlchemy database URL: {exc}") from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_KEY_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_CHARS} characters long")
        return value

    @property
    def base_url(self) -> str:
        """PUBLIC_URL without its trailing slash, or http://HOST:PORT when unset."""
        if self.public_url is not None:
            return str(self.public_url).rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def signup_allowed(self) -> bool:
        """ALLOW_SIGNUP, or by default whether PUBLIC_URL (HOST:PORT) is a loopback address."""
        if self.allow_signup is not None:
            return self.allow_signup
        host = (urlsplit(self.base_url).hostname or "").lower()
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def bot_url(self, name: str) -> str:
        """The Poe server-bot URL of the script ``name`` (SPEC §7)."""
        return f"{self.base_url}/bots/{name}"


class SettingsError(Exception):
    """A bad setting; ``str(exc)`` is the one line to show before stopping."""


def settings_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    field = str(error["loc"][0]) if error["loc"] else "?"
    variable = ENV_PREFIX + field.upper()
    given = (
        "" if field in ("secret_key", "poe_access_key") else f" (got {error.get('input')!r:.80})"
    )
    message = error["msg"].removeprefix("Value error, ")
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"bad setting {variable}: {message}{given}{more}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, ``.env`` and ``overrides``, with a secret key.

    When no SECRET_KEY is configured, one is read from (or created in) DATA_DIR/secret.key,
    mode 0600, so restarts keep decrypting stored access keys.
    """
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(settings_error(exc)) from None
    if settings.secret_key is None:
        key = _stored_secret_key(settings.data_dir / SECRET_KEY_NAME)
        settings = settings.model_copy(update={"secret_key": SecretStr(key)})
    return settings


def _stored_secret_key(path: Path) -> str:
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    except OSError as exc:
        raise SettingsError(
            f"bad setting {ENV_PREFIX}SECRET_KEY: cannot read {path}: {exc}"
        ) from None
    if key:
        if len(key) < MIN_SECRET_KEY_CHARS:
            raise SettingsError(f"bad setting {ENV_PREFIX}SECRET_KEY: {path} is too short")
        return key
    key = secrets.token_urlsafe(48)
    # Written whole to a private temporary file, then linked into place: two processes
    # starting at once both end up with the one key that won the link.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(key + "\n")
        os.link(temporary, path)
    except FileExistsError:
        return _stored_secret_key(path)
    except OSError as exc:
        raise SettingsError(
            f"bad setting {ENV_PREFIX}SECRET_KEY: unset, and cannot create {path}: {exc}"
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
    return key
