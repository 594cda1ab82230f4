"""SQLAlchemy 2 mapped classes: the schema the Alembic revisions build.

Any change here needs a new revision in ``migrations/versions`` (a test compares them).
Names are unique case-insensitively through a ``name_key`` column holding ``lower(name)``,
a plain unique constraint that every database enforces, also under concurrent inserts.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME_MAX = 40
# An autoincrementing 64-bit key; SQLite only autoincrements a column typed INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite would otherwise hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Creator(Base):
    __tablename__ = "creators"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    name_key: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # In every session cookie; raised by logout and password change, which so end every
    # session of the creator on every replica (a copied cookie included).
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """Only the SHA-256 of a token is kept; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    creator_id: Mapped[int] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Script(Base):
    __tablename__ = "scripts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    creator_id: Mapped[int] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    name_key: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    # What the creator set, validated by fastapi_poe.SettingsResponse (only the set fields).
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Fernet token of the Poe access key (service.security.AccessKeyCipher), or NULL.
    access_key_encrypted: Mapped[str | None] = mapped_column(Text)
    current_version: Mapped[int]
    # The effective settings changed since Poe last fetched them: the next query's meta
    # event says refetch_settings (with an access key set), and Poe fetches them.
    refetch_settings: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScriptVersion(Base):
    """Immutable once written: a source and what the service learnt from it."""

    __tablename__ = "script_versions"
    __table_args__ = (UniqueConstraint("script_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"))
    number: Mapped[int]
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    # Literal poe.call/poe.stream bot names and call-site counts (SPEC §5 default).
    bot_dependencies: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Call sites naming their bot by a computed name (a dropdown's value, say).
    dynamic_bot_calls: Mapped[int] = mapped_column(default=0, server_default="0")
    # What poe.update_settings set when this version was saved (None: it set nothing).
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The `# poe:` header comments, key → value in order; privacy_shield is one of them.
    header: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    privacy_shield: Mapped[str | None] = mapped_column(String(8))  # full | half
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    """One execution of a script version; written by the run orchestrator."""

    __tablename__ = "runs"
    __table_args__ = (
        Index(None, "script_id", "started_at"),
        Index(None, "started_at"),  # the retention's oldest first (service/runs/retention.py)
        # The quota counts running rows (service/runs/quotas.py): few, found by this index.
        Index(None, "status", "started_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"))
    # The run of the script that called this one (a hosted bot call), or NULL for a query.
    parent_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    version: Mapped[int]
    trigger: Mapped[str] = mapped_column(String(16))  # poe | console
    # running while in progress, then ok | error | timeout | killed | rejected
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    bot_calls: Mapped[int] = mapped_column(default=0)
    chars_out: Mapped[int] = mapped_column(default=0)
    # The last user message it answered, cut to QUERY_TEXT_CHARS (NULL before 0009).
    query_text: Mapped[str | None] = mapped_column(Text)
    poe_message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    poe_user_id: Mapped[str | None] = mapped_column(String(255))
    poe_conversation_id: Mapped[str | None] = mapped_column(String(255))
    # Renewed by the process driving the run while it lives; a `running` row whose lease
    # ran out belongs to a dead process: the quota ignores it and any replica ends it.
    lease_until: Mapped[datetime | None]


class RunEvent(Base):
    """The transcript of a run: its events in order (``seq`` from 0)."""

    __tablename__ = "run_events"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Report(Base):
    """A report_feedback / report_reaction / report_error request Poe sent for a script."""

    __tablename__ = "reports"
    __table_args__ = (Index(None, "script_id", "received_at"), Index(None, "received_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # feedback | reaction | error
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class File(Base):
    """An attachment a run produced, kept by the service when the query did not come from
    Poe (SPEC §7), served at ``/files/{id}``: the random id is the permission to read it."""

    __tablename__ = "files"
    __table_args__ = (Index(None, "created_at"),)  # the retention's oldest first

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    # Whose bytes these are: SCRIPTBOTS_CREATOR_MAX_FILES_MB bounds their sum (issue 11).
    creator_id: Mapped[int | None] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FileChunk(Base):
    """A file's bytes in pieces of at most a MiB (``seq`` from 0), so that neither storing
    nor serving a file holds it whole in a server's memory (issue 11)."""

    __tablename__ = "file_chunks"

    file_id: Mapped[str] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class LoginThrottle(Base):
    """Failed logins of one account or one address, shared by every replica: past a few,
    each further attempt must wait ``blocked_until`` (an exponential back-off)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)  # account:… | address:…
    failures: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    blocked_until: Mapped[datetime | None]


class AuditEvent(Base):
    """One action of a creator or on their account (``service/audit.py``): what was done to
    what, never a secret, a source or a password. Kept when the script it names is deleted."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "creator_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(40))  # script.created, token.revoked, ...
    subject: Mapped[str | None] = mapped_column(String(100))  # a script name, a token id
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    address: Mapped[str | None] = mapped_column(String(64))  # the client's, when known


class ScriptSecret(Base):
    """A named secret of a script (issue 10), given to its runs as ``os.environ[name]``.
    The value is a Fernet token (``AccessKeyCipher``), never stored or shown in clear."""

    __tablename__ = "script_secrets"
    __table_args__ = (UniqueConstraint("script_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    value_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
