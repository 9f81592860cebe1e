"""Log lines: one per request (web/observability.py) and per job step, as text or JSON.

Every line carries the id of the request it belongs to (a context variable that follows
the request into the worker thread that renders it), so an operator can grep one request
across the web log, the store's errors and the reply's `X-Request-ID` header.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

LOG_FORMATS = ("text", "json")
request_id: ContextVar[str] = ContextVar("paperfeed_request_id", default="-")
# Keys a log call may pass in `extra` that become fields of the line.
FIELDS = ("method", "route", "path", "status", "duration_ms", "client", "job", "step")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k in FIELDS}


class TextFormatter(logging.Formatter):
    """`TIME LEVEL LOGGER MESSAGE key=value ... request_id=ID`, one physical line: a
    newline in a message (hostile input in a path, a traceback) is escaped."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        parts = [moment.replace("+00:00", "Z"), record.levelname, record.name, record.getMessage()]
        parts += [f"{k}={v}" for k, v in _fields(record).items()]
        parts.append(f"request_id={getattr(record, 'request_id', '-')}")
        line = " ".join(str(p) for p in parts)
        if record.exc_info:
            line += " | " + self.formatException(record.exc_info)
        return line.replace("\r", "\\r").replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line: dict[str, Any] = {
            "time": moment.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _stamp_request_id(
    factory: Callable[..., logging.LogRecord],
) -> Callable[..., logging.LogRecord]:
    """Every record gets the current request's id when it is made, in the request's own
    context, whichever handler (ours, a test's, an embedding app's) formats it later."""

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = request_id.get()
        return record

    make.stamps_request_id = True  # type: ignore[attr-defined]
    return make


if not getattr(logging.getLogRecordFactory(), "stamps_request_id", False):
    logging.setLogRecordFactory(_stamp_request_id(logging.getLogRecordFactory()))


class _PaperfeedHandler(logging.StreamHandler):
    """Marks the handler configure_logging installs, so that a second call replaces it."""


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send every logger's lines (paperfeed's, uvicorn's) to stderr in `log_format`. A
    process whose logging is set up already (a test runner, an embedding server) keeps
    its own handlers; request ids reach those too."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format is one of {', '.join(LOG_FORMATS)}")
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _PaperfeedHandler)]
    if len(ours) < len(root.handlers):
        return
    for handler in ours:
        root.removeHandler(handler)
    handler = _PaperfeedHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's own access log would repeat the request line without the request id;
    # httpx would add a line per request paperfeed makes (sources log their own steps).
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
