"""Turn posted notification bodies into `RegistryEvent`s, or reject the whole body.

Unknown actions and Harbor event types Regent does not keep (scans, quotas, replication) are counted as
ignored, not rejected: distribution retries a refused body forever, so only a body that is not what it
claims to be (not JSON, wrong structure, invalid names) is refused.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from tools.errors import InvalidPayload
from tools.events.models import (
    ACTIONS,
    DistributionEnvelope,
    DistributionEvent,
    EventAction,
    EventKind,
    HarborCloudEvent,
    HarborEventData,
    HarborPayload,
    RegistryEvent,
)
from tools.json_input import load_json
from tools.registry.media_types import MANIFEST_TYPES
from tools.registry.reference import is_valid_repository, is_valid_tag

M = TypeVar("M", bound=BaseModel)

_DIGEST = re.compile(r"(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})\Z")
# Every manifest type distribution accepts: the current ones, schema 1 (signed or not) and OCI artifacts.
_MANIFEST_MEDIA_TYPES = MANIFEST_TYPES | {
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.oci.artifact.manifest.v1+json",
}

HARBOR_ACTIONS: dict[str, EventAction] = {
    "PUSH_ARTIFACT": "push",
    "PULL_ARTIFACT": "pull",
    "DELETE_ARTIFACT": "delete",
    "harbor.artifact.pushed": "push",
    "harbor.artifact.pulled": "pull",
    "harbor.artifact.deleted": "delete",
}


class ParsedBody(BaseModel):
    """Events from one body, and how many of its entries were deliberately skipped."""

    events: list[RegistryEvent]
    ignored: int = 0


def parse_distribution(body: object) -> ParsedBody:
    """Parse a distribution notification envelope (events v1 or v2 media type): raw bytes or decoded JSON."""
    envelope = _validate(DistributionEnvelope, _json_object(body), "distribution envelope")
    events: list[RegistryEvent] = []
    ignored = 0
    for index, raw in enumerate(envelope.events):
        if raw.action not in ACTIONS:
            ignored += 1  # a newer registry's action: acknowledge, do not keep
            continue
        events.append(_from_distribution(raw, index))
    return ParsedBody(events=events, ignored=ignored)


def _from_distribution(raw: DistributionEvent, index: int) -> RegistryEvent:
    target = raw.target
    _check_repository(target.repository, f"events[{index}].target.repository")
    _check_digest(target.digest, f"events[{index}].target.digest", required=False)
    _check_tag(target.tag, f"events[{index}].target.tag")
    action: EventAction = raw.action  # type: ignore[assignment]  # checked against ACTIONS by the caller
    url_host = urlsplit(target.url).netloc if target.url else ""
    return RegistryEvent(
        id=raw.id,
        format="distribution",
        registry=(raw.request.host or url_host).lower(),
        action=action,
        kind=_distribution_kind(action, target.media_type, target.url),
        repository=target.repository,
        digest=target.digest,
        tag=target.tag,
        media_type=target.media_type,
        size=target.size if target.size is not None else (target.length or 0),
        actor=raw.actor.name,
        addr=client_address(raw.request.addr),
        user_agent=raw.request.useragent,
        at=raw.timestamp,
    )


def _distribution_kind(action: str, media_type: str, url: str) -> EventKind:
    # The media type says what was pushed; the URL only where. A repository may itself be called
    # `team/blobs/app`, whose manifest URLs contain "/blobs/".
    if action == "mount":
        return "blob"
    if media_type in _MANIFEST_MEDIA_TYPES:
        return "manifest"
    if media_type:
        return "blob"  # a registry accepts manifests only of the types above: anything else is a blob
    endpoint = _url_endpoint(url)
    if endpoint:
        return endpoint
    # Delete events carry only digest and repository; blob deletes are rare API calls, manifest
    # deletes are what people and retention tools do.
    return "manifest" if action == "delete" else "blob"


def _url_endpoint(url: str) -> EventKind | None:
    """`…/v2/<name>/manifests/<ref>` or `…/v2/<name>/blobs/<digest>`: read from the end, not searched."""
    parts = urlsplit(url).path.rstrip("/").rsplit("/", 2) if url else []
    if len(parts) == 3 and parts[1] == "manifests":
        return "manifest"
    if len(parts) == 3 and parts[1] == "blobs":
        return "blob"
    return None


def parse_harbor(body: object) -> ParsedBody:
    """Parse a Harbor webhook body, default or CloudEvents format: raw bytes or decoded JSON."""
    document = _json_object(body)
    if "specversion" in document:
        cloud = _validate(HarborCloudEvent, document, "Harbor CloudEvent")
        return _harbor_events(cloud.type, cloud.operator, cloud.time, cloud.data, id_base=cloud.id)
    payload = _validate(HarborPayload, document, "Harbor webhook")
    # The default format has no event id: derive one from everything the event says, so a redelivery of
    # the same event is recognised (two identical pulls in the same second collapse into one).
    fingerprint = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    id_base = "harbor-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:32]
    return _harbor_events(
        payload.type, payload.operator, payload.occur_at, payload.event_data, id_base=id_base
    )


def _harbor_events(kind: str, operator: str, at: Any, data: HarborEventData, *, id_base: str) -> ParsedBody:
    action = HARBOR_ACTIONS.get(kind)
    if action is None:
        return ParsedBody(events=[], ignored=max(len(data.resources), 1))
    repository = data.repository.repo_full_name or "/".join(
        part for part in (data.repository.namespace, data.repository.name) if part
    )
    _check_repository(repository, "repository.repo_full_name")
    events = []
    for index, resource in enumerate(data.resources):
        _check_digest(resource.digest, f"resources[{index}].digest", required=True)
        tag = "" if resource.tag.startswith("sha256:") else resource.tag  # Harbor puts the digest there
        _check_tag(tag, f"resources[{index}].tag")
        events.append(
            RegistryEvent(
                id=f"{id_base}:{index}",
                format="harbor",
                registry=_harbor_host(resource.resource_url),
                action=action,
                kind="manifest",
                repository=repository,
                digest=resource.digest,
                tag=tag,
                actor=operator,
                at=at,
            )
        )
    return ParsedBody(events=events)


def _harbor_host(resource_url: str) -> str:
    """`harbor.example.com/proj/app:1` or `https://harbor.example.com/proj/app:1` -> the host part."""
    if "://" in resource_url:
        return urlsplit(resource_url).netloc.lower()
    first = resource_url.split("/", 1)[0]
    return first.lower() if "/" in resource_url else ""


def client_address(addr: str) -> str:
    """The IP of `1.2.3.4:5678`, `[::1]:5678` or a bare address; '' when it is not an IP address."""
    text = addr.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.rsplit(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def _check_repository(name: str, where: str) -> None:
    if not is_valid_repository(name):
        raise InvalidPayload(f"{where}: {name[:100]!r} is not a valid repository name")


def _check_digest(digest: str, where: str, *, required: bool) -> None:
    # Only the algorithms registries use: an `md5:abc` digest can never name anything in a registry.
    if digest and not _DIGEST.match(digest):
        raise InvalidPayload(f"{where}: {digest[:100]!r} is not a sha256 or sha512 digest")
    if required and not digest:
        raise InvalidPayload(f"{where}: missing; every artifact event names its digest")


def _check_tag(tag: str, where: str) -> None:
    if tag and not is_valid_tag(tag):
        raise InvalidPayload(f"{where}: {tag[:100]!r} is not a valid tag")


def _json_object(body: object) -> dict[str, Any]:
    # bot/web decodes bodies itself (load_json's 4xx); raw bytes come from tests and replays.
    document = load_json(body, expected="a registry notification") if isinstance(body, bytes) else body
    if not isinstance(document, dict):
        raise InvalidPayload("body is not a JSON object")
    return document


def _validate(model: type[M], document: dict[str, Any], what: str) -> M:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidPayload(f"{what}: {where}: {first['msg']}") from None


Parser = Callable[[object], ParsedBody]
PARSERS: dict[str, Parser] = {"distribution": parse_distribution, "harbor": parse_harbor}
