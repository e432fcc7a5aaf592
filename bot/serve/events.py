"""The registry-events feature of `regent serve`, composed from settings: the receiver (mounted on the
router), the push monitor and the anomaly monitor, with alerts posted through the Slack side's alert poster.

`build_events_service` returns None when REGENT_EVENTS_SECRET is not set: an unauthenticated receiver is
never mounted. Registry clients for push analysis come from the same sources the inventory uses, looked
up by the host clients push to (what notifications carry), and rebuilt when an unknown host appears.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import SecretStr

from bot.config import EventsSettings
from bot.serve.monitors import AnomalyMonitor, PushMonitor
from bot.slack.alerts import SlackAlertPoster
from bot.web.events import EventsEndpoint, Observe
from tools.errors import RegentError
from tools.events.models import RegistryEvent
from tools.events.stats import Exclusions
from tools.events.store import EventStore
from tools.portainer.client import PortainerClient
from tools.registry.client import RegistryClient

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)
REBUILD_SECONDS = 60.0


class SourcesLike(Protocol):
    """What bot.sources.Sources offers that the lookup needs."""

    registries: list[Any]  # RegistryTarget: .source.image_host, .client

    def close(self) -> None:
        """Close the HTTP clients."""
        ...


def exclusions_of(settings: EventsSettings) -> Exclusions:
    """The configured actors and user agents whose pulls are not use."""
    return Exclusions(actors=tuple(settings.ignore_actors), user_agents=tuple(settings.ignore_user_agents))


class RegistryLookup:
    """Registry clients by the host images are pushed to; rebuilt (at most every minute) on a miss."""

    def __init__(self, build: Callable[[], SourcesLike]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._sources: SourcesLike | None = None
        self._clients: dict[str, RegistryClient] = {}
        self._built_at = float("-inf")

    def __call__(self, host: str) -> RegistryClient | None:
        with self._lock:
            key = host.lower()
            if key not in self._clients and time.monotonic() - self._built_at >= REBUILD_SECONDS:
                self._rebuild()
            return self._clients.get(key)

    def _rebuild(self) -> None:
        self._built_at = time.monotonic()
        try:
            sources = self._build()
        except RegentError as exc:
            log.warning("events: cannot build registry clients: %s", exc)
            return
        if self._sources is not None:
            self._sources.close()
        self._sources = sources
        self._clients = {t.source.image_host.lower(): t.client for t in sources.registries}

    def close(self) -> None:
        """Close the HTTP clients of the last build."""
        with self._lock:
            if self._sources is not None:
                self._sources.close()
                self._sources = None


class EventsService:
    """Receiver, push monitor and anomaly monitor; `mount` on the router, then `start`, finally `close`."""

    def __init__(
        self,
        *,
        settings: EventsSettings,
        secret: SecretStr,
        store: EventStore,
        lookup: Callable[[str], RegistryClient | None],
        alerts: SlackAlertPoster | None,
        portainer: PortainerClient | None = None,
        anomaly_interval_s: float = 900.0,
        observe: Observe | None = None,
    ) -> None:
        poster = alerts
        self.pushes = PushMonitor(
            store=store, client_for=lookup, rules=settings.push, poster=poster, channel=settings.alert_channel
        )
        self.anomalies = AnomalyMonitor(
            store=store,
            rules=settings.anomalies,
            exclusions=exclusions_of(settings),
            poster=poster,
            channel=settings.anomaly_channel,
            portainer=portainer,
            interval_s=anomaly_interval_s,
        )
        self._listeners: list[Callable[[Sequence[RegistryEvent]], None]] = [self.pushes.submit]
        self.endpoint = EventsEndpoint(
            store=store,
            secret=secret,
            max_body_bytes=settings.max_body_bytes,
            on_stored=self._hand_on,
            observe=observe,
        )
        self._lookup = lookup
        self._portainer = portainer

    def listen(self, listener: Callable[[Sequence[RegistryEvent]], None]) -> None:
        """Also give newly stored events to `listener` (the inventory refresh); it must return quickly."""
        self._listeners.append(listener)

    def _hand_on(self, events: Sequence[RegistryEvent]) -> None:
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:  # one broken consumer must not starve the others
                log.exception("events: a listener failed on %d new events", len(events))

    def mount(self, router: Any) -> None:
        """Mount POST /events/registry and /events/harbor."""
        self.endpoint.mount(router)

    def start(self) -> None:
        """Start both monitors."""
        self.pushes.start()
        self.anomalies.start()

    def close(self) -> None:
        """Stop both monitors and close the registry clients."""
        self.pushes.close()
        self.anomalies.close()
        close = getattr(self._lookup, "close", None)
        if callable(close):
            close()
        if self._portainer is not None:
            self._portainer.close()


def build_events_service(
    settings: EventsSettings,
    *,
    secret: SecretStr | None,
    store: EventStore,
    sources: Callable[[], SourcesLike],
    alerts: SlackAlertPoster | None,
    portainer: PortainerClient | None = None,
    anomaly_interval_s: float = 900.0,
    observe: Observe | None = None,
) -> EventsService | None:
    """The service for `regent serve`, or None (with a warning) when no shared secret is configured."""
    if secret is None or not secret.get_secret_value():
        log.warning("events: %s is not set; registry notifications are not received", settings.secret_env)
        return None
    return EventsService(
        settings=settings,
        secret=secret,
        store=store,
        lookup=RegistryLookup(sources),
        alerts=alerts,
        portainer=portainer,
        anomaly_interval_s=anomaly_interval_s,
        observe=observe,
    )


def events_service_for(runtime: App, *, alerts: SlackAlertPoster | None) -> EventsService | None:
    """The events service of a runtime (its store, settings and registries), or None without a secret."""
    settings, secrets = runtime.settings, runtime.secrets

    def sources() -> SourcesLike:
        return runtime.sources(with_docker_hosts=False)

    return build_events_service(
        settings.events,
        secret=secrets.events_secret,
        store=runtime.events,
        sources=sources,
        alerts=alerts,
        portainer=runtime.portainer_client() if runtime.toolbox.context.portainer else None,
        observe=runtime.metrics.observe_webhook,
    )
