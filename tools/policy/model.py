"""Retention policy file, as pydantic models: the YAML shape is a contract, so unknown fields are errors.

```yaml
protected_tags: ["prod"]              # optional: kept in every repository, whatever a policy says
policies:
  - name: team-x cleanup
    registry: "*"                     # registry name, URL or host:port glob
    repositories: ["team-x/**"]       # globs; a "re:" prefix for a full-match regex
    tags: ["*"]                       # optional: tags it may delete; a digest with another tag stays
    clock: created                    # optional default clock of the rules below
    keep:                             # any match keeps the digest
      - most_recent: 5                # per repository, by clock
        clock: created                # created | first_seen | pushed | last_pulled
      - tags: ["prod", "stable", "v*"]
      - semver: {per: minor, most_recent: 2}
      - pulled_within_days: 30
    delete:                           # deleted if some delete rule matches and nothing keeps it
      - older_than_days: 90
      - dangling_older_than_days: 30
      - all: true
```
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from tools.analysis.clocks import ClockName
from tools.policy.patterns import compile_pattern


def _check_pattern(value: str) -> str:
    compile_pattern(value)  # PatternError is a ValueError: pydantic reports it at this element
    return value


Pattern = Annotated[str, AfterValidator(_check_pattern)]
Count = Annotated[int, Field(ge=1)]
Days = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    # strict: YAML's `5` vs `"5"` vs `yes` must not silently convert; frozen: a loaded policy never changes
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SemverKeep(_Strict):
    """Keep the N newest versions within each semver major or minor line."""

    per: Literal["major", "minor"]
    most_recent: Count


KEEP_KINDS = ("most_recent", "tags", "semver", "pulled_within_days")
DELETE_KINDS = ("older_than_days", "dangling_older_than_days", "all")


def _one_kind(rule: BaseModel, kinds: tuple[str, ...], what: str) -> str:
    present = [k for k in kinds if getattr(rule, k) is not None]
    if len(present) != 1:
        got = ", ".join(present) if present else "none"
        raise ValueError(f"a {what} rule needs exactly one of {', '.join(kinds)} (got {got})")
    return present[0]


class KeepRule(_Strict):
    """One keep rule; exactly one of its kinds is set."""

    most_recent: Count | None = None
    clock: ClockName | None = None
    tags: Annotated[list[Pattern], Field(min_length=1)] | None = None
    semver: SemverKeep | None = None
    pulled_within_days: Count | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> KeepRule:
        kind = _one_kind(self, KEEP_KINDS, "keep")
        if self.clock is not None and kind != "most_recent":
            raise ValueError("'clock' only goes with 'most_recent' in a keep rule")
        return self

    @property
    def kind(self) -> str:
        """Which of the keep kinds this rule is."""
        return next(k for k in KEEP_KINDS if getattr(self, k) is not None)


class DeleteRule(_Strict):
    """One delete rule; exactly one of its kinds is set."""

    older_than_days: Days | None = None
    clock: ClockName | None = None
    dangling_older_than_days: Days | None = None
    all: Literal[True] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DeleteRule:
        kind = _one_kind(self, DELETE_KINDS, "delete")
        if self.clock is not None and kind != "older_than_days":
            raise ValueError("'clock' only goes with 'older_than_days' in a delete rule")
        return self

    @property
    def kind(self) -> str:
        """Which of the delete kinds this rule is."""
        return next(k for k in DELETE_KINDS if getattr(self, k) is not None)


class Policy(_Strict):
    """A named retention policy over the repositories its globs select."""

    name: Annotated[str, Field(min_length=1)]
    registry: Pattern = "*"
    repositories: Annotated[list[Pattern], Field(min_length=1)]
    tags: Annotated[list[Pattern], Field(min_length=1)] = ["*"]
    clock: ClockName = "created"
    keep: list[KeepRule] = []
    delete: list[DeleteRule] = []


class PolicyFile(_Strict):
    """The whole policies file."""

    protected_tags: list[Pattern] = []
    policies: Annotated[list[Policy], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> PolicyFile:
        seen: set[str] = set()
        for policy in self.policies:
            if policy.name in seen:
                raise ValueError(f"policy name {policy.name!r} is used twice; names must be unique")
            seen.add(policy.name)
        return self

    def policy_names(self) -> list[str]:
        """Names of the policies, in file order."""
        return [p.name for p in self.policies]
