"""Hostile registries: malformed manifests, absurd sizes, huge bodies and crafted names, served by a fake
registry (a real one refuses to store them). Each becomes one clear error line; the rest is crawled."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.security.fake_registry import Answer, FakeRegistry, image_manifest, index_manifest
from tools.errors import BadResponse, ImageReferenceError
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistryInventory, RegistrySource
from tools.inventory.parse import parse_manifest
from tools.registry.client import RegistryClient

OCI = "application/vnd.oci.image.manifest.v1+json"
CONFIG = json.dumps({"os": "linux", "architecture": "amd64", "config": {"Labels": {"a": "b"}}}).encode()


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(10.0, connect=2.0)) as client:
        yield client


def crawl(fake: FakeRegistry, http: httpx.Client) -> RegistryInventory:
    client = RegistryClient(fake.url, http=http, attempts=1)
    return crawl_registry(client, RegistrySource(name="hostile", url=fake.url), workers=2)


def good_image(fake: FakeRegistry, repository: str, tag: str) -> str:
    config = fake.blob(repository, CONFIG)
    return fake.manifest(repository, tag, image_manifest(config, len(CONFIG)), OCI)


def test_malformed_manifests_are_one_error_each_and_the_rest_is_crawled(
    fake: FakeRegistry, http: httpx.Client
) -> None:
    fake.json("/v2/_catalog", {"repositories": ["ok", "bad"]})
    fake.json("/v2/ok/tags/list", {"name": "ok", "tags": ["1"]})
    bad_tags = ["json", "unknown-type", "no-config", "absurd-size", "negative-size", "bad-digest", "list"]
    bad_tags += ["huge", "huge-stream", "nested", "config-not-json", "wrong-digest"]
    fake.json("/v2/bad/tags/list", {"name": "bad", "tags": bad_tags})
    good = good_image(fake, "ok", "1")
    config = fake.blob("bad", CONFIG)
    fake.manifest("bad", "json", b'{"schemaVersion": 2, "config": ', OCI)
    fake.manifest(
        "bad", "unknown-type", b'{"mediaType": "application/x-evil", "config": {}}', "application/x-evil"
    )
    fake.manifest("bad", "no-config", b'{"schemaVersion": 2, "mediaType": "%s"}' % OCI.encode(), OCI)
    fake.manifest("bad", "absurd-size", image_manifest(config, len(CONFIG), [(config, 1 << 62)]), OCI)
    fake.manifest("bad", "negative-size", image_manifest(config, -5), OCI)
    fake.manifest("bad", "bad-digest", image_manifest("sha256:../../etc", 5), OCI)
    fake.manifest("bad", "list", b"[1, 2, 3]", OCI)
    huge = b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'  # a 10 MB "manifest"
    fake.manifest("bad", "huge", huge, OCI)
    digest = fake.manifest("bad", "huge-stream", huge, OCI)
    fake.routes["/v2/bad/manifests/huge-stream"] = Answer(
        body=huge, headers={"Content-Type": OCI, "Docker-Content-Digest": digest}, stream=True
    )
    # index -> index -> index: nesting stops after one level (images do not nest indexes)
    inner = fake.manifest("bad", "inner", index_manifest([good]), "application/vnd.oci.image.index.v1+json")
    middle = fake.manifest(
        "bad", "middle", index_manifest([inner]), "application/vnd.oci.image.index.v1+json"
    )
    fake.manifest("bad", "nested", index_manifest([middle]), "application/vnd.oci.image.index.v1+json")
    not_json = fake.blob("bad", b"<html>not json</html>")
    fake.manifest("bad", "config-not-json", image_manifest(not_json, 21), OCI)
    body = image_manifest(config, len(CONFIG))
    fake.routes["/v2/bad/manifests/wrong-digest"] = Answer(
        body=body, headers={"Content-Type": OCI, "Docker-Content-Digest": "sha256:" + "0" * 64}
    )

    inventory = crawl(fake, http)

    assert inventory.tags["ok"] == {"1": good}
    assert inventory.partial
    errors = "\n".join(inventory.errors)
    expected = {
        "json": "not valid JSON",
        "unknown-type": "unsupported media type",
        "no-config": "no config descriptor",
        "absurd-size": "absurd size",
        "negative-size": "absurd size",
        "bad-digest": "bad digest",
        "list": "not a JSON object",
        "huge": "over the 4194304-byte limit",
        "huge-stream": "over the 4194304-byte limit",
        "config-not-json": "not valid JSON",
        "wrong-digest": "does not match its digest",
    }
    for tag, message in expected.items():
        line = next((e for e in inventory.errors if e.startswith(f"bad:{tag}:")), None)
        assert line is not None and message in line, (tag, errors)
        assert len(line) < 400
    assert set(inventory.tags["bad"]) == {"nested"}  # its grandchild is never fetched
    assert not any(p.endswith(inner) for p in fake.paths())


def test_an_index_listing_itself_is_refused_by_the_parser() -> None:
    # Over HTTP this cannot happen (a document cannot contain its own digest, and digests are verified),
    # so the parser is the layer that refuses it.
    digest = "sha256:" + "a" * 64
    document = json.loads(index_manifest([digest]))
    with pytest.raises(BadResponse, match="lists itself"):
        parse_manifest(digest, "application/vnd.oci.image.index.v1+json", 10, document)


def test_crafted_repository_and_tag_names_never_become_request_paths(
    fake: FakeRegistry, http: httpx.Client
) -> None:
    hostile_repos = ["../../../api/users?x=", "shop/ünïcode", "a/../../b", "x%2F..%2F", "ok"]
    fake.json("/v2/_catalog", {"repositories": hostile_repos})
    tags = ["1", "ünï", "a" * 128, "b" * 129, "<!channel>", "../x", "x?y", ".hidden"]
    fake.json("/v2/ok/tags/list", {"name": "ok", "tags": tags})
    good = good_image(fake, "ok", "1")
    fake.manifest("ok", "a" * 128, image_manifest(fake.blob("ok", CONFIG), len(CONFIG)), OCI)

    inventory = crawl(fake, http)

    assert inventory.tags["ok"] == {"1": good, "a" * 128: good}
    requested = fake.paths()
    for path in requested:
        assert ".." not in path and "users" not in path and "channel" not in path and "%" not in path, path
        assert "?" not in path.replace("?n=1000", ""), path
    refused = [e for e in inventory.errors if "refusing invalid" in e]
    assert len(refused) == 4 + 6  # four repositories; ünï, b*129, <!channel>, ../x, x?y, .hidden
    assert all(len(e) < 400 for e in inventory.errors)


def test_direct_calls_with_crafted_names_raise_before_any_request(
    fake: FakeRegistry, http: httpx.Client
) -> None:
    client = RegistryClient(fake.url, http=http, attempts=1)
    for repository, reference in [
        ("../api/users", "1"),
        ("ok", "../../x"),
        ("ok?", "1"),
        ("ok", "sha256:zz"),
    ]:
        with pytest.raises(ImageReferenceError):
            client.get_manifest(repository, reference)
    with pytest.raises(ImageReferenceError):
        client.delete_manifest("../../api/endpoints/1", "sha256:" + "a" * 64)
    with pytest.raises(ImageReferenceError):
        client.get_blob_json("ok", "sha256:../x")
    assert fake.paths() == []
