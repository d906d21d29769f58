"""Logging: JSON lines for production, readable lines for a terminal."""

from __future__ import annotations

import json
import logging
import sys
import time

_EXTRA_FIELDS = ("method", "path", "status", "bytes", "duration_ms", "request_id", "client")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
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
            line = f"{stamp} {record.levelname.lower():7} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str, fmt: str) -> None:
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces every plugin it loads; keep its migration messages only.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
