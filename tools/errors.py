"""Every error Regent raises on purpose, in one tree; clients translate third-party exceptions into these.

```
Exception
└── RegentError                    the message is safe to show a user
    ├── ConfigError                configuration or an input file is unusable; the message names where
    │   ├── PolicyFileError        a policies file (`issues` holds each located problem)
    │   ├── PatternError           a policy glob or regex (also a ValueError, so pydantic locates it)
    │   ├── FeedError              a KEV or EPSS feed file or URL
    │   ├── ReportError            a Trivy or Grype report
    │   └── CronError              bot.errors: a digest schedule or time zone (also a ValueError)
    ├── InvalidInput               input from outside is not what it claims to be; none of it was used
    │   ├── InvalidJson            not JSON, nested too deeply, NaN/Infinity, unpaired surrogates
    │   ├── InvalidPayload         a registry notification body Regent does not understand
    │   ├── ImageReferenceError    an image reference outside the distribution reference grammar
    │   └── RequestRefused         bot.errors: an HTTP request bot/web refused (`status`, `headers`)
    ├── UpstreamError              a registry, Portainer or an engine failed (`status`, `url`)
    │   ├── Unreachable            connection refused, DNS, timeout
    │   ├── AuthError              401/403
    │   ├── NotFound               404 and registry *_UNKNOWN codes
    │   ├── RateLimited            429 after the retries
    │   └── BadResponse            an answer that cannot be parsed or trusted
    ├── StoreError                 a stored plan or action is unknown or no longer matches its hash
    │   ├── PlanStoreError
    │   └── ActionStoreError
    ├── SuspensionError            a user cannot be suspended as asked
    ├── ChangeRefused              tools/changes: a change cannot be proposed or run as asked (GC, stack)
    ├── ToolFailure                tools.toolbox.context: a tool's answer to the model (message + hint)
    ├── LLMError                   bot.errors: the LLM endpoint failed (`status`)
    └── DemoError                  bot.errors: a local demo part failed (also a RuntimeError)
        ├── MissingBinary, EngineError, SeedError
        └── ModelSetupError
            └── ModelNotReady      bot.demo.local_model
```

Two classes live outside this module on purpose. `ToolFailure` belongs to the toolbox: it is how a tool
answers the model (the dispatcher turns it into a result), and domain code must never raise it, which it
could if it lived here. `tools.registry.retry.RetryableStatus` is not an error at all but the registry
client's retry signal; it never leaves the client (it becomes RateLimited or UpstreamError there).
"""

from __future__ import annotations

from collections.abc import Sequence


class RegentError(Exception):
    """Base of every error Regent raises on purpose; its message is safe to show a user."""


class ConfigError(RegentError):
    """Configuration or input file is invalid; the message names the location."""


class PolicyFileError(ConfigError):
    """A policies file that cannot be used; `issues` holds each located problem (tools.policy.loader)."""

    def __init__(self, issues: Sequence[object]) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = list(issues)


class PatternError(ConfigError, ValueError):
    """A glob or regular expression that cannot be compiled; the message says why."""


class FeedError(ConfigError):
    """A feed file or URL cannot be used; the message names it and the problem."""


class ReportError(ConfigError):
    """A report cannot be used; the message names the file and what is wrong with it."""


class InvalidInput(RegentError):
    """Input from outside is not what it claims to be; nothing of it was used or stored."""


class InvalidJson(InvalidInput):
    """A body or file is not JSON Regent will read; the message says where and why."""


class InvalidPayload(InvalidInput):
    """A posted body is not a notification Regent understands; nothing of it was stored."""


class ImageReferenceError(InvalidInput):
    """An image reference does not follow the distribution reference grammar."""


class UpstreamError(RegentError):
    """A remote system (registry, Portainer, engine) failed or answered unexpectedly."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class Unreachable(UpstreamError):
    """The remote system could not be reached at all (connection refused, DNS, timeout)."""


class AuthError(UpstreamError):
    """The remote system rejected our credentials (401/403)."""


class NotFound(UpstreamError):
    """The remote object does not exist (404 and registry *_UNKNOWN codes)."""


class RateLimited(UpstreamError):
    """The remote system asked us to slow down (429) and retries ran out."""


class BadResponse(UpstreamError):
    """The remote system answered with something we cannot parse or trust."""


class StoreError(RegentError):
    """A stored plan or action is unknown, or its stored body no longer matches its hash."""


class PlanStoreError(StoreError):
    """A plan is unknown, or its stored body no longer matches its hash."""


class ActionStoreError(StoreError):
    """An action is unknown, or its stored body no longer matches its hash."""


class SuspensionError(RegentError):
    """The user cannot be suspended as asked (unknown, ambiguous, or Regent's own account)."""


class ChangeRefused(RegentError):
    """A change cannot be proposed or run as asked (garbage collection, a stack file update); says why."""
