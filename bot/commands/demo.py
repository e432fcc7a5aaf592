"""`regent demo`: a local registry (and dockerd when possible) with sample images, and what Regent sees."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from rich.console import Console

from bot.commands.inventory import print_summary
from bot.demo.binaries import find_binary
from bot.demo.digest_history import print_demo_digest, simulate_history
from bot.demo.dockerd import DockerDaemon
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder, seed_sample
from bot.errors import MissingBinary
from bot.sources import shared_http
from tools.docker.source import docker_host_source
from tools.errors import RegentError
from tools.inventory.inventory import DeploymentSource, RegistryTarget, run_inventory
from tools.inventory.models import InventorySnapshot, RegistrySource
from tools.inventory.store import SnapshotStore
from tools.policy.plans import Plan
from tools.registry.client import RegistryClient

console = Console()


@contextmanager
def _maybe_dockerd(registry: RegistryServer) -> Iterator[DockerDaemon | None]:
    """A private dockerd with two sample containers, when dockerd exists and we are root; else None."""
    if find_binary("dockerd") is None or os.geteuid() != 0 or find_binary("busybox") is None:
        console.print("[dim]dockerd, root or busybox-static missing: the demo shows no containers[/dim]")
        yield None
        return
    with DockerDaemon(insecure_registries=[registry.host]) as daemon:
        api = f"{registry.host}/shop/api:1.4.0"
        web = f"{registry.host}/shop/web:2.1.0"
        daemon.pull(api)
        daemon.pull(web)
        daemon.run(api, name="shop-api")
        daemon.create_container(web, name="shop-web-canary")
        yield daemon


def _crawl(registry: RegistryServer, daemon: DockerDaemon | None, state: Path) -> InventorySnapshot:
    from diskcache import Cache

    http = shared_http(workers=16)
    try:
        client = RegistryClient(registry.url, http=http, cache=Cache(str(state / "cache")))
        target = RegistryTarget(source=RegistrySource(name="demo-registry", url=registry.url), client=client)
        sources: list[DeploymentSource] = []
        if daemon is not None:
            sources.append(docker_host_source(daemon.docker_host, environment_id=1))
        snapshot = run_inventory([target], sources)
    finally:
        http.close()
    store = SnapshotStore(state / "regent.db")
    store.save(snapshot)
    store.close()
    return snapshot


SAMPLE_POLICY = """\
protected_tags: ["latest"]
policies:
  - name: keep recent releases
    registry: "*"
    repositories: ["**"]
    keep:
      - most_recent: 2            # per repository, by the image's created time
      - semver: {per: minor, most_recent: 1}
    delete:
      - older_than_days: 180
"""


def _print_sample_plan(snapshot: InventorySnapshot, state: Path) -> Plan:
    """Evaluate a sample policy on the demo's snapshot and print the plan; nothing is deleted."""
    from bot.app import build_app
    from bot.commands.plan import print_plan
    from bot.config import Secrets, Settings
    from tools.policy.evaluate import evaluate_snapshot
    from tools.policy.loader import parse_policies

    console.print("Sample policy:", style="bold")
    console.print(SAMPLE_POLICY, highlight=False, markup=False)
    runtime = build_app(settings=Settings(), secrets=Secrets(), state_dir=state)
    try:
        policies = parse_policies(SAMPLE_POLICY, source="sample-policy.yml")
        plan = evaluate_snapshot(policies, snapshot, now=runtime.clock(), history=runtime.history(snapshot))
        runtime.plans.save(plan)
    finally:
        runtime.close()
    print_plan(plan, console=console)
    return plan


DEMO_SERVICE = {"registry": "demo-registry", "environment": 1, "container": "demo-registry"}
COMPLIANCE_PDF = "regent-demo-compliance.pdf"


def _print_gc_and_compliance(snapshot: InventorySnapshot, state: Path, plan: Plan) -> None:
    """The garbage collection proposal that follows the plan, and the compliance report (#16)."""
    from bot.app import build_app
    from bot.commands.apply import print_change
    from bot.config import Secrets, Settings
    from tools.changes.gc import build_gc_run, predict_gc
    from tools.changes.registry_host import RegistryService
    from tools.compliance.evidence import seal
    from tools.compliance.render import to_markdown, to_pdf
    from tools.toolbox.compliance import evidence_for
    from tools.toolbox.context import Call

    service = RegistryService.model_validate(DEMO_SERVICE)
    app = build_app(settings=Settings(registry_services=[service]), secrets=Secrets(), state_dir=state)
    try:
        console.rule("Garbage collection proposal")
        inventory = next(i for i in snapshot.registries if i.source.name == "demo-registry")
        deleted = [(i.repository, i.digest) for i in plan.items if i.registry == "demo-registry"]
        prediction = predict_gc(inventory, app.history(snapshot)["demo-registry"], deleted)
        action = build_gc_run(
            source=inventory.source,
            service=service,
            prediction=prediction,
            deleted=deleted,
            reason=f"free the space of the {len(deleted)} manifests plan {plan.plan_id} deletes",
            now=app.clock(),
            after=f"the {len(deleted)} manifests of the plan above, once it is executed",
        )
        proposal = app.proposals.create(change=action, requester="demo", conversation="demo")
        print_change(app.proposals.card(proposal).view, console=console)
        console.print(
            f"Predicted {prediction.total:,} bytes; the plan says {plan.reclaimable_bytes:,}. Approve in "
            f"Slack (the card shows exactly this), or run `regent apply {action.action_id} --yes`. "
            "(The demo's registry is a local process, so here the registry_services entry is an example.)",
            highlight=False,
            markup=False,
        )
        console.rule("Compliance report")
        evidence = evidence_for(Call(context=app.toolbox.context, user="demo", conversation="demo"), None)
        lines = to_markdown(evidence).splitlines()
        excerpt = [line for line in lines if line.strip()][:14]
        console.print("\n".join(excerpt), highlight=False, markup=False)
        pdf = Path(tempfile.gettempdir()) / COMPLIANCE_PDF
        pdf.write_bytes(to_pdf(evidence))
        console.print(
            f"... ({len(lines)} lines in all). PDF: {pdf}; evidence SHA-256 {seal(evidence)}. "
            "Also `regent report compliance --format md|pdf|json`.",
            highlight=False,
            markup=False,
        )
    finally:
        app.close()


def _assistant_or_hint(
    args: argparse.Namespace, *, state: Path, registry: RegistryServer, daemon: DockerDaemon | None
) -> None:
    """With --assistant, the local model answers three questions about the demo; else how to try it."""
    from bot.commands.demo_assistant import TRY_IT, run_assistant

    if not getattr(args, "assistant", False):
        console.rule("Assistant")
        console.print(TRY_IT, highlight=False)
        return
    from bot.demo.local_model import default_cache_dir

    console.rule("Assistant (local model)")
    run_assistant(
        state=state,
        registry_url=registry.url,
        docker_hosts=[daemon.docker_host] if daemon is not None else [],
        cache=default_cache_dir(),
        console=console,
    )


def run_demo(args: argparse.Namespace) -> int:
    """Start, seed, crawl, print, stop; the state lives in a temp dir that is removed afterwards."""
    state = Path(tempfile.mkdtemp(prefix="regent-demo-"))
    try:
        with ExitStack() as stack:
            try:
                registry = stack.enter_context(RegistryServer())
            except MissingBinary as exc:
                raise RegentError(f"the demo needs a local registry: {exc}") from None
            console.print(f"[bold]Local registry[/bold] at {registry.url} (Debian docker-registry)")
            with Seeder(registry.url) as seeder:
                seed_sample(seeder, now=dt.datetime.now(dt.UTC))
                expected = seeder.expected()
            console.print(
                f"Seeded {expected.repositories} repositories, {expected.tags} tags, "
                f"{expected.manifests} manifests (teams, stale and fresh tags, multi-arch, a signature)"
            )
            days = simulate_history(
                registry.url, state, source_name="demo-registry", now=dt.datetime.now(dt.UTC)
            )
            console.print(
                f"Simulated {days} earlier daily crawls (backdated; a shop/api release candidate pushed "
                "before each, one withdrawn, the release pushed today) so the digest has a history"
            )
            daemon = stack.enter_context(_maybe_dockerd(registry))
            snapshot = _crawl(registry, daemon, state)
            console.rule("Inventory")
            print_summary(snapshot, file=console.file)
            console.rule("Retention plan (dry run)")
            plan = _print_sample_plan(snapshot, state)
            console.rule("Digest")
            print_demo_digest(state, registry_name="demo-registry", console=console)
            _print_gc_and_compliance(snapshot, state, plan)
            _assistant_or_hint(args, state=state, registry=registry, daemon=daemon)
            if args.keep:
                console.input(f"Registry {registry.url} stays up; press Enter to stop it. ")
    finally:
        shutil.rmtree(state, ignore_errors=True)
    return 0
