"""Regent's plan beside a Harbor retention dry run, artifact by artifact.

Harbor dry-runs a STORED retention policy: `POST /api/v2.0/retentions/{id}/executions` with
`{"dry_run": true}` starts an execution that deletes nothing; `GET …/executions/{eid}/tasks` lists one
task per repository (`total`, `retained`, `status`), and each task's log (`GET …/tasks/{tid}`) holds the
table Harbor writes for every candidate: `| Digest | Tag | Kind | Labels | PushedTime | PulledTime |
CreatedTime | Retention |` with RETAIN, DEL, IMMUTABLE or ERR (goharbor/harbor src/pkg/retention/job.go,
logResults). This module starts no policy of its own: the project's policy is the one the operator applied
(the `harbor-retention` export, or one made in Harbor's UI), found through the project's
`metadata.retention_id`. A dry run changes nothing in the registry.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from tools.errors import NotFound, RegentError
from tools.policy.export.base import ExportRequest, NativeExport, NativePreview, PreviewClients, PreviewRow
from tools.policy.export.common import registry_names
from tools.policy.plans import Plan
from tools.registry.kinds.harbor.client import HarborApi, RetentionTask

POLL_SECONDS = 2.0
DRY_RUN_TIMEOUT = 300.0
FINAL = frozenset({"Success", "Error", "Stopped"})  # Harbor's job statuses that do not change any more
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_MARKS = frozenset({"RETAIN", "DEL", "IMMUTABLE", "ERR"})


@dataclass(frozen=True, slots=True)
class DryRunRow:
    """One artifact: what Regent's plan does with it and what Harbor's dry run decided."""

    repository: str
    digest: str
    tags: tuple[str, ...]
    regent: str  # "delete" | "keep" | "not in plan"
    harbor: str  # RETAIN | DEL | IMMUTABLE | ERR, Harbor's own words
    regent_reason: str

    @property
    def agrees(self) -> bool:
        """Both delete it, or both keep it."""
        return (self.regent == "delete") == (self.harbor == "DEL")


@dataclass(frozen=True, slots=True)
class DryRun:
    """A project's dry run: Harbor's tasks and, per artifact, both verdicts."""

    project: str
    policy_id: int
    execution_id: int
    complete: bool  # every task finished; otherwise the rows cover the finished tasks only
    tasks: tuple[RetentionTask, ...]
    rows: tuple[DryRunRow, ...]

    @property
    def disagreements(self) -> tuple[DryRunRow, ...]:
        """The rows where Regent and Harbor differ."""
        return tuple(row for row in self.rows if not row.agrees)


def dry_run_beside_plan(
    api: HarborApi,
    *,
    project: str,
    plan: Plan,
    registry: str,
    timeout: float = DRY_RUN_TIMEOUT,
    poll: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DryRun:
    """Dry-run the project's stored retention policy and pair each artifact's verdict with the plan."""
    policy_id = api.project_retention_id(project)
    if policy_id is None:
        raise NotFound(
            f"Harbor project {project} has no retention policy to dry-run; apply the harbor-retention export "
            "(POST /api/v2.0/retentions) or make one in Harbor first"
        )
    execution_id = api.dry_run_retention(policy_id)
    deadline = clock() + timeout
    tasks = api.retention_tasks(policy_id, execution_id)
    while any(t.status not in FINAL for t in tasks) and clock() < deadline:
        sleep(poll)
        tasks = api.retention_tasks(policy_id, execution_id)
    rows: list[DryRunRow] = []
    for task in tasks:
        if task.status in FINAL:
            log = api.retention_task_log(policy_id, execution_id, task.task_id)
            rows.extend(_pair(plan, registry, f"{project}/{task.repository}", parse_task_log(log)))
    complete = all(t.status in FINAL for t in tasks)
    return DryRun(project, policy_id, execution_id, complete, tuple(tasks), tuple(rows))


def parse_task_log(log: str) -> list[tuple[str, tuple[str, ...], str]]:
    """(digest, tags, decision) of each table row in a retention task's log."""
    found: list[tuple[str, tuple[str, ...], str]] = []
    for line in log.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 8 or not _DIGEST.fullmatch(cells[0]) or cells[-1] not in _MARKS:
            continue
        tags = tuple(t for t in cells[1].split(",") if t)
        found.append((cells[0], tags, cells[-1]))
    return found


def _pair(
    plan: Plan, registry: str, repository: str, decisions: list[tuple[str, tuple[str, ...], str]]
) -> list[DryRunRow]:
    planned = {
        i.digest: i.reason for i in plan.items if i.registry == registry and i.repository == repository
    }
    kept = {k.digest: k.reason for k in plan.kept if k.registry == registry and k.repository == repository}
    rows = []
    for digest, tags, decision in decisions:
        if digest in planned:
            regent, reason = "delete", planned[digest]
        elif digest in kept:
            regent, reason = "keep", kept[digest]
        else:
            regent, reason = "not in plan", "no policy of the plan saw it (or the snapshot did not have it)"
        rows.append(DryRunRow(repository, digest, tags, regent, decision, reason))
    return rows


def harbor_retention_preview(
    export: NativeExport, request: ExportRequest, clients: PreviewClients
) -> list[NativePreview]:
    """`regent plan --export harbor-retention`'s preview: each exported project's stored policy, dry-run.

    Harbor dry-runs only a stored policy, so a project whose policy is not stored yet gets a line saying
    so (no rows) rather than an error: the export is what the operator would store first.
    """
    from tools.registry.kinds.harbor.adapter import HarborRegistry  # the adapter imports v2 machinery

    names = registry_names(request, "harbor")
    out: list[NativePreview] = []
    for name in names:
        client = clients.get(name)
        if not isinstance(client, HarborRegistry):
            raise RegentError(
                f"registry {name}: no Harbor API client to dry-run with (read through a proxy?)"
            )
        projects = [
            key.removeprefix(f"{name}/") if len(names) > 1 else key
            for key in export.documents
            if len(names) == 1 or key.startswith(f"{name}/")
        ]
        for project in projects:
            try:
                run = dry_run_beside_plan(client.api, project=project, plan=request.plan, registry=name)
            except NotFound as exc:
                out.append(NativePreview(name, project, str(exc), ()))
                continue
            out.extend(_previews(name, run))
    return out


def _previews(registry: str, run: DryRun) -> list[NativePreview]:
    status = "COMPLETE" if run.complete else "RUNNING"
    status += f" (Harbor's stored policy {run.policy_id}, dry-run execution {run.execution_id})"
    by_repository: dict[str, list[PreviewRow]] = {}
    for row in run.rows:
        native = {"DEL": "delete", "RETAIN": "retain"}.get(row.harbor, row.harbor.lower())
        by_repository.setdefault(row.repository, []).append(
            PreviewRow(row.digest, row.tags, row.regent, native, row.regent_reason, native_reason=row.harbor)
        )
    return [NativePreview(registry, repo, status, tuple(rows)) for repo, rows in by_repository.items()]
