"""Collect the evidence from the inventory, the policies, Portainer, the audit log and the triage.

Each collector reads one source and says when it read it; a source that is not configured yields an
explicit "not available" part rather than an empty one that would read as "nothing found".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from tools.analysis.changes import tagged_units
from tools.analysis.clocks import age_days
from tools.analysis.history import RegistryHistory
from tools.analysis.usage import STOPPED_STATES
from tools.compliance.evidence import (
    AccessEvidence,
    ChangeRecord,
    HistoryEvidence,
    Person,
    RegistryEvidence,
    RepositoryEvidence,
    Source,
    Violation,
    VulnerableImage,
    VulnsEvidence,
)
from tools.errors import RegentError
from tools.inventory.models import InventorySnapshot, RegistryInventory
from tools.policy.drift import is_signed
from tools.policy.evaluate import evaluate_snapshot
from tools.policy.model import PolicyFile
from tools.policy.plans import Plan
from tools.portainer.client import PortainerClient
from tools.vulns.service import Analysis

SIGNING_METHOD = (
    "cosign `.sig` tags and signature artifacts (OCI `subject`) seen in the crawl; the registry's "
    "referrers API was not queried"
)
CHANGE_KINDS = frozenset(
    {
        "proposal_created",
        "proposal_approved",
        "proposal_rejected",
        "proposal_expired",
        "decision_refused",
        "execution_done",
        "execution_failed",
        "execution_error",
    }
)


def registry_evidence(
    snapshot: InventorySnapshot,
    *,
    policies: PolicyFile | None,
    history: Mapping[str, RegistryHistory],
    now: datetime,
    only: str | None = None,
) -> list[RegistryEvidence]:
    """Signing and policy adherence per repository of every (or one) crawled registry."""
    plan = evaluate_snapshot(policies, snapshot, now=now, history=history) if policies else None
    chosen = [inv for inv in snapshot.registries if only in (None, inv.source.name, inv.source.url)]
    if only is not None and not chosen:
        names = ", ".join(inv.source.name for inv in snapshot.registries) or "none"
        raise RegentError(f"registry {only!r} is not in the latest snapshot (known: {names})")
    source = Source(name="inventory snapshot", at=snapshot.taken_at, detail="registry v2 crawl")
    return [
        RegistryEvidence(
            name=inv.source.name,
            url=inv.source.url,
            source=source,
            signing_method=SIGNING_METHOD,
            repositories=_repositories(inv, plan, history.get(inv.source.name), now),
        )
        for inv in chosen
    ]


def _repositories(
    inv: RegistryInventory, plan: Plan | None, history: RegistryHistory | None, now: datetime
) -> list[RepositoryEvidence]:
    signed: dict[str, list[bool]] = {}
    unsigned: dict[str, list[str]] = {}
    for graph, digest in tagged_units(inv):
        ok = is_signed(graph, digest, inv.manifests)
        signed.setdefault(graph.repository, []).append(ok)
        if not ok:
            unsigned.setdefault(graph.repository, []).extend(graph.tags[digest])
    violations = _violations(inv, plan, history, now)
    return [
        RepositoryEvidence(
            name=repository,
            images=len(flags),
            signed=sum(flags),
            unsigned_tags=sorted(unsigned.get(repository, [])),
            violations=violations.get(repository, []),
        )
        for repository, flags in sorted(signed.items())
    ]


def _violations(
    inv: RegistryInventory, plan: Plan | None, history: RegistryHistory | None, now: datetime
) -> dict[str, list[Violation]]:
    out: dict[str, list[Violation]] = {}
    if plan is None:
        return out
    first_seen = history.clocks.first_seen if history is not None else {}
    for item in plan.items:
        if item.registry != inv.source.name or not item.tags or item.kind in ("child", "referrer"):
            continue  # index children and signatures go with their subject; the tagged image is the finding
        manifest = inv.manifests.get(item.digest)
        created = manifest.created if manifest is not None else None
        out.setdefault(item.repository, []).append(
            Violation(
                tags=sorted(item.tags),
                digest=item.digest,
                policy_reason=item.reason,
                created=created,
                first_seen=first_seen.get(item.digest),
                age_days=int(age_days(now, created)) if created is not None else None,
            )
        )
    return out


def access_evidence(client: PortainerClient | None, *, now: datetime) -> AccessEvidence:
    """Portainer's users, roles, teams and registries; Portainer grants pulls, the registry push/delete."""
    if client is None:
        return AccessEvidence(
            source=None,
            note="Portainer is not configured: access was not read",
            people=[],
            registries=[],
            auth_events=None,
        )
    try:
        users, teams = client.users(), {t.id: t.name for t in client.teams()}
        memberships = {
            u.id: [teams.get(m.team_id, str(m.team_id)) for m in client.user_memberships(u.id)] for u in users
        }
        registries = [f"{r.name}: {r.kind}, {r.url}" for r in client.registries()]
    except RegentError as exc:
        return AccessEvidence(
            source=Source(name="Portainer", at=now, detail="not readable"),
            note=f"Portainer could not be read: {exc}",
            people=[],
            registries=[],
            auth_events=None,
        )
    people = [
        Person(
            username=u.username,
            role="administrator" if u.is_admin else "standard user",
            teams=sorted(memberships.get(u.id, [])),
            can_read_registry_credentials=u.is_admin,
        )
        for u in sorted(users, key=lambda u: u.username)
    ]
    return AccessEvidence(
        source=Source(name="Portainer /api/users, /api/teams, /api/registries", at=now),
        note=(
            "Portainer grants environments pull access to the registries it stores; push and delete rights "
            "live in each registry. Administrators can read every stored registry credential, so each "
            "administrator can push and delete wherever a stored credential may."
        ),
        people=people,
        registries=sorted(registries),
        auth_events=_auth_events(client),
    )


def _auth_events(client: PortainerClient) -> int | None:
    try:
        return len(client.auth_logs(max_entries=10_000))
    except RegentError:
        return None  # CE has no authentication log (plain 404)


def history_evidence(
    records: Sequence[ChangeRecord], *, chain_ok: bool, checked: int, problem: str, now: datetime
) -> HistoryEvidence:
    """Approvals, refusals and executions from the audit log, with the chain's verification."""
    return HistoryEvidence(
        source=Source(name="audit log (hash-chained)", at=now, detail=f"{checked} entries verified"),
        chain_ok=chain_ok,
        entries_checked=checked,
        problem=problem,
        records=[r for r in records if r.kind in CHANGE_KINDS],
    )


def vulns_evidence(analysis: Analysis | None, snapshot: InventorySnapshot, *, now: datetime) -> VulnsEvidence:
    """Open findings of the images that run (scanner reports, triaged against this snapshot)."""
    running = {d.digest for d in snapshot.deployments if d.digest and d.state not in STOPPED_STATES}
    if analysis is None:
        return VulnsEvidence(source=None, running_images=len(running), scanned_running_images=0, images=[])
    rows = []
    for image in analysis.triage.images:
        if image.digest not in running and image.exposure.level not in {"production", "running"}:
            continue
        severities = [f.severity for f in image.findings]
        rows.append(
            VulnerableImage(
                image=image.image,
                environments=sorted(image.exposure.environments),
                critical=severities.count("CRITICAL"),
                high=severities.count("HIGH"),
                kev=sum(1 for f in image.findings if f.kev),
                findings=len(image.findings),
            )
        )
    rows.sort(key=lambda r: (-r.critical, -r.high, r.image))
    return VulnsEvidence(
        source=Source(name="scanner reports (Trivy/Grype), KEV/EPSS feeds", at=analysis.triage.generated_at),
        running_images=len(running),
        scanned_running_images=len(rows),
        images=rows,
    )
