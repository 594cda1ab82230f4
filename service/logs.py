"""Logs as one JSON object per line (SPEC §9). Only ``cli.py`` configures logging."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_DROPPED = {"color_message"}  # uvicorn's ANSI-coloured copy of the message
ACCESS_LOGGER = "uvicorn.access"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _DROPPED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _at_debug(record: logging.LogRecord) -> bool:
    """Moves a record to DEBUG: a server's terminal shows one line per run, not per request."""
    record.levelno, record.levelname = logging.DEBUG, "DEBUG"
    return True


def configure_logging(level: int = logging.INFO) -> None:
    """Send every logger (uvicorn's too) to standard error as JSON lines, from ``level`` up;
    uvicorn's access log is at DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(level)  # after the access log's filter has moved its records to DEBUG
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    access = logging.getLogger(ACCESS_LOGGER)
    if _at_debug not in access.filters:
        access.addFilter(_at_debug)
    # Alembic's plugin set-up chatter is noise; its "Running upgrade" lines are not.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
    # httpx logs each request's full URL at INFO: a half-shield script's URLs may carry its
    # secrets (issue 10), and are the script's business, not the log's.
    logging.getLogger("httpx").setLevel(logging.WARNING)


# The one line per run (STYLE: logging). Only these fields are written, whatever a caller
# passes: never a source, a query's text, a token or a key.
RUN_FIELDS = (
    "run_id",
    "script",
    "creator",
    "trigger",
    "status",
    "duration_ms",
    "bot_calls",
    "chars_out",
    "sandbox_start_ms",
    "parent_run_id",
)


def log_run(logger: logging.Logger, **fields: Any) -> None:
    """Log a run that ended, at INFO, as JSON fields of one line."""
    logger.info("run ended", extra={k: fields[k] for k in RUN_FIELDS if k in fields})
