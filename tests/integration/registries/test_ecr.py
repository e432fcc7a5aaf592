"""ECR through its own API: moto's server as the control plane, a real docker-registry as the blob store.

The adapter is built from what Portainer stores for an ECR record (key id, secret, region) and nothing
else; botocore finds moto through AWS_ENDPOINT_URL_ECR, as it would find a VPC endpoint in production.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest

from bot.demo.registry_server import RegistryServer
from tests.fakes.ecr import REGISTRY_PASSWORD, MotoEcr, ecr_front
from tests.integration.registries.ecr_support import (
    NOW,
    adapter_config,
    ecr_blobs,
    make_seed,
    moto_ecr,
)
from tools.changes.retention import execute_plan
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.loader import parse_policies
from tools.policy.store import PlanStore
from tools.registry.kinds.ecr.adapter import EcrRegistry
from tools.registry.kinds.select import build_registry

__all__ = ["ecr_blobs", "moto_ecr"]  # fixtures, imported for pytest

pytestmark = pytest.mark.real


def test_crawl_lists_natively_and_finds_exact_counts_bytes_and_clocks(
    moto_ecr: MotoEcr, ecr_blobs: RegistryServer, http_client: httpx.Client
) -> None:
    seed = make_seed(ecr_blobs, moto_ecr, http_client)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    app_v1 = seed.push("team/app", ["1.0", "latest"], days_old=100)
    app_v2 = seed.push("team/app", ["2.0"], days_old=10, layer_size=4096)
    web = seed.push("team/web", ["1.0"], days_old=3)
    with ecr_front(ecr_blobs.url, seed.ecr) as front:
        adapter = build_registry(adapter_config(front.url, http_client))
        assert isinstance(adapter, EcrRegistry)
        assert adapter.catalog() == ["team/app", "team/web"]
        assert front.count("GET", "/v2/_catalog") == 0  # listing is DescribeRepositories, not v2
        inventory = crawl_registry(adapter, RegistrySource(name="ecr", url=front.url, kind="ecr"), workers=2)
        assert not inventory.errors and not inventory.partial
        assert inventory.tags == {
            "team/app": {"1.0": app_v1.digest, "latest": app_v1.digest, "2.0": app_v2.digest},
            "team/web": {"1.0": web.digest},
        }
        assert inventory.stored_bytes() == seed.stored_bytes()
        described = adapter.api.calls["DescribeImages"]
        times = adapter.native_times("team/app", [app_v1.digest, app_v2.digest])
        assert adapter.api.calls["DescribeImages"] == described + 1  # two digests: one call
    assert set(times) == {app_v1.digest, app_v2.digest}
    for digest, built in ((app_v1.digest, app_v1), (app_v2.digest, app_v2)):
        pushed = times[digest].pushed
        assert pushed is not None and before - dt.timedelta(seconds=1) <= pushed <= dt.datetime.now(dt.UTC)
        assert times[digest].last_pulled is None  # moto keeps no pull time (the Stubber tests cover it)
        assert times[digest].size == built.config.size  # moto's imageSizeInBytes is the config's size
    assert adapter.api.calls["GetAuthorizationToken"] == 1


def test_the_registry_token_is_what_opens_v2(
    moto_ecr: MotoEcr, ecr_blobs: RegistryServer, http_client: httpx.Client
) -> None:
    seed = make_seed(ecr_blobs, moto_ecr, http_client)
    built = seed.push("team/app", ["1.0"])
    with ecr_front(ecr_blobs.url, seed.ecr) as front:
        anonymous = httpx.get(f"{front.url}/v2/team/app/tags/list")
        assert anonymous.status_code == 401
        assert 'service="ecr.amazonaws.com"' in anonymous.headers["www-authenticate"]
        blob = f"{front.url}/v2/team/app/blobs/{built.config.digest}"
        assert httpx.get(blob, auth=("AWS", "wrong")).status_code == 401  # the real registry's own check
        assert httpx.get(blob, auth=("AWS", REGISTRY_PASSWORD)).status_code == 200
        adapter = build_registry(adapter_config(front.url, http_client))
        assert adapter.get_blob_json("team/app", built.config.digest)["architecture"] == "amd64"


def test_a_plan_deletes_through_batch_delete_image_and_a_second_run_deletes_nothing(
    moto_ecr: MotoEcr, ecr_blobs: RegistryServer, http_client: httpx.Client, tmp_path: Path
) -> None:
    seed = make_seed(ecr_blobs, moto_ecr, http_client)
    old = seed.push("team/app", ["0.9"], days_old=200)
    older = seed.push("team/app", ["0.8"], days_old=300)
    kept = seed.push("team/app", ["1.0", "latest"], days_old=1)
    policies = parse_policies(
        """
policies:
  - name: tidy
    repositories: ["team/**"]
    keep: [{most_recent: 1}]
    delete: [{older_than_days: 30}]
"""
    )
    with ecr_front(ecr_blobs.url, seed.ecr) as front:
        adapter = build_registry(adapter_config(front.url, http_client))
        assert isinstance(adapter, EcrRegistry)
        source = RegistrySource(name="ecr", url=front.url, kind="ecr")
        inventory = crawl_registry(adapter, source, workers=2)
        plan = evaluate_policies(policies, registries=[inventory], deployments=[], now=NOW)
        assert {item.digest for item in plan.items} == {old.digest, older.digest}
        store = PlanStore(tmp_path / "state.db")
        store.save(plan)
        report = execute_plan(plan.plan_id, store=store, clients={"ecr": adapter}, current_deployments=list)
        assert report.status == "completed" and report.deleted == 2, report.results
        assert front.count("DELETE") == 0  # the deletes went through the ECR API, not v2
        assert adapter.api.calls["BatchDeleteImage"] == 2
        left = seed.ecr.describe_images(repositoryName="team/app")["imageDetails"]
        assert [d["imageDigest"] for d in left] == [kept.digest]
        again = crawl_registry(adapter, source, workers=2)
        second = evaluate_policies(policies, registries=[again], deployments=[], now=NOW)
        assert second.items == []
        assert adapter.delete_manifest("team/app", old.digest) is False  # already gone
        assert adapter.api.calls["BatchDeleteImage"] == 3
