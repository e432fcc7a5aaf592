"""Issue 12, real inputs: registry notifications as distribution and Harbor send them, and what broke.

The distribution envelope is the example of distribution's own docs/notifications.md (a schema 1 manifest
push and its layer push); the Harbor body is the default webhook format of Harbor's docs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.events_factory import envelope, harbor_payload, wire_event
from tools.errors import InvalidInput, InvalidPayload
from tools.events.parse import parse_distribution, parse_harbor

MANIFEST_DIGEST = "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf"
LAYER_DIGEST = "sha256:c3b3692957d439ac1928219a83fac91e7bf96c153725526874673ae1f2023f8d"
HARBOR_DIGEST = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4"


def _docs_envelope(repository: str = "library/test") -> dict[str, Any]:
    """distribution's docs/notifications.md example: a manifest push and a layer push."""

    def event(number: int, media_type: str, digest: str, kind: str) -> dict[str, Any]:
        return {
            "id": f"asdf-asdf-asdf-asdf-{number}",
            "timestamp": "2006-01-02T15:04:05Z",
            "action": "push",
            "target": {
                "mediaType": media_type,
                "length": number + 1,
                "digest": digest,
                "repository": repository,
                "url": f"https://example.com/v2/{repository}/{kind}/{digest}",
            },
            "request": {
                "id": "asdfasdf",
                "addr": "client.local",
                "host": "registrycluster.local",
                "method": "PUT",
                "useragent": "test/0.1",
            },
            "actor": {"name": "test-actor"},
            "source": {"addr": "hostname.local:port"},
        }

    return {
        "events": [
            event(0, "application/vnd.docker.distribution.manifest.v1+json", MANIFEST_DIGEST, "manifests"),
            event(1, "application/vnd.docker.container.image.rootfs.diff+x-gtar", LAYER_DIGEST, "blobs"),
        ]
    }


# -- 2. JSON nested 100,000 levels deep -----------------------------------------------------------------


@pytest.mark.parametrize("parse", [parse_distribution, parse_harbor])
def test_case2_deep_nesting_is_invalid_input(parse: Any) -> None:
    body = b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(InvalidInput, match="nested deeper than 64 levels"):
        parse(body)


# -- 9. a Harbor push with digest md5:abc ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("digest", "message"),
    [
        ("md5:abc", "resources[0].digest: 'md5:abc' is not a sha256 or sha512 digest"),
        ("sha256:" + "A" * 64, "is not a sha256 or sha512 digest"),  # registries write lower-case hex
        ("sha256:abc", "is not a sha256 or sha512 digest"),
        (HARBOR_DIGEST + "\n", "is not a sha256 or sha512 digest"),
    ],
)
def test_case9_harbor_push_with_a_bad_digest_is_refused(digest: str, message: str) -> None:
    body = json.dumps(harbor_payload(repository="harbor/alpine", digest=digest)).encode()
    with pytest.raises(InvalidPayload, match="resources") as caught:
        parse_harbor(body)
    assert message in str(caught.value)


def test_case9_harbor_push_without_a_digest_is_refused() -> None:
    document = harbor_payload(repository="harbor/alpine")
    del document["event_data"]["resources"][0]["digest"]
    with pytest.raises(InvalidPayload, match=r"resources\[0\]\.digest: missing"):
        parse_harbor(json.dumps(document).encode())


def test_case9_the_harbor_docs_push_is_stored_with_its_digest() -> None:
    # Harbor's docs: an untagged push names the digest in `tag` too.
    document = harbor_payload(repository="harbor/alpine", digest=HARBOR_DIGEST, tag=HARBOR_DIGEST)
    document["event_data"]["resources"][0]["resource_url"] = f"localhost/harbor/alpine@{HARBOR_DIGEST}"
    [event] = parse_harbor(json.dumps(document).encode()).events
    assert (event.digest, event.tag, event.action, event.repository) == (
        HARBOR_DIGEST,
        "",
        "push",
        "harbor/alpine",
    )


@pytest.mark.parametrize("digest", ["md5:abc", "sha256:" + "0" * 63, "sha1:" + "a" * 40])
def test_case9_distribution_event_with_a_bad_digest_is_refused(digest: str) -> None:
    with pytest.raises(InvalidPayload, match=r"events\[0\]\.target\.digest"):
        parse_distribution(envelope(wire_event(digest=digest)))


def test_tags_outside_the_grammar_are_refused() -> None:
    with pytest.raises(InvalidPayload, match=r"events\[0\]\.target\.tag: '<!channel>' is not a valid tag"):
        parse_distribution(envelope(wire_event(tag="<!channel>")))
    with pytest.raises(InvalidPayload, match="is not a valid repository name"):
        parse_distribution(envelope(wire_event(repository="shop/api\n")))


# -- 10. layer events classified by URL path instead of media type --------------------------------------


def test_case10_the_docs_example_is_a_manifest_and_a_blob() -> None:
    events = parse_distribution(json.dumps(_docs_envelope()).encode()).events
    assert [(e.kind, e.digest) for e in events] == [("manifest", MANIFEST_DIGEST), ("blob", LAYER_DIGEST)]


def test_case10_a_repository_called_blobs_does_not_make_its_manifests_blobs() -> None:
    # `…/v2/acme/blobs/manifests/sha256:…` contains "/blobs/": the media type decides, not a substring.
    events = parse_distribution(json.dumps(_docs_envelope("acme/blobs")).encode()).events
    assert [e.kind for e in events] == ["manifest", "blob"]
    manifests = parse_distribution(json.dumps(_docs_envelope("manifests/app")).encode()).events
    assert [e.kind for e in manifests] == ["manifest", "blob"]


def test_case10_without_a_media_type_the_url_is_read_from_its_end() -> None:
    raw = wire_event(repository="acme/blobs", tag="")
    raw["target"]["mediaType"] = ""
    raw["target"]["url"] = f"http://r:5000/v2/acme/blobs/manifests/{raw['target']['digest']}"
    blob = wire_event(repository="acme/manifests", tag="")
    blob["target"]["mediaType"] = ""
    blob["target"]["url"] = f"http://r:5000/v2/acme/manifests/blobs/{blob['target']['digest']}"
    assert [e.kind for e in parse_distribution(envelope(raw, blob)).events] == ["manifest", "blob"]


# -- found by fuzzing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ],
)
def test_times_utc_cannot_hold_or_no_registry_sends_are_refused(when: str) -> None:
    # The first two parse, but astimezone(UTC) raised OverflowError, which pydantic lets through: a crash.
    raw = wire_event()
    raw["timestamp"] = when
    with pytest.raises(InvalidPayload, match=r"events\.0\.timestamp: Value error"):
        parse_distribution(envelope(raw))
    cloud = {"specversion": "1.0", "id": "x", "type": "harbor.artifact.pushed", "time": when}
    with pytest.raises(InvalidPayload, match="time: Value error"):
        parse_harbor(json.dumps(cloud).encode())
