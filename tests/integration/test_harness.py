"""The real-part harness works: registry (auth, media types, GC), seeder bookkeeping, dockerd."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import tarfile
import uuid
from typing import Any

import httpx
import pytest

from bot.demo.dockerd import DockerDaemon
from bot.demo.images import build_image, busybox_available
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import (
    ALPINE_3_19_1,
    DEBIAN_12,
    BearerAuth,
    ImageSpec,
    Seeder,
    bulk_repository,
    seed_bulk,
    seed_sample,
)
from tests.conftest import SeederFactory, need_binary
from tools.registry.media_types import (
    ACCEPT_MANIFESTS,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    INDEX_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
)

pytestmark = pytest.mark.real

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
CATALOG = [{"type": "registry", "name": "catalog", "actions": ["*"]}]


def spec(repository: str, tag: str | None, **options: Any) -> ImageSpec:
    """A small image created a week before NOW."""
    return ImageSpec(repository=repository, tag=tag, created=NOW - dt.timedelta(days=7), **options)


def get_manifest(client: httpx.Client, server: RegistryServer, repo: str, ref: str) -> httpx.Response:
    """GET a manifest with every media type accepted (otherwise the registry converts or 404s)."""
    response = client.get(f"{server.url}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT_MANIFESTS})
    assert response.status_code == 200, response.text
    return response


def test_need_binary_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGENT_REQUIRE_REAL", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install no-such-package"):
        need_binary("regent-no-such-binary", "no-such-package")
    monkeypatch.setenv("REGENT_REQUIRE_REAL", "1")
    with pytest.raises(pytest.fail.Exception, match="apt-get install no-such-package"):
        need_binary("regent-no-such-binary", "no-such-package")


def test_registry_starts_restarts_readonly_and_stops(
    http_client: httpx.Client, make_seeder: SeederFactory
) -> None:
    need_binary("docker-registry", "docker-registry")
    hook = {
        "name": "regent",
        "url": "http://127.0.0.1:9/events",
        "timeout": "1s",
        "threshold": 1,
        "backoff": "1s",
    }
    with RegistryServer(notifications=[hook]) as server:
        assert server.url == f"http://{server.host}" and server.pid is not None
        response = http_client.get(f"{server.url}/v2/")
        assert response.status_code == 200
        assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
        make_seeder(server).push_image(spec("demo/app", "1"))
        server.restart(readonly=True)
        assert http_client.get(f"{server.url}/v2/demo/app/tags/list").json()["tags"] == ["1"]
        with pytest.raises(RuntimeError, match="405"):
            make_seeder(server).push_image(spec("demo/app", "2"))
        server.stop()
        assert server.pid is None
        with pytest.raises(httpx.ConnectError):
            http_client.get(f"{server.url}/v2/")
        workdir = server.config_path.parent
    assert not workdir.exists()


def test_htpasswd_auth(registry_htpasswd: RegistryServer, http_client: httpx.Client) -> None:
    url = f"{registry_htpasswd.url}/v2/"
    anonymous = http_client.get(url)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert http_client.get(url, auth=("alice", "s3cret")).status_code == 200
    assert http_client.get(url, auth=("alice", "wrong")).status_code == 401


def test_token_auth(
    registry_token: RegistryServer, http_client: httpx.Client, make_seeder: SeederFactory
) -> None:
    server, catalog = registry_token, f"{registry_token.url}/v2/_catalog"
    anonymous = http_client.get(catalog)
    assert anonymous.status_code == 401
    assert 'scope="registry:catalog:*"' in anonymous.headers["WWW-Authenticate"]

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    push = [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]
    make_seeder(server, auth=BearerAuth(server.mint_token(push))).push_image(spec("team/app", "1"))
    assert http_client.get(catalog, headers=bearer(server.mint_token(CATALOG))).json() == {
        "repositories": ["team/app"]
    }
    assert http_client.get(catalog, headers=bearer(server.mint_token(push))).status_code == 401
    # The registry allows 60 s of clock skew, so "expired" means more than a minute ago.
    expired = server.mint_token(CATALOG, expires_in=-120)
    assert http_client.get(catalog, headers=bearer(expired)).status_code == 401
    wrong_audience = server.mint_token(CATALOG, audience="another-registry")
    assert http_client.get(catalog, headers=bearer(wrong_audience)).status_code == 401


def test_all_media_types_come_back_as_pushed(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    docker = seeder.push_image(spec("mt/app", "docker", base=ALPINE_3_19_1))
    oci = seeder.push_image(
        spec("mt/app", "oci", media_type="oci", annotations={"org.opencontainers.image.base.name": "x"})
    )
    arm = ("linux", "arm64")
    oci_index = seeder.push_index(
        "mt/app",
        "multi",
        [spec("x", None, media_type="oci"), spec("x", None, media_type="oci", platform=arm)],
    )
    docker_list = seeder.push_index(
        "mt/app", "list", [spec("x", None), spec("x", None, platform=arm)], media_type="docker"
    )
    signature = seeder.push_signature("mt/app", docker.digest)
    expected_types = {
        "docker": (docker.digest, DOCKER_MANIFEST),
        "oci": (oci.digest, OCI_MANIFEST),
        "multi": (oci_index.digest, OCI_INDEX),
        "list": (docker_list.digest, DOCKER_MANIFEST_LIST),
        docker.digest.replace(":", "-") + ".sig": (signature, OCI_MANIFEST),
    }
    for tag, (digest, media_type) in expected_types.items():
        response = get_manifest(http_client, registry, "mt/app", tag)
        assert response.headers["Content-Type"] == media_type
        assert response.headers["Docker-Content-Digest"] == digest
        assert "sha256:" + hashlib.sha256(response.content).hexdigest() == digest
    children = get_manifest(http_client, registry, "mt/app", "multi").json()["manifests"]
    assert [c["digest"] for c in children] == [c.digest for c in oci_index.children]
    assert [c["platform"]["architecture"] for c in children] == ["amd64", "arm64"]
    for child in docker_list.children:
        assert (
            get_manifest(http_client, registry, "mt/app", child.digest).json()["mediaType"] == DOCKER_MANIFEST
        )


def test_layers_are_valid_deterministic_gzip_tars() -> None:
    image = spec("det/app", "1", base=DEBIAN_12, own_layers=2)
    first, second = build_image(image), build_image(image)
    assert first.manifest == second.manifest
    config = json.loads(first.config.data)
    assert config["created"] == "2026-11-20T09:00:00Z"
    for layer, diff_id in zip(first.layers, config["rootfs"]["diff_ids"], strict=True):
        raw = gzip.decompress(layer.data)
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == diff_id == layer.diff_id
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            assert any(member.isfile() for member in tar.getmembers())
    assert len(config["history"]) == len(first.layers) == 4


def crawl(client: httpx.Client, server: RegistryServer) -> tuple[int, int, int, int]:
    """A minimal independent crawl: (repositories, tags, manifests, dedup stored bytes)."""
    repositories = client.get(f"{server.url}/v2/_catalog").json()["repositories"]
    sizes: dict[str, int] = {}
    manifests: set[str] = set()
    tags = 0
    for repo in repositories:
        for tag in client.get(f"{server.url}/v2/{repo}/tags/list").json()["tags"] or []:
            tags += 1
            pending = [tag]
            while pending:
                response = get_manifest(client, server, repo, pending.pop())
                document, digest = response.json(), response.headers["Docker-Content-Digest"]
                manifests.add(digest)
                sizes[digest] = len(response.content)
                if document["mediaType"] in INDEX_TYPES:
                    pending += [child["digest"] for child in document["manifests"]]
                    continue
                for blob in [document["config"], *document["layers"]]:
                    sizes[blob["digest"]] = blob["size"]
    return len(repositories), tags, len(manifests), sum(sizes.values())


def test_sample_expected_matches_an_independent_crawl_and_the_disk(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    seed_sample(seeder, now=NOW)
    expected = seeder.expected()
    assert crawl(http_client, registry) == (
        expected.repositories,
        expected.tags,
        expected.manifests,
        expected.stored_bytes,
    )
    assert (expected.repositories, expected.tags, expected.manifests) == (6, 25, 25)
    # Nothing was collected yet: every byte ever pushed is on disk; the untagged 1.4.0 build is not stored.
    assert registry.blob_bytes_on_disk() == expected.pushed_bytes > expected.stored_bytes
    tagged = seeder.tagged()
    assert tagged[("shop/api", "latest")] == tagged[("shop/api", "1.4.0")]
    assert ("shop/api", tagged[("shop/api", "1.4.0")].replace(":", "-") + ".sig") in tagged


def test_garbage_collect_frees_exactly_the_deleted_images_blobs(
    registry: RegistryServer, seeder: Seeder
) -> None:
    kept = seeder.push_image(spec("gc/app", "keep", base=ALPINE_3_19_1))
    shared = seeder.push_image(spec("gc/app", "shared", base=ALPINE_3_19_1, extra_layer_seed="s"))
    doomed = seeder.push_image(spec("gc/app", "doomed", own_layers=2, layer_size=50_000))
    assert registry.blob_bytes_on_disk() == seeder.expected().pushed_bytes
    seeder.delete("gc/app", doomed.digest)
    seeder.delete("gc/app", shared.digest)  # its base layers stay: "keep" still uses them
    before = registry.blob_bytes_on_disk()

    dry = registry.garbage_collect(dry_run=True)
    assert registry.blob_bytes_on_disk() == before and registry.running
    freed = {doomed.digest, doomed.config_digest, *(layer.digest for layer in doomed.layers)}
    freed |= {shared.digest, shared.config_digest, shared.layers[-1].digest}
    assert set(dry.eligible_blobs) == freed and dry.blobs_eligible == len(freed)
    assert dry.blobs_marked == 2 + len(kept.layers)  # manifest + config + layers of "keep"

    real = registry.garbage_collect()
    assert set(real.eligible_blobs) == freed
    own_layer_of_shared = shared.layers[-1].size
    assert before - registry.blob_bytes_on_disk() == (
        doomed.total_bytes + shared.manifest_size + shared.config_size + own_layer_of_shared
    )
    assert registry.blob_bytes_on_disk() == seeder.expected().stored_bytes == kept.total_bytes
    assert registry.running  # restarted after the offline GC


def test_bulk_seeding_dedups_shared_bases(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    seed_bulk(seeder, repositories=3, tags_per_repository=4, threads=2)
    expected = seeder.expected()
    catalog = http_client.get(f"{registry.url}/v2/_catalog").json()["repositories"]
    assert sorted(catalog) == sorted(bulk_repository(index) for index in range(3))
    # 4 distinct base layers (two bases x two layers) + one config and one own layer per tag.
    assert (expected.tags, expected.manifests, expected.blobs) == (12, 12, 4 + 12 + 12)
    assert crawl(http_client, registry)[3] == expected.stored_bytes == registry.blob_bytes_on_disk()


def test_dockerd_pulls_runs_and_creates_seeded_images(
    dockerd: DockerDaemon, registry: RegistryServer, seeder: Seeder
) -> None:
    if not busybox_available():
        need_binary("busybox", "busybox-static")
        pytest.skip("/bin/busybox missing: apt-get install busybox-static")
    pushed = seeder.push_image(spec("run/app", "1.0", base=ALPINE_3_19_1, runnable=True))
    reference = f"{registry.host}/run/app:1.0"
    dockerd.pull(reference)
    suffix = uuid.uuid4().hex[:8]
    running = dockerd.run(reference, name=f"runner-{suffix}")
    created = dockerd.create_container(reference, name=f"idle-{suffix}", labels={"regent.test": "1"})
    try:
        states = {c["Id"]: c["State"] for c in dockerd.containers(all=True)}
        assert states[running] == "running" and states[created] == "created"
        assert dockerd.inspect_container(running)["State"]["Running"] is True
        digests = [d for image in dockerd.images() for d in image["RepoDigests"] or []]
        assert f"{registry.host}/run/app@{pushed.digest}" in digests
        dockerd.stop_container(running)
        assert dockerd.inspect_container(running)["State"]["Status"] == "exited"
    finally:
        dockerd.remove_container(running)
        dockerd.remove_container(created)
    assert {c["Id"] for c in dockerd.containers(all=True)}.isdisjoint({running, created})
