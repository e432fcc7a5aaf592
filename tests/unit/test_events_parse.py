"""Parsing distribution envelopes and Harbor webhooks into normalized events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.events_factory import digest_of, envelope, harbor_payload, wire_event
from tools.errors import InvalidInput, InvalidPayload
from tools.events.parse import client_address, parse_distribution, parse_harbor

LAYER = "application/octet-stream"


def test_distribution_envelope_normalizes_every_field() -> None:
    body = envelope(
        wire_event(event_id="a", action="pull", repository="shop/api", tag="1.4", addr="10.1.2.3:5555")
    )
    parsed = parse_distribution(body)
    assert parsed.ignored == 0
    [event] = parsed.events
    assert event.id == "a"
    assert event.format == "distribution"
    assert event.registry == "registry.example.com:5000"
    assert (event.action, event.kind, event.repository, event.tag) == ("pull", "manifest", "shop/api", "1.4")
    assert event.digest == digest_of("shop/api:1.4")
    assert (event.actor, event.addr, event.size) == ("alice", "10.1.2.3", 1234)
    assert event.at.tzinfo is not None


def test_go_nanosecond_timestamps_with_offsets_become_utc() -> None:
    raw = wire_event(event_id="ns")
    raw["timestamp"] = "2016-03-09T14:44:26.402973972-08:00"
    [event] = parse_distribution(envelope(raw)).events
    assert event.at == datetime(2016, 3, 9, 22, 44, 26, 402973, tzinfo=UTC)


def test_blob_events_and_mounts_are_blobs_and_deletes_without_type_are_manifests() -> None:
    blob = wire_event(event_id="b", media_type=LAYER, tag="")
    mount = wire_event(event_id="m", action="mount", media_type=LAYER, tag="")
    delete = wire_event(event_id="d", action="delete", tag="")
    delete["target"] = {"digest": digest_of("x"), "repository": "shop/api"}
    kinds = {e.id: e.kind for e in parse_distribution(envelope(blob, mount, delete)).events}
    assert kinds == {"b": "blob", "m": "blob", "d": "manifest"}


def test_unknown_actions_and_fields_are_ignored_not_refused() -> None:
    raw = wire_event(event_id="x", action="replicate")
    raw["target"]["references"] = [{"digest": digest_of("ref")}]
    raw["future"] = {"field": 1}
    parsed = parse_distribution(envelope(raw, wire_event(event_id="y")))
    assert [e.id for e in parsed.events] == ["y"]
    assert parsed.ignored == 1


def test_anonymous_actor_and_missing_request_are_empty() -> None:
    raw = wire_event(event_id="anon", actor="")
    del raw["request"]
    [event] = parse_distribution(envelope(raw)).events
    assert (event.actor, event.addr, event.user_agent) == ("", "", "")
    assert event.registry == "registry.example.com:5000"  # from target.url when request.host is absent


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON at line 1 column 1"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"events": 5}', "events"),
        (b'{"nothing": []}', "events"),
        (json.dumps({"events": [{"id": "x", "action": "push"}]}).encode(), "events.0"),
        (envelope({**wire_event(), "timestamp": "yesterday"}), "timestamp"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "nested deeper than"),
        (b'{"events": [], "n": NaN}', "NaN is not a JSON number"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):  # InvalidJson or InvalidPayload
        parse_distribution(body)


def test_invalid_repository_name_refuses_the_whole_body() -> None:
    good, bad = wire_event(event_id="g"), wire_event(event_id="b", repository="Bad Name!")
    with pytest.raises(InvalidPayload, match="repository"):
        parse_distribution(envelope(good, bad))


def test_oversized_identity_fields_are_refused() -> None:
    with pytest.raises(InvalidPayload, match="id"):
        parse_distribution(envelope(wire_event(event_id="x" * 5000)))


def test_harbor_default_payload_maps_actions_and_derives_stable_ids() -> None:
    body = json.dumps(harbor_payload(kind="PULL_ARTIFACT", operator="robot$ci", tag="2.0")).encode()
    first, second = parse_harbor(body), parse_harbor(body)
    [event] = first.events
    assert event.id == second.events[0].id and event.id.startswith("harbor-")
    assert (event.action, event.repository, event.tag, event.actor) == ("pull", "proj/app", "2.0", "robot$ci")
    assert event.registry == "harbor.example.com"
    assert event.at == datetime.fromtimestamp(1_790_000_000, UTC)
    other = parse_harbor(json.dumps(harbor_payload(kind="PULL_ARTIFACT", occur_at=1_790_000_001)).encode())
    assert other.events[0].id != event.id


def test_harbor_digest_in_tag_field_means_untagged() -> None:
    payload = harbor_payload(kind="PULL_ARTIFACT")
    resource = payload["event_data"]["resources"][0]
    resource["tag"] = resource["digest"]
    resource["resource_url"] = f"https://harbor.example.com/proj/app@{resource['digest']}"
    [event] = parse_harbor(json.dumps(payload).encode()).events
    assert event.tag == ""
    assert event.registry == "harbor.example.com"


def test_harbor_cloudevents_use_their_id_and_skip_scan_events() -> None:
    data = harbor_payload()["event_data"]
    cloud = {
        "specversion": "1.0",
        "id": "66e18103",
        "type": "harbor.artifact.pushed",
        "time": "2026-11-27T06:04:46Z",
        "data": data,
        "operator": "bob",
    }
    [event] = parse_harbor(json.dumps(cloud).encode()).events
    assert (event.id, event.action, event.actor) == ("66e18103:0", "push", "bob")
    scan = parse_harbor(json.dumps({**harbor_payload(kind="SCANNING_COMPLETED")}).encode())
    assert scan.events == [] and scan.ignored == 1


def test_harbor_structure_errors_are_refused() -> None:
    with pytest.raises(InvalidPayload, match="event_data"):
        parse_harbor(json.dumps({"type": "PUSH_ARTIFACT", "occur_at": 1}).encode())


@pytest.mark.parametrize(
    ("addr", "ip"),
    [
        ("10.0.0.1:5000", "10.0.0.1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::2", "2001:db8::2"),
        ("192.168.1.9", "192.168.1.9"),
        ("client.local", ""),
        ("", ""),
    ],
)
def test_client_address(addr: str, ip: str) -> None:
    assert client_address(addr) == ip
