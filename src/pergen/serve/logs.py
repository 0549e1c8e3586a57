"""Logging for `pergen serve`: control characters escaped, or one JSON object per line.

Why: paths are logged decoded, so ``%0A`` in a user id wrote a forged line into the log
and ``%00`` a NUL byte. Every record is escaped here, after formatting, whatever logger
made it (uvicorn's access and error logs, pergen's own): a log line is always one line.
`--log-format json` writes ``{"time", "level", "logger", "message"}`` per line for log
pipelines (JSON escapes control characters by itself).
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
FORMATS = ("text", "json")


def escape(text: str) -> str:
    """Control characters (and lone surrogates) as visible ``\\xNN`` / ``\\uNNNN`` escapes."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace")
                        .decode("ascii"), text)


class EscapingFormatter(logging.Formatter):
    """The usual text line, with every control character escaped."""

    def format(self, record: logging.LogRecord) -> str:
        return escape(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record (no traceback: it could quote item text)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return json.dumps({"time": f"{stamp}.{int(record.msecs):03d}Z",
                           "level": record.levelname.lower(), "logger": record.name,
                           "message": escape(record.getMessage())})


def log_config(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn's and pergen's loggers."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; known: {', '.join(FORMATS)}")
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else
        {"()": f"{__name__}.EscapingFormatter", "fmt": "%(levelname)s:     %(name)s: %(message)s"})
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    level = level.upper()
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "loggers": {name: {"handlers": ["main"], "level": level, "propagate": False}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "pergen")},
    }
