"""Log setup for every process: readable text by default, one JSON object a line when asked; and a
warning that a lasting condition repeats at most once a while.

Lines carry the request id (ingress) and the command id (both processes) when there is one: set in
`log_context` for the current task, or passed as `extra={"command_id": …}`.
"""

import contextvars
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

# The request or command being handled by the current task, for every line logged meanwhile.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
command_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("command_id", default=None)

# The password of a URL's userinfo (`scheme://user:password@`, the user possibly empty as in
# `redis://:password@host`): what httpx's request lines, a driver's error or a settings echo may carry.
_URL_PASSWORD = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@\s]*@")
# Libraries that log one INFO line per HTTP request (the management API on every uncached AMQP status):
# noise at that rate, and the line holds the request's URL.
_CHATTY_LOGGERS = ("httpx", "httpcore")

_TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s%(context)s"
_CONTEXT_KEYS = ("request_id", "command_id", "package_id")


class ContextFilter(logging.Filter):
    """Adds the task's request and command ids to every record that does not carry its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, var in (("request_id", request_id), ("command_id", command_id)):
            if not hasattr(record, key) and (value := var.get()) is not None:
                setattr(record, key, value)
        pairs = [f"{key}={getattr(record, key)}" for key in _CONTEXT_KEYS if hasattr(record, key)]
        record.context = f" [{' '.join(pairs)}]" if pairs else ""
        return True


def redact(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***`."""
    return _URL_PASSWORD.sub(r"\1:***@", text)


class RedactFilter(logging.Filter):
    """No password of a URL reaches a log line: the message and the traceback are redacted before any
    formatter sees them, whichever library logged them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if (clean := redact(message)) != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _CONTEXT_KEYS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_text:  # RedactFilter's, redacted
            entry["error"] = record.exc_text
        elif record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class QuietSupervisor(logging.Filter):
    """Drops FastStream's "callback for Task-N is being executed..." lines: one at INFO whenever a
    subscriber's task ends, every shutdown, which tell an operator nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("callback for ")


@dataclass
class OccasionalWarning:
    """A warning about a lasting condition met on every call (an API that stays unreachable): logged the
    first time, then at most once per `every_s`, saying how often it was met in between."""

    logger: logging.Logger
    every_s: float
    message: str
    _next: float = float("-inf")
    _unlogged: int = 0

    def note(self, cause: str) -> None:
        now = time.monotonic()
        if now < self._next:
            self._unlogged += 1
            return
        since = f"; {self._unlogged} more times since the last line" if self._unlogged else ""
        self.logger.warning("%s (%s)%s", self.message, cause, since)
        self._next, self._unlogged = now + self.every_s, 0


# FastStream's brokers and app log through this logger, so their lines take our format (and no colours):
# left alone, FastStream sets up a logger of its own, with ANSI colour codes, that does not propagate.
FASTSTREAM_LOGGER = logging.getLogger("livescore.faststream")
FASTSTREAM_LOGGER.addFilter(QuietSupervisor())


def configure_logging(log_format: str, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Every line through one handler on the root logger, to `stream` (default: stderr)."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def redact_last_resort() -> None:
    """Processes that configure no handler (the CLI) print warnings through Python's last resort
    handler: it redacts too."""
    if logging.lastResort is not None:
        logging.lastResort.addFilter(RedactFilter())
