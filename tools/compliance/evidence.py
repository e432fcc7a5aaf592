"""The evidence a compliance report is built from: plain data, each part with its time and source.

`seal` hashes the canonical JSON of the evidence (SHA-256): the report prints that digest last, so an
auditor who gets the JSON can recompute it and see that the rendered report was not edited.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Source(_Frozen):
    """Where a part of the evidence came from, and when it was read."""

    name: str  # e.g. "inventory snapshot", "Portainer /api/users", "audit log"
    at: datetime
    detail: str = ""


class Violation(_Frozen):
    """An image a configured retention policy says should be gone, still in the registry."""

    tags: list[str]
    digest: str
    policy_reason: str
    created: datetime | None
    first_seen: datetime | None
    age_days: int | None  # by the created clock (the image config's time)


class RepositoryEvidence(_Frozen):
    """One repository: how many tagged images are signed, and its policy violations."""

    name: str
    images: int
    signed: int
    unsigned_tags: list[str]
    violations: list[Violation]


class RegistryEvidence(_Frozen):
    """One registry as the latest crawl saw it."""

    name: str
    url: str
    source: Source
    signing_method: str
    repositories: list[RepositoryEvidence]

    @property
    def images(self) -> int:
        """Tagged images across the registry."""
        return sum(r.images for r in self.repositories)

    @property
    def signed(self) -> int:
        """Signed tagged images across the registry."""
        return sum(r.signed for r in self.repositories)


class Person(_Frozen):
    """A Portainer user and what their role lets them do to registries."""

    username: str
    role: str  # administrator | standard user
    teams: list[str]
    can_read_registry_credentials: bool  # admins read stored registry passwords (GET /api/registries)


class AccessEvidence(_Frozen):
    """Who can push and delete: Portainer's users, roles and teams, and the registries it stores."""

    source: Source | None  # None: Portainer not configured or not readable
    note: str
    people: list[Person]
    registries: list[str]  # Portainer's registry records (name: kind, URL)
    auth_events: int | None  # BE authentication-log entries read; None on CE (no such route)


class ChangeRecord(_Frozen):
    """One approval or execution from the audit log."""

    seq: int
    at: str
    actor: str
    kind: str
    summary: str


class HistoryEvidence(_Frozen):
    """Deletions and approvals from the audit log, with the hash chain's verification."""

    source: Source
    chain_ok: bool
    entries_checked: int
    problem: str
    records: list[ChangeRecord]


class VulnerableImage(_Frozen):
    """A running image's open findings (scanner reports, triaged)."""

    image: str
    environments: list[str]
    critical: int
    high: int
    kev: int
    findings: int


class VulnsEvidence(_Frozen):
    """The vulnerability posture of the images that actually run."""

    source: Source | None  # None: no vulnerability data configured
    running_images: int
    scanned_running_images: int
    images: list[VulnerableImage]


class ComplianceEvidence(_Frozen):
    """Everything the report states, and nothing else."""

    generated_at: datetime
    scope: str  # "all registries" or the registry asked for
    registries: list[RegistryEvidence]
    access: AccessEvidence
    history: HistoryEvidence
    vulns: VulnsEvidence


def canonical(evidence: ComplianceEvidence) -> str:
    """The evidence as canonical JSON (sorted keys, no spaces): what the seal covers."""
    data: dict[str, Any] = evidence.model_dump(mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def seal(evidence: ComplianceEvidence) -> str:
    """sha256:<hex> of the canonical evidence."""
    return "sha256:" + hashlib.sha256(canonical(evidence).encode()).hexdigest()
