"""Logging: JSON lines for production, readable lines for a terminal.

One stream (stderr), one format: cargohold's own loggers and those of granian, the HTTP
server (`granian_log_config`), go through the same formatter; the access log's lines, written
in batches off the request path (`accesslog_writer`), have the same format.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from cargohold.accesslog_writer import configure_access_writer

_EXTRA_FIELDS = ("method", "path", "status", "bytes", "duration_ms", "request_id", "client")
_GRANIAN_LOGGERS = ("_granian", "granian.access")


def _logger_name(record: logging.LogRecord) -> str:
    # granian logs as "_granian" (and "_granian.serve", ...); people know it as granian.
    if record.name == "_granian" or record.name.startswith("_granian."):
        return record.name[1:]
    return record.name


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": _logger_name(record),
            "message": record.getMessage(),
        }
        for field in _EXTRA_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        if hasattr(record, "request_id"):
            line = (
                f"{stamp} {record.method} {record.path} {record.status} "  # type: ignore[attr-defined]
                f"{record.bytes}B {record.duration_ms}ms id={record.request_id}"  # type: ignore[attr-defined]
            )
        else:
            line = (
                f"{stamp} {record.levelname.lower():7} {_logger_name(record)}: "
                f"{record.getMessage()}"
            )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def resolved_format(fmt: str) -> str:
    """ "json" or "text": "auto" is text on a terminal, JSON lines otherwise."""
    if fmt == "auto":
        return "text" if sys.stderr.isatty() else "json"
    return fmt


def _formatter_class(fmt: str) -> type[logging.Formatter]:
    return JsonFormatter if resolved_format(fmt) == "json" else TextFormatter


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter_class(fmt)())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    try:
        stderr_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        stderr_fd = 2  # stderr replaced by an object without a descriptor
    configure_access_writer(stderr_fd, resolved_format(fmt))
    # Alembic announces every plugin it loads; keep its migration messages only.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def granian_log_config(fmt: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` document for granian's `log_dictconfig`.

    granian otherwise prints its own plain lines on stdout; this sends them to stderr
    through cargohold's formatter, in the supervisor and in every worker it spawns (each
    applies the document again, so the formatter is named by import path).
    """
    formatter = _formatter_class(fmt)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"cargohold": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "cargohold": {
                "class": "logging.StreamHandler",
                "formatter": "cargohold",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            name: {"handlers": ["cargohold"], "propagate": False} for name in _GRANIAN_LOGGERS
        },
    }
