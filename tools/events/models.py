"""Registry events: the wire formats Regent receives (distribution envelopes, Harbor webhooks) and the one
normalized `RegistryEvent` everything else reads.

Wire models ignore unknown fields (formats grow; a picky receiver makes distribution retry forever) but
reject a body whose structure is wrong. Identity fields are bounded so a hostile body cannot bloat the store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EventAction = Literal["push", "pull", "delete", "mount"]
EventFormat = Literal["distribution", "harbor"]
EventKind = Literal["manifest", "blob"]

ACTIONS: frozenset[str] = frozenset({"push", "pull", "delete", "mount"})
MAX_EVENTS_PER_BODY = 5000
_SHORT = 256  # ids, tags, actors, hosts
_LONG = 1024  # user agents, URLs, repository paths


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


def in_utc(value: datetime) -> datetime:
    """An aware UTC time (naive means UTC); ValueError, which pydantic reports, when UTC cannot hold it.

    `0001-01-01T00:00:00+14:00` parses, but in UTC it is in year 0: astimezone raises OverflowError,
    which pydantic does not catch, so a body carrying it would crash the receiver.
    """
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is out of range once converted to UTC") from None


def event_time(value: datetime) -> datetime:
    """A notification's time in UTC, 1970 to 9998: a year-1 event would crash the digest later, when it
    is shown in a time zone west of UTC."""
    utc = in_utc(value)
    if not 1970 <= utc.year < 9999:
        raise ValueError(f"{utc.isoformat()} is not a plausible event time (1970 to 9998)")
    return utc


# --- CNCF distribution (docker-registry) --------------------------------------------------------------


class DistributionTarget(_Wire):
    """`target`: what the event is about (a manifest or a blob) and where."""

    media_type: str = Field(default="", alias="mediaType", max_length=_SHORT)
    digest: str = Field(default="", max_length=_SHORT)
    size: int | None = Field(default=None, ge=0)
    length: int | None = Field(default=None, ge=0)  # deprecated twin of size; older registries send only this
    repository: str = Field(min_length=1, max_length=_LONG)
    from_repository: str = Field(default="", alias="fromRepository", max_length=_LONG)
    url: str = Field(default="", max_length=_LONG * 2)
    tag: str = Field(default="", max_length=_SHORT)


class DistributionRequest(_Wire):
    """`request`: the HTTP request that caused the event."""

    id: str = Field(default="", max_length=_SHORT)
    addr: str = Field(default="", max_length=_SHORT)
    host: str = Field(default="", max_length=_SHORT)
    method: str = Field(default="", max_length=16)
    useragent: str = Field(default="", max_length=_LONG)


class DistributionActor(_Wire):
    """`actor`: the authenticated user, empty without auth."""

    name: str = Field(default="", max_length=_SHORT)


class DistributionSource(_Wire):
    """`source`: the registry node that generated the event."""

    addr: str = Field(default="", max_length=_SHORT)
    instance_id: str = Field(default="", alias="instanceID", max_length=_SHORT)


class DistributionEvent(_Wire):
    """One event of a distribution notification envelope."""

    id: str = Field(min_length=1, max_length=_SHORT)
    timestamp: datetime
    action: str = Field(min_length=1, max_length=32)
    target: DistributionTarget
    request: DistributionRequest = DistributionRequest()
    actor: DistributionActor = DistributionActor()
    source: DistributionSource = DistributionSource()

    _utc = field_validator("timestamp")(event_time)


class DistributionEnvelope(_Wire):
    """`application/vnd.docker.distribution.events.v1+json` (v2 in distribution 3): `{"events": [...]}`."""

    events: list[DistributionEvent] = Field(max_length=MAX_EVENTS_PER_BODY)


# --- Harbor webhooks ---------------------------------------------------------------------------------


class HarborResource(_Wire):
    """One artifact of a Harbor event."""

    digest: str = Field(default="", max_length=_SHORT)
    tag: str = Field(default="", max_length=_SHORT)
    resource_url: str = Field(default="", max_length=_LONG * 2)


class HarborRepository(_Wire):
    """The repository of a Harbor event (`repo_full_name` is `namespace/name`)."""

    name: str = Field(default="", max_length=_LONG)
    namespace: str = Field(default="", max_length=_LONG)
    repo_full_name: str = Field(default="", max_length=_LONG)


class HarborEventData(_Wire):
    """`event_data` (default format) or `data` (CloudEvents format)."""

    resources: list[HarborResource] = Field(default_factory=list, max_length=MAX_EVENTS_PER_BODY)
    repository: HarborRepository = HarborRepository()


class HarborPayload(_Wire):
    """Harbor's default webhook payload: `type`, `occur_at` (unix seconds), `operator`, `event_data`."""

    type: str = Field(min_length=1, max_length=64)
    occur_at: datetime
    operator: str = Field(default="", max_length=_SHORT)
    event_data: HarborEventData

    _utc = field_validator("occur_at")(event_time)


class HarborCloudEvent(_Wire):
    """Harbor's CloudEvents payload: `id`, `type` (`harbor.artifact.pushed`...), `time`, `data`."""

    specversion: str = Field(max_length=16)
    id: str = Field(min_length=1, max_length=_SHORT)
    type: str = Field(min_length=1, max_length=64)
    time: datetime
    operator: str = Field(default="", max_length=_SHORT)
    data: HarborEventData = HarborEventData()

    _utc = field_validator("time")(event_time)


# --- normalized --------------------------------------------------------------------------------------


class RegistryEvent(BaseModel):
    """One push, pull, delete or mount, whatever format it arrived in."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=_SHORT * 2, description="unique; replays are ignored by it")
    format: EventFormat
    registry: str = Field(description="host[:port] clients used to reach the registry; '' when unknown")
    action: EventAction
    kind: EventKind = "manifest"
    repository: str
    digest: str = ""
    tag: str = ""
    media_type: str = ""
    size: int = 0
    actor: str = ""
    addr: str = Field(default="", description="client IP address, without the port")
    user_agent: str = ""
    at: datetime

    _utc = field_validator("at")(in_utc)


class IngestResult(BaseModel):
    """What one posted body did to the store."""

    received: int = Field(description="events in the body")
    stored: int = Field(description="events new to the store")
    duplicates: int = Field(description="events already stored (replays and retries)")
    ignored: int = Field(default=0, description="events of kinds Regent does not keep (scans, quotas, ...)")
    event_ids: list[str] = Field(default_factory=list, description="ids of the newly stored events")
