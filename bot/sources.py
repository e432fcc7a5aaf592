"""Composition root helpers: build clients and inventory sources from settings, flags and secrets."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import httpx
from diskcache import Cache

from bot.config import Secrets, Settings
from tools.errors import ConfigError, RegentError
from tools.inventory.inventory import DeploymentSource, RegistryTarget
from tools.inventory.models import RegistrySource
from tools.inventory.store import PreviousCrawls, SnapshotStore
from tools.registry.client import RegistryClient
from tools.registry.http import pooled_client
from tools.registry.kinds.base import AdapterConfig, KindName, NativeRegistry
from tools.registry.kinds.select import build_registry, kind_for

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from tools.portainer.client import PortainerClient
    from tools.portainer.registries import StoredCredentials


class Closable(Protocol):
    """Anything with a close() to call when the run is over."""

    def close(self) -> None: ...


@dataclass(slots=True)
class Sources:
    """Everything one inventory run reads from, and the resources to close afterwards."""

    registries: list[RegistryTarget] = field(default_factory=list)
    deployments: list[DeploymentSource] = field(default_factory=list)
    closers: list[Closable] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Close every HTTP client this run opened."""
        for client in self.closers:
            client.close()


def registry_url(text: str) -> str:
    """Normalize `host:port` or a URL to a base URL; loopback hosts default to http, others to https."""
    raw = text.strip().rstrip("/")
    if not raw:
        raise ConfigError("empty registry URL")
    if "://" not in raw:
        host = raw.split("/")[0].rsplit(":", 1)[0].strip("[]")
        raw = ("http://" if _is_loopback(host) else "https://") + raw
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"registry URL {text!r} must look like https://host[:port] or host[:port]")
    if parts.path not in {"", "/"} or parts.query:
        raise ConfigError(f"registry URL {text!r} must not have a path or query")
    return f"{parts.scheme}://{parts.netloc}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shared_http(*, workers: int) -> httpx.Client:
    """One pooled HTTP client for all registries of a run."""
    return pooled_client(connections=workers + 8)


def build_sources(
    settings: Settings,
    secrets: Secrets,
    *,
    registry_urls: list[str],
    docker_hosts: list[str],
    store: SnapshotStore,
    cache_dir: Path,
) -> Sources:
    """Registry targets and deployment sources from config, flags and secrets."""
    sources = Sources()
    previous = PreviousCrawls(store)
    http = shared_http(workers=settings.crawl_workers)
    sources.closers.append(http)
    cache = Cache(str(cache_dir))
    seen: set[str] = set()
    for url in registry_urls:
        base = registry_url(url)
        password = secrets.registry_password.get_secret_value() if secrets.registry_password else None
        kind = kind_for(host=urlsplit(base).netloc)
        source = RegistrySource(name=urlsplit(base).netloc, url=base, kind=kind)
        config = AdapterConfig(
            kind=kind, url=base, http=http, cache=cache, username=secrets.registry_username, password=password
        )
        _add_registry(sources, seen, source, partial(build_registry, config), previous)
    portainer = _read_portainer(sources, settings, secrets) if settings.portainer is not None else None
    records = {record.name: record for record in portainer.records} if portainer else {}
    for entry in settings.registries:
        base = registry_url(entry.url)
        username, password = _credentials(secrets, entry.name)
        # An entry named like a Portainer record lends its URL and credentials; what it leaves unset (kind,
        # region, a native API's project or organisation) still comes from the record.
        record = records.get(entry.name)
        hint = entry.kind or (record.kind if record is not None and record.kind != "custom" else None)
        kind = kind_for(hint=hint, host=urlsplit(base).netloc)
        region = entry.region or (record.region if record is not None else "")
        shared = dict(record.extra) if record is not None else {}
        # the entry's own `extra` goes to the adapter only, never into the snapshot: it may hold a token
        source = RegistrySource(
            name=entry.name, url=base, kind=kind, region=region, extra=tuple(sorted(shared.items()))
        )
        config = AdapterConfig(
            kind=kind,
            url=base,
            http=http,
            cache=cache,
            username=username,
            password=password,
            region=region,
            api_url=entry.api_url,
            extra=shared | dict(entry.extra),
            blob_redirect_hosts=tuple(entry.blob_redirect_hosts),
        )
        _add_registry(sources, seen, source, partial(build_registry, config), previous)
    if portainer is not None:
        configured = {entry.name for entry in settings.registries}
        _add_portainer_registries(
            sources, seen, portainer, configured, settings, secrets, http=http, cache=cache, previous=previous
        )
    for host in [*settings.docker_hosts, *docker_hosts]:
        sources.deployments.append(_docker_host_source(host, index=len(sources.deployments)))
    return sources


def _add_registry(
    sources: Sources,
    seen: set[str],
    source: RegistrySource,
    client: Callable[[], RegistryClient],
    previous: PreviousCrawls,
) -> None:
    """Build the registry's client and add it; a client that cannot be built is an error of that registry.

    An adapter may call its vendor while being built (ECR trades the AWS keys for a registry token), so
    bad keys or an unreachable API must cost that registry only, not the whole run.
    """
    if source.url in seen:
        return
    try:
        built = client()
    except RegentError as exc:
        sources.errors.append(f"registry {source.name}: {exc}")
        return
    seen.add(source.url)
    sources.registries.append(
        RegistryTarget(
            source=source,
            client=built,
            previous=previous.tags(source.url),
            known=previous.manifests(source.url),
        )
    )


def _docker_host_source(host: str, *, index: int) -> DeploymentSource:
    from tools.docker.source import docker_host_source

    return docker_host_source(host, environment_id=-(index + 1))


def _credentials(secrets: Secrets, name: str) -> tuple[str | None, str | None]:
    creds = secrets.registry_credentials.get(name)
    return (creds[0], creds[1].get_secret_value()) if creds else (None, None)


@dataclass(slots=True)
class _Portainer:
    """Portainer's client, the one whose credentials go on BE proxy requests, and its registry records."""

    client: PortainerClient
    reader: PortainerClient | None
    edition: str
    records: list[RegistrySource]
    stored: dict[int, StoredCredentials] | None = None  # read once, when a record needs them

    def login(self, registry_id: int) -> StoredCredentials | None:
        """The login Portainer stores for a record (CE, admin key); None when it has none or hides it."""
        if self.stored is None:
            self.stored = self.client.stored_credentials()
        return self.stored.get(registry_id)


def _read_portainer(sources: Sources, settings: Settings, secrets: Secrets) -> _Portainer | None:
    """Portainer's environments as a deployment source, and its registry records (BE: through its proxy)."""
    from tools.portainer.client import PortainerClient
    from tools.portainer.sources import portainer_deployment_source

    config = settings.portainer
    assert config is not None
    if secrets.portainer_api_key is None:
        raise ConfigError("Portainer is configured but PORTAINER_API_KEY is not set")
    portainer = PortainerClient(
        config.url, api_key=secrets.portainer_api_key.get_secret_value(), verify=config.verify_tls
    )
    sources.closers.append(portainer)
    sources.deployments.append(portainer_deployment_source(portainer))
    try:
        edition = portainer.status().edition
        reader = proxy_reader(portainer, settings, secrets) if edition == "BE" else None
        if reader is not None and reader is not portainer:
            sources.closers.append(reader)
        records = (reader or portainer).registry_sources(
            edition=edition, proxied=reader is not None, default_scheme=config.registry_scheme
        )
    except RegentError as exc:
        sources.errors.append(f"Portainer {config.url}: registries: {exc}")
        return None
    return _Portainer(portainer, reader, edition, records)


def _add_portainer_registries(
    sources: Sources,
    seen: set[str],
    portainer: _Portainer,
    configured: set[str],
    settings: Settings,
    secrets: Secrets,
    *,
    http: httpx.Client,
    cache: Cache,
    previous: PreviousCrawls,
) -> None:
    """Portainer's records that Regent's config does not name, each through its kind's adapter."""
    config = settings.portainer
    assert config is not None
    for record in portainer.records:
        if record.name in configured:
            continue  # built from the config's entry, with what the entry leaves unset from this record
        if portainer.reader is None and portainer.edition == "BE" and config.registry_proxy_auth == "login":
            sources.errors.append(f"registry {record.name}: not read: {NO_PROXY_LOGIN}")
            continue
        source = replace(record, kind=_record_kind(record, http=http))
        build = partial(
            _portainer_registry_client,
            source,
            portainer,
            settings,
            secrets,
            http=http,
            cache=cache,
            errors=sources.errors,
        )
        _add_registry(sources, seen, source, build, previous)


def _record_kind(record: RegistrySource, *, http: httpx.Client) -> str:
    """Portainer has no GAR or Harbor type: a Custom record is told apart by its host, else by one probe.

    Harbor answers `GET /api/v2.0/systeminfo` without credentials (a plain registry: 404); the probe is one
    request per Custom record per run, and only for a record reached directly (BE's proxy is v2 only).
    """
    kind = kind_for(hint=record.kind if record.kind != "custom" else None, host=record.image_host)
    if kind == "custom" and record.access == "direct":
        from tools.registry.kinds.harbor.client import is_harbor

        if is_harbor(record.url, http=http):
            return "harbor"
    return kind


def _portainer_registry_client(
    source: RegistrySource,
    portainer: _Portainer,
    settings: Settings,
    secrets: Secrets,
    *,
    http: httpx.Client,
    cache: Cache,
    errors: list[str],
) -> NativeRegistry:
    """Through BE's proxy with the reader's credentials (a JWT unless opted in, v2 only), else directly.

    Directly, the kind's adapter is built from the record (ECR region, GitLab project) and the credentials
    Regent holds for the registry's name; without those, the login Portainer stores for the record (CE
    lists it to administrators): an ECR record's access key id and secret, which the ECR adapter trades
    for a registry token, or any other kind's username and password or token.
    """
    reader = portainer.reader
    if reader is not None and source.access == "portainer-proxy" and source.portainer_id is not None:
        assert settings.portainer is not None
        proxy = reader.registry_proxy(
            source.portainer_id,
            environment_id=source.proxy_environment_id,
            allow_api_key=settings.portainer.registry_proxy_auth == "api-key",
        )
        return build_registry(
            AdapterConfig(
                kind=_kind(source.kind),
                url=proxy.base_url,
                http=http,
                cache=cache,
                headers=dict(proxy.headers),
                params=dict(proxy.params),
            )
        )
    username, password = _credentials(secrets, source.name)
    if source.kind == "ecr" and username is None and source.portainer_id is not None:
        try:
            keys = portainer.client.ecr_credentials(source.portainer_id)
        except RegentError as exc:
            errors.append(f"registry {source.name}: no AWS keys from Portainer: {exc}")
        else:
            username, password = keys.access_key_id, keys.secret_access_key.get_secret_value()
    elif username is None and source.portainer_id is not None:
        username, password = _stored_login(portainer, source)
    return build_registry(
        AdapterConfig(
            kind=_kind(source.kind),
            url=source.url,
            http=http,
            cache=cache,
            username=username,
            password=password,
            region=source.region,
            extra=dict(source.extra),
        )
    )


def _stored_login(portainer: _Portainer, source: RegistrySource) -> tuple[str | None, str | None]:
    """The login Portainer stores for a record, or (None, None) to read it anonymously."""
    assert source.portainer_id is not None
    try:
        login = portainer.login(source.portainer_id)
    except RegentError as exc:  # a non-admin key (403): read anonymously; a 401 from the registry says more
        portainer.stored = {}
        log.warning(
            "Portainer's stored registry logins not read (%s): reading %s anonymously", exc, source.name
        )
        return None, None
    return (login.username, login.password.get_secret_value()) if login is not None else (None, None)


def _kind(name: str) -> KindName:
    """A source's kind as the adapter contract's type (it was validated by kind_for when it was set)."""
    return kind_for(hint=name)


NO_PROXY_LOGIN = (
    "Portainer BE's registry proxy needs a service account login (PORTAINER_PROXY_USERNAME and "
    "PORTAINER_PROXY_PASSWORD); or give the registry an entry under registries:, or set "
    "portainer.registry_proxy_auth: direct (or api-key, which may forward the API key to the registry)"
)


def proxy_reader(portainer: PortainerClient, settings: Settings, secrets: Secrets) -> PortainerClient | None:
    """The Portainer client whose credentials go on BE registry-proxy requests, or None (no proxy).

    BE strips only `Authorization` before forwarding to the registry, so the API key (`X-API-Key`) could
    reach a third party: by default ("login") proxy requests carry a JWT from a service account's login
    instead; "api-key" is the explicit opt-in for the key; "direct" never uses the proxy. The caller
    closes a client made here.
    """
    from tools.portainer.client import PortainerClient

    config = settings.portainer
    assert config is not None
    if config.registry_proxy_auth == "api-key":
        return portainer
    username, password = secrets.portainer_proxy_username, secrets.portainer_proxy_password
    if config.registry_proxy_auth == "direct" or not (username and password):
        return None
    return PortainerClient(
        config.url, username=username, password=password.get_secret_value(), verify=config.verify_tls
    )
