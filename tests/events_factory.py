"""Builders for registry events: wire formats (distribution envelopes, Harbor webhooks) and normalized."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

from tools.events.models import EventAction, RegistryEvent
from tools.registry.media_types import DOCKER_MANIFEST

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


def digest_of(name: str) -> str:
    """A well-formed fake digest derived from a short name."""
    return "sha256:" + name.encode().hex().ljust(64, "0")[:64]


def wire_event(
    *,
    action: str = "push",
    repository: str = "shop/api",
    tag: str = "1.0",
    digest: str | None = None,
    media_type: str = DOCKER_MANIFEST,
    at: datetime = NOW,
    actor: str = "alice",
    addr: str = "10.0.0.5:41234",
    user_agent: str = "docker/24.0.7 go/go1.20.10",
    host: str = "registry.example.com:5000",
    event_id: str | None = None,
    size: int = 1234,
) -> dict[str, Any]:
    """One distribution notification event as the registry sends it."""
    digest = digest or digest_of(f"{repository}:{tag}")
    kind = "manifests" if "manifest" in media_type else "blobs"
    return {
        "id": event_id or f"evt-{next(_ids)}",
        "timestamp": at.isoformat(),
        "action": action,
        "target": {
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "length": size,
            "repository": repository,
            "url": f"http://{host}/v2/{repository}/{kind}/{digest}",
            "tag": tag,
        },
        "request": {
            "id": "req-1",
            "addr": addr,
            "host": host,
            "method": "PUT" if action == "push" else "GET",
            "useragent": user_agent,
        },
        "actor": {"name": actor} if actor else {},
        "source": {"addr": "registry-node:5000", "instanceID": "instance-1"},
    }


def envelope(*events: dict[str, Any]) -> bytes:
    """An envelope body, indented like distribution's json.MarshalIndent."""
    return json.dumps({"events": list(events)}, indent=3).encode()


def harbor_payload(
    *,
    kind: str = "PUSH_ARTIFACT",
    repository: str = "proj/app",
    tag: str = "1.0",
    digest: str | None = None,
    operator: str = "alice",
    occur_at: int = 1_790_000_000,
    host: str = "harbor.example.com",
) -> dict[str, Any]:
    """A Harbor webhook in the default format."""
    digest = digest or digest_of(f"{repository}:{tag}")
    namespace, _, name = repository.partition("/")
    return {
        "type": kind,
        "occur_at": occur_at,
        "operator": operator,
        "event_data": {
            "resources": [{"digest": digest, "tag": tag, "resource_url": f"{host}/{repository}:{tag}"}],
            "repository": {
                "date_created": occur_at - 100,
                "name": name,
                "namespace": namespace,
                "repo_full_name": repository,
                "repo_type": "private",
            },
        },
    }


def event(
    action: EventAction = "pull",
    *,
    repository: str = "shop/api",
    tag: str = "",
    digest: str | None = None,
    actor: str = "alice",
    addr: str = "10.0.0.5",
    user_agent: str = "docker/24.0.7",
    at: datetime = NOW,
    registry: str = "registry.example.com:5000",
    size: int = 0,
    event_id: str | None = None,
) -> RegistryEvent:
    """A normalized event."""
    return RegistryEvent(
        id=event_id or f"e-{next(_ids)}",
        format="distribution",
        registry=registry,
        action=action,
        kind="manifest",
        repository=repository,
        digest=digest if digest is not None else digest_of(f"{repository}:{tag or 'x'}"),
        tag=tag,
        media_type=DOCKER_MANIFEST,
        size=size,
        actor=actor,
        addr=addr,
        user_agent=user_agent,
        at=at,
    )
