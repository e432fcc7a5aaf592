"""Logging setup of the `regent` process: text for people, or one JSON object per line for log shippers.

`--log-format json` (or REGENT_LOG_FORMAT=json, read by bot.config) formats every record with
python-json-logger: `time`, `level`, `logger`, `message`, and `exc_info` when there is a traceback.
`status` lines (what `regent serve` says when it starts and stops) always show, in the same format.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")
STATUS = "regent.status"  # the logger of status lines: shown at any level
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (tests swap it), not the stream of its creation."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        del value


def _json_formatter() -> logging.Formatter:
    # Imported here: most runs log text, and every command starts by configuring logging (#17).
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields=_RENAMED,
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def configure_logging(*, verbose: bool, log_format: LogFormat) -> None:
    """Root handler on stderr (DEBUG with -v, else WARNING) and the status logger (always INFO)."""
    handler = _StderrHandler()
    handler.setFormatter(_json_formatter() if log_format == "json" else logging.Formatter(_TEXT))
    # Not forced: a root that already has handlers (pytest's capture) keeps them, as before.
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler])
    status = logging.getLogger(STATUS)
    status.handlers.clear()
    status_handler = _StderrHandler()
    status_handler.setFormatter(
        _json_formatter() if log_format == "json" else logging.Formatter("regent: %(message)s")
    )
    status.addHandler(status_handler)
    status.setLevel(logging.INFO)
    status.propagate = False


def say(message: str) -> None:
    """A status line: `regent: <message>` on stderr, or a JSON record in JSON mode."""
    status = logging.getLogger(STATUS)
    if not status.handlers:  # logging not configured (a test calling a command directly)
        print(f"regent: {message}", file=sys.stderr)
        return
    status.info(message)
