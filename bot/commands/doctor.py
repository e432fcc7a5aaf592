"""Least privilege at start-up and in `regent doctor`: the configured mode against what credentials can do.

The checks themselves are in tools/privileges/checks.py (they only use clients); this module builds
the clients
from the runtime's settings and secrets, prints or logs the findings, tells the toolbox which registries
refused deletes (their proposals then say so on the card), and, in read-only mode, refuses approvals.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Callable

from bot.app import App, app_for_sources
from bot.config import read_only_reason
from bot.sources import build_sources, proxy_reader
from tools.errors import RegentError
from tools.inventory.models import RegistrySource
from tools.portainer.client import PortainerClient
from tools.privileges.checks import Finding, check_portainer, check_registry, delete_refusals, exit_code
from tools.registry.client import RegistryClient
from tools.registry.kinds.base import NativeRegistry
from tools.registry.kinds.select import adapter_class

log = logging.getLogger(__name__)
_LOG_LEVELS = {"ok": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def check_privileges(runtime: App) -> list[Finding]:
    """Every finding for the runtime's configuration: mode, Portainer, then each registry."""
    settings = runtime.settings
    mode = settings.mode
    what = "no proposals, approvals or deletions" if mode == "read-only" else "proposals and approved deletes"
    found = [Finding("ok", "mode", f"{mode} ({what})")]
    found.extend(_portainer_findings(runtime))
    try:
        sources = build_sources(
            settings,
            runtime.secrets,
            registry_urls=runtime.registry_urls,
            docker_hosts=runtime.docker_hosts,
            store=runtime.snapshots,
            cache_dir=runtime.state_dir / "cache",
        )
    except RegentError as exc:
        return [*found, Finding("error", "configuration", str(exc))]
    try:
        # sources.errors only repeats what check_portainer explains: the registry list failed, or
        # registries left unread for want of a registry-proxy login.
        for target in sources.registries:
            found.append(kind_finding(target.source, target.client))
            found.extend(
                check_registry(
                    target.source,
                    target.client,
                    mode=mode,
                    probe_deletes=settings.privileges.delete_probe,
                )
            )
    finally:
        sources.close()
    if settings.portainer is None and not sources.registries:
        found.append(Finding("warning", "configuration", "no Portainer and no registries are configured"))
    return found


def kind_finding(source: RegistrySource, client: RegistryClient) -> Finding:
    """Which adapter reads a registry and what its API gives (clocks, delete path, GC), in words."""
    caps = adapter_class(source.kind).capabilities
    clocks = "; ".join(
        f"{name} clock: {origin or 'none'}"
        for name, origin in (("push", caps.push_clock), ("pull", caps.pull_clock))
    )
    message = (
        f"kind {source.kind} ({caps.label}): listing {caps.listing}; {clocks}; sizes: {caps.size}; "
        f"delete: {caps.delete_path}; after deletes: {caps.gc_step}"
    )
    used = client.capabilities if isinstance(client, NativeRegistry) else NativeRegistry.capabilities
    if used is not caps:  # built as plain v2: BE's proxy forwards v2 only and keeps the credentials
        return Finding(
            "warning",
            f"registry {source.name}",
            message,
            "read through Portainer's registry proxy: v2 only, so no native clocks and v2 deletes; give "
            "it an entry under registries: to use its own API",
        )
    return Finding("ok", f"registry {source.name}", message)


def _portainer_findings(runtime: App) -> list[Finding]:
    """The Portainer key, and how BE registry-proxy requests authenticate (never with it, by default)."""
    config = runtime.settings.portainer
    if config is None:
        return []
    key = runtime.secrets.portainer_api_key
    if key is None:
        return [Finding("error", f"portainer {config.url}", "PORTAINER_API_KEY is not set")]
    with PortainerClient(config.url, api_key=key.get_secret_value(), verify=config.verify_tls) as client:
        login = proxy_reader(client, runtime.settings, runtime.secrets)
        service = login if login is not client else None
        try:
            return check_portainer(
                client,
                mode=runtime.settings.mode,
                proxy_auth=config.registry_proxy_auth,
                proxy_login=service,
            )
        finally:
            if service is not None:
                service.close()


def apply_findings(runtime: App, findings: list[Finding]) -> None:
    """Tell the toolbox which registries refused deletes, so proposals for them say why up front."""
    runtime.toolbox.context.delete_refusals = delete_refusals(findings)


def log_findings(findings: list[Finding], *, logger: logging.Logger = log) -> None:
    """One log record per finding, at INFO, WARNING or ERROR."""
    for finding in findings:
        logger.log(_LOG_LEVELS[finding.level], "privileges: %s", finding.line())


def start_check(runtime: App, *, write: Callable[[str], None] | None = None) -> threading.Thread | None:
    """Run the check on a thread (a slow registry must not hold up start-up); never blocks or fails start."""
    if not runtime.settings.privileges.on_start:
        return None

    def run() -> None:
        try:
            findings = check_privileges(runtime)
        except Exception:  # a check is advice: its own failure must not take the service down
            log.exception("the start-up privilege check failed")
            return
        apply_findings(runtime, findings)
        log_findings(findings)
        if write is not None:
            for finding in findings:
                if finding.level != "ok":
                    write(f"regent: {finding.line()}")

    thread = threading.Thread(target=run, name="regent-privileges", daemon=True)
    thread.start()
    return thread


def check_before_chat(runtime: App, *, write: Callable[[str], None]) -> None:
    """`regent chat`: the check in the foreground, every finding that is not ok shown before the prompt."""
    if not runtime.settings.privileges.on_start:
        return
    try:
        findings = check_privileges(runtime)
    except Exception:
        log.exception("the start-up privilege check failed")
        return
    apply_findings(runtime, findings)
    log_findings(findings)
    for finding in findings:
        if finding.level != "ok":
            write(finding.line())


def run_doctor_command(args: argparse.Namespace) -> int:
    """`regent doctor`: print the findings; exit 0 all ok, 1 warnings, 2 errors."""
    runtime = app_for_sources(args)
    settings = runtime.settings
    try:
        findings = check_privileges(runtime)
    finally:
        runtime.close()
    if args.json:
        rows = [
            {"level": f.level, "subject": f.subject, "message": f.message, "hint": f.hint} for f in findings
        ]
        print(json.dumps({"mode": settings.mode, "findings": rows}, indent=2))
    else:
        for finding in findings:
            print(finding.line())
        reason = read_only_reason(settings)
        if reason is None and any(f.level == "warning" for f in findings):
            print("Cleanup mode with warnings: see docs/reliability.md, 'Least privilege'.", file=sys.stderr)
    return exit_code(findings)
