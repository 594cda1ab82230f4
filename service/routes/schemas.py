"""REST request and response models (never the tables). Settings are fastapi_poe's own."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Generic, Self, TypeVar

import fastapi_poe as fp
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from service.names import NAME_PATTERN, NAME_RULE, is_valid_name
from service.routes.unstorable import find_unstorable
from service.store.listing import Listing

ACCESS_KEY_CHARS = 32  # SPEC §5
# Visible ASCII only: the key travels in an Authorization header.
_ACCESS_KEY_PATTERN = rf"^[\x21-\x7e]{{{ACCESS_KEY_CHARS}}}$"
_ACCESS_KEY = re.compile(_ACCESS_KEY_PATTERN)

T = TypeVar("T")


def _check_name(value: str) -> str:
    if not is_valid_name(value):
        raise ValueError(f"a script name must be {NAME_RULE}")
    return value


def _check_access_key(value: str) -> str:
    if not _ACCESS_KEY.fullmatch(value):
        raise ValueError(f"a Poe access key is exactly {ACCESS_KEY_CHARS} visible ASCII characters")
    return value


ScriptName = Annotated[
    str,
    AfterValidator(_check_name),
    Field(
        json_schema_extra={"pattern": NAME_PATTERN},
        description=f"{NAME_RULE}; unique across the service, ignoring case.",
        examples=["hello-bot"],
    ),
]
AccessKey = Annotated[
    str,
    AfterValidator(_check_access_key),
    Field(
        json_schema_extra={"pattern": _ACCESS_KEY_PATTERN},
        description="The bot's Poe access key; stored encrypted, never returned.",
    ),
]
Source = Annotated[str, Field(description="Python source, UTF-8, at most 1 MiB.")]
BotSettings = Annotated[
    fp.SettingsResponse,
    Field(description="Poe settings: fastapi_poe's SettingsResponse fields."),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _encodable(self) -> Self:
        # Lone surrogates can be neither stored nor sent back as UTF-8: refused at the door.
        for name in self.model_fields_set:
            if find_unstorable(getattr(self, name)):
                raise ValueError("text must be valid Unicode (no lone surrogates)")
        return self


class ScriptCreate(_Input):
    """``name`` may be left out when the source has a ``# poe: name=NAME`` header line."""

    name: ScriptName | None = None
    source: Source
    poe_access_key: AccessKey | None = None
    settings: BotSettings | None = None


class ScriptUpdate(_Input):
    """Any of the fields: ``poe_access_key: null`` removes the key, ``settings: null``
    resets the settings; a new ``source`` makes a new version."""

    source: Source | None = None
    poe_access_key: AccessKey | None = None
    settings: BotSettings | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one of source, poe_access_key, settings")
        if "source" in self.model_fields_set and self.source is None:
            raise ValueError("source cannot be null; leave it out to keep the current source")
        return self


class ScriptSummary(BaseModel):
    name: str
    version: int = Field(description="The current version number.")
    bot_url: str = Field(description="The Poe server-bot URL to paste into Poe.")
    has_access_key: bool
    created_at: datetime
    updated_at: datetime


class VersionHeader(BaseModel):
    header: dict[str, str] = Field(
        default_factory=dict, description="The source's `# poe:` header keys, in order."
    )
    privacy_shield: str | None = Field(
        default=None, description="`# poe: privacy_shield=` of the source: full or half."
    )
    settings_from_source: dict[str, Any] | None = Field(
        default=None,
        description="What the source's poe.update_settings set when it was saved (these "
        "fields win over the settings given through the API).",
    )


class ScriptOut(ScriptSummary, VersionHeader):
    source: str
    settings: dict[str, Any] = Field(
        description="The settings the bot answers to Poe, server_bot_dependencies included."
    )


class VersionSummary(BaseModel):
    number: int
    sha256: str
    size: int = Field(description="Source size in bytes.")
    created_at: datetime


class VersionOut(VersionSummary, VersionHeader):
    source: str


class Page(BaseModel, Generic[T]):
    """One page of a list, newest or alphabetical first as the route says."""

    items: list[T]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, found: Listing, limit: int, offset: int, convert: Callable[[Any], T]) -> Page[T]:
        """The page answering a store listing, each row converted for the response."""
        items = [convert(row) for row in found.items]
        return cls(items=items, total=found.total, limit=limit, offset=offset)


class ErrorOut(BaseModel):
    detail: Any


class ProblemOut(BaseModel):
    line: int
    col: int
    message: str


class CompileErrorOut(BaseModel):
    detail: str
    errors: list[ProblemOut]


# -- runs and reports -------------------------------------------------------------------

MAX_CONSOLE_QUERY_CHARS = 100_000
MAX_QUERY_MESSAGES = 1000  # a conversation, from the console or from Poe (/bots)


class ConsoleRun(_Input):
    """The test console's query: ``{"query": "text"}`` (one user message) or
    ``{"messages": [ProtocolMessage, ...]}`` (a whole conversation, the last one the
    user's), exactly one of the two."""

    query: str | None = Field(None, max_length=MAX_CONSOLE_QUERY_CHARS)
    messages: list[fp.ProtocolMessage] | None = Field(
        None, min_length=1, max_length=MAX_QUERY_MESSAGES
    )

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.query is None) == (self.messages is None):
            raise ValueError("give exactly one of query and messages")
        return self

    def conversation(self) -> list[fp.ProtocolMessage]:
        if self.messages is not None:
            return self.messages
        return [fp.ProtocolMessage(role="user", content=self.query or "")]


class RunSummary(BaseModel):
    id: uuid.UUID
    version: int = Field(description="The script version that ran.")
    trigger: str = Field(description="poe (a query to the bot URL) or console.")
    status: str = Field(description="running, ok, error, timeout, killed or rejected.")
    query: str | None = Field(
        description="The user's message it answered (the last one, its first 2000 "
        "characters); null for runs recorded before it was kept."
    )
    started_at: datetime
    duration_ms: int | None
    error: str | None = Field(description="The error the user was shown, if any.")
    bot_calls: int
    chars_out: int = Field(description="Characters of response text sent.")
    message_id: str | None = Field(description="Poe's message id, which reports refer to.")
    parent_run_id: uuid.UUID | None = Field(
        description="The run whose script called this one as a bot, if any."
    )


class TranscriptEvent(BaseModel):
    event: str = Field(
        description="meta, text, replace_response, file, error or done (what the client "
        "received); http: one HTTP request of a half-shield script (method, host, path, "
        "status, bytes, duration_ms, error); transcript_truncated where the stored "
        "transcript reached SCRIPTBOTS_RUN_MAX_TRANSCRIPT_MB."
    )
    data: dict[str, Any]


class ReportOut(BaseModel):
    id: int
    kind: str = Field(description="feedback, reaction or error.")
    message_id: str | None
    run_id: uuid.UUID | None = Field(description="The run it was matched to, if any.")
    data: dict[str, Any] = Field(description="The request's fields, as Poe sent them.")
    received_at: datetime


class RunOut(RunSummary):
    transcript: list[TranscriptEvent] = Field(description="The events the client received.")
    reports: list[ReportOut]


TokenLabel = Annotated[
    str,
    Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$"),
]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: TokenLabel | None = Field(None, description="A note saying what the token is for.")


class TokenOut(BaseModel):
    """An API token as listed: never its secret (only its hash is stored)."""

    id: int
    label: str | None
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="Last authenticated request, to within a minute; null if never used."
    )


class TokenCreated(BaseModel):
    id: int
    token: str = Field(description="The token itself: shown this once, never again.")


class SecretSet(BaseModel):
    """PUT body of a script secret. The value is stored encrypted and never shown again."""

    value: str = Field(description="The secret's value: 1 to 8192 characters.", repr=False)


class SecretOut(BaseModel):
    name: str = Field(description="As the script reads it: `os.environ[name]`.")
    updated_at: datetime


class SecretsOut(BaseModel):
    items: list[SecretOut] = Field(description="The script's secrets by name; never values.")
