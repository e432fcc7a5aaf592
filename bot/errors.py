"""The bot's own errors: the bot-side branches of the one tree drawn in tools/errors.py.

```
RegentError (tools.errors)
├── ConfigError
│   └── CronError            a digest schedule or time zone (also a ValueError, so pydantic locates it)
├── InvalidInput
│   └── RequestRefused       bot.web refused an HTTP request (`status`, `headers`) before using any of it
├── LLMError                 the LLM endpoint failed; `status` when it answered
└── DemoError                a local demo part failed (also a RuntimeError, which the runners always were)
    ├── MissingBinary        a binary the demo needs is not installed (`name`, `apt_package`)
    ├── EngineError          the Docker Engine API refused a request
    ├── SeedError            the registry refused part of a push
    └── ModelSetupError      bot.demo.model_cache: the local model cannot be set up or started
```
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.errors import ConfigError, InvalidInput, RegentError


class CronError(ConfigError, ValueError):
    """A cron expression or time zone that cannot be used; the message says which part and why."""


class RequestRefused(InvalidInput):
    """An HTTP request refused before any of it was used; the endpoint answers `status` with the message."""

    def __init__(self, status: int, message: str, *, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.headers = tuple(headers)


class LLMError(RegentError):
    """The LLM endpoint failed; `message` is safe to show a user."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class DemoError(RegentError, RuntimeError):
    """A part `regent demo` and the tests start locally (registry, dockerd, model) failed."""


class MissingBinary(DemoError):
    """A binary the sandbox needs is not installed; the message says which apt package provides it."""

    def __init__(self, name: str, apt_package: str) -> None:
        super().__init__(f"{name} not found: apt-get install {apt_package}")
        self.name = name
        self.apt_package = apt_package


class EngineError(DemoError):
    """The Docker Engine API refused a request; the message has the status and body."""


class SeedError(DemoError):
    """The registry refused part of a push; the message has the status and body."""
