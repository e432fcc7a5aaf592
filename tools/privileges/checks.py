"""Least privilege: what the Portainer API key and the registry credentials can do, checked cheaply.

Pure checks on clients (no settings, no env): each returns findings, "ok", "warning" or "error", that
bot/commands/doctor.py prints at start-up and `regent doctor` reports. Reads only, except one request per
registry in cleanup mode: `RegistryClient.probe_delete`, a DELETE of the all-zero digest, which no
content hashes to, so it cannot delete anything (see docs/reliability.md, "Least privilege").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tools.errors import AuthError, RegentError
from tools.inventory.models import RegistrySource
from tools.portainer.client import PortainerClient
from tools.registry.client import PROBE_DIGEST, DeleteProbe, RegistryClient
from tools.registry.kinds.base import NativeRegistry

Level = Literal["ok", "warning", "error"]
Mode = Literal["read-only", "cleanup"]
ProxyAuth = Literal["login", "direct", "api-key"]  # portainer.registry_proxy_auth
PROBE_REPOSITORY = "regent-delete-probe"  # used when the catalog is empty: the probe needs some name


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of the start-up check: what was checked, how it went, and what to do about it."""

    level: Level
    subject: str  # "portainer", "registry harbor", "mode"
    message: str
    hint: str = ""

    def line(self) -> str:
        """One line for a terminal or a log."""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.level.upper():7} {self.subject}: {self.message}{hint}"


def exit_code(findings: list[Finding]) -> int:
    """0 when everything is ok, 1 with warnings, 2 with errors."""
    levels = {f.level for f in findings}
    return 2 if "error" in levels else 1 if "warning" in levels else 0


def check_portainer(
    client: PortainerClient,
    *,
    mode: Mode,
    proxy_auth: ProxyAuth = "login",
    proxy_login: PortainerClient | None = None,
) -> list[Finding]:
    """The API key works (`/api/users/me`), its role, the edition, what that role can read, and how the
    BE registry proxy is authenticated (`proxy_login`: the service account's client, when configured)."""
    subject = f"portainer {client.url}"
    try:
        status = client.status()
        user = client.current_user()
    except AuthError as exc:
        refused = f"the API key is refused ({exc.status})"
        return [Finding("error", subject, refused, "check PORTAINER_API_KEY")]
    except RegentError as exc:
        return [Finding("error", subject, f"cannot reach Portainer: {exc}")]
    role = "administrator" if user.is_admin else "standard user"
    edition = status.edition if status.edition != "unknown" else f"edition unknown ({status.edition_source})"
    found = [
        Finding("ok", subject, f"Portainer {status.version} {edition}; key of {user.username!r} ({role})")
    ]
    found.append(_portainer_registries(client, subject, edition=status.edition, admin=user.is_admin))
    if user.is_admin:
        found.append(_admin_exposure(subject, edition=status.edition))
    if not user.is_admin:
        found.append(
            Finding(
                "warning" if mode == "cleanup" else "ok",
                subject,
                "a standard user sees only the environments it is authorized for",
                "an image running in an environment the key cannot see looks unused; give the user access "
                "to every environment (BE: a read-only role on each)"
                if mode == "cleanup"
                else "",
            )
        )
    found.append(check_proxy_auth(subject, edition=status.edition, choice=proxy_auth, login=proxy_login))
    if mode == "cleanup" and status.edition == "CE":
        found.append(
            Finding(
                "ok",
                subject,
                "CE has no registry-side delete: cleanups use each registry's own credentials "
                "(registries: in the configuration)",
            )
        )
    return found


def _admin_exposure(subject: str, *, edition: str) -> Finding:
    """What an administrator's key can read besides what Regent needs: every registry's password."""
    where = (
        "CE answers /api/registries with the stored records, passwords and ECR secret keys included"
        if edition != "BE"
        else "CE answers /api/registries with every stored password; the BE 2.44 spec says BE leaves "
        "them out (not verified)"
    )
    return Finding(
        "ok",
        subject,
        f"an administrator's key can read every registry's credentials: {where}. Regent drops them when "
        "it parses the answer, but whoever holds this key can read them",
        "keep PORTAINER_API_KEY as secret as those passwords; on BE a standard user with access to the "
        "environments is enough to inventory (suspending users needs an administrator)",
    )


def check_proxy_auth(
    subject: str, *, edition: str, choice: ProxyAuth, login: PortainerClient | None
) -> Finding:
    """How requests through BE's registry proxy authenticate, and whether that can leak the API key."""
    if edition == "CE":
        return Finding("ok", subject, "CE has no registry proxy: registries are read directly")
    if edition != "BE":
        return Finding(
            "warning",
            subject,
            "the edition is unknown, so the registry proxy is not used: registries are read directly",
            "give each registry an entry under registries:",
        )
    if choice == "api-key":
        return Finding(
            "warning",
            subject,
            "the API key is sent through the registry proxy (portainer.registry_proxy_auth: api-key): BE "
            "strips only the Authorization header, so X-API-Key may be forwarded to every registry",
            "set PORTAINER_PROXY_USERNAME / PORTAINER_PROXY_PASSWORD and remove registry_proxy_auth",
        )
    if choice == "direct":
        return Finding(
            "ok",
            subject,
            "the registry proxy is not used (registry_proxy_auth: direct): registries are "
            "read directly, with the credentials under registries:",
        )
    if login is None:
        return Finding(
            "warning",
            subject,
            "no service account for the registry proxy: registries without an entry under registries: "
            "are not read",
            "set PORTAINER_PROXY_USERNAME and PORTAINER_PROXY_PASSWORD (a Portainer user, ideally a "
            "standard user with access to the environments)",
        )
    try:
        account = login.current_user()
    except RegentError as exc:
        return Finding("error", subject, f"the registry proxy's service account cannot log in: {exc}")
    return Finding(
        "ok",
        subject,
        f"registry proxy requests carry a JWT from {account.username!r}'s login, in Authorization, "
        "which BE strips before the registry; the API key never goes through the proxy",
    )


def _portainer_registries(client: PortainerClient, subject: str, *, edition: str, admin: bool) -> Finding:
    try:
        count = len(client.registries())
    except AuthError as exc:
        if edition == "CE" and not admin:
            return Finding(
                "error",
                subject,
                f"cannot list registries: /api/registries answered {exc.status}; CE lists them to "
                "administrators only",
                "use an administrator's API key, or list the registries under registries: in the config",
            )
        return Finding("error", subject, f"cannot list registries ({exc.status})")
    except RegentError as exc:
        return Finding("error", subject, f"cannot list registries: {exc}")
    return Finding("ok", subject, f"lists {count} registries")


def check_registry(
    source: RegistrySource, client: RegistryClient, *, mode: Mode, probe_deletes: bool = True
) -> list[Finding]:
    """Read works (`/v2/`, one catalog page); in cleanup mode, whether a delete would be allowed."""
    via = " through Portainer's proxy" if source.access == "portainer-proxy" else ""
    subject = f"registry {source.name}"
    try:
        client.ping()
        first = client.catalog_page(1)
    except AuthError as exc:
        return [
            Finding(
                "error",
                subject,
                f"read refused{via} ({exc.status}): {exc}",
                "the credentials need pull on every repository and registry:catalog:*",
            )
        ]
    except RegentError as exc:
        return [Finding("error", subject, f"cannot read{via}: {exc}")]
    found = [Finding("ok", subject, f"read works{via} (/v2/ and the catalog)")]
    if mode == "read-only":
        found.append(Finding("ok", subject, "read-only mode: delete permission is not needed, not checked"))
    elif not probe_deletes:
        found.append(
            Finding(
                "warning",
                subject,
                "cleanup mode, delete permission not checked (privileges.delete_probe is off)",
                "approved cleanups fail per item with the registry's 401/403/405 if it cannot delete",
            )
        )
    elif isinstance(client, NativeRegistry) and client.native_delete():
        found.append(
            Finding(
                "warning",
                subject,
                f"deletes go through {client.capabilities.delete_path}: permission not probed",
                "approved cleanups fail per item with the registry's answer if the credentials cannot delete",
            )
        )
    else:
        try:
            probe = client.probe_delete(first[0] if first else PROBE_REPOSITORY)
        except RegentError as exc:  # a catalog name outside the grammar: refused before any request
            probe = DeleteProbe(status=None, code="", detail=str(exc))
        found.append(_delete_finding(subject, probe))
    return found


def _delete_finding(subject: str, probe: DeleteProbe) -> Finding:
    if probe.status == 404:
        return Finding(
            "ok", subject, f"deletes allowed (a DELETE of {PROBE_DIGEST[:12]}… answered 404 {probe.code})"
        )
    if probe.status == 405:
        return Finding(
            "warning",
            subject,
            f"the registry refuses deletes (405 {probe.code or 'Method Not Allowed'}): proposals for it will "
            "fail",
            "enable deletes (distribution: storage.delete.enabled / REGISTRY_STORAGE_DELETE_ENABLED=true; "
            "not in read-only maintenance), or set mode: read-only",
        )
    if probe.status in (401, 403):
        return Finding(
            "warning",
            subject,
            f"the credentials may not delete ({probe.status} {probe.code}): proposals for it will fail",
            "grant delete on the repositories to clean up (Harbor robot: delete permission; token "
            "services: the delete action), or set mode: read-only",
        )
    return Finding(
        "warning",
        subject,
        f"could not tell whether deletes work ({probe.detail})",
        "fix the credentials or the registry, or set mode: read-only",
    )


def delete_refusals(findings: list[Finding]) -> dict[str, str]:
    """Registry name -> why deletes will fail there, from the findings (for proposals to say so)."""
    out: dict[str, str] = {}
    for finding in findings:
        registry = finding.subject.startswith("registry ")
        if finding.level == "warning" and registry and "proposals for it will fail" in finding.message:
            out[finding.subject.removeprefix("registry ")] = finding.message
    return out
