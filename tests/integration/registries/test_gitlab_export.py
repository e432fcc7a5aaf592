"""`regent plan --export gitlab-cleanup` (#13): the project's cleanup policy and the bulk tag delete, valid
against GitLab's published OpenAPI description, with what they cannot say and the images they treat
differently from Regent's plan, on a snapshot crawled from the fake GitLab in front of a real registry."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest
from openapi_core.validation.request.exceptions import InvalidRequestBody

from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.fakes.gitlab import FakeGitlab
from tests.fakes.spec_exchanges import swagger2_to_openapi3
from tests.integration.registries.test_gitlab import SPEC, TOKEN
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import InventorySnapshot, RegistryInventory, RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.export.base import ExportRequest, NativeExport, exporter
from tools.policy.loader import parse_policies
from tools.registry.kinds.base import AdapterConfig
from tools.registry.kinds.select import build_registry

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
POLICY = """
protected_tags: ["prod"]
policies:
  - name: shop
    repositories: ["grp/shop"]
    tags: ["v*", "old-*", "latest"]
    keep:
      - most_recent: 3
      - tags: ["v1.0"]
    delete:
      - older_than_days: 45
      - dangling_older_than_days: 7
"""
TOO_OLD = POLICY.replace("older_than_days: 45", "older_than_days: 120")
AGES = {
    "v1.0": 200,
    "v2": 100,
    "v3": 50,
    "v4": 40,
    "v5": 20,
    "v6": 10,
    "v7": 5,
    "old-a": 300,
    "feature-x": 300,
}


@pytest.fixture
def crawled(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> Iterator[RegistryInventory]:
    """grp/shop with tags of known ages (the image's created time is GitLab's created_at here)."""
    with FakeGitlab(registry.url, project_id=42, project_path="grp/shop", token=TOKEN) as front:
        front.add_repository("grp/shop")
        front.add_repository("grp/shop/api")
        digests = {}
        for tag, days in AGES.items():
            spec = ImageSpec(
                repository="grp/shop", tag=tag, created=NOW - dt.timedelta(days=days), extra_layer_seed=tag
            )
            digests[tag] = seeder.push_image(spec).digest
        seeder.tag("grp/shop", digests["v7"], "latest")
        seeder.push_image(ImageSpec(repository="grp/shop/api", tag="v9", created=NOW, extra_layer_seed="api"))
        extra = {"instance_url": front.url, "project_path": "grp/shop"}
        client = build_registry(
            AdapterConfig(kind="gitlab", url=front.url, http=http_client, password=TOKEN, extra=extra)
        )
        source = RegistrySource(
            name="gitlab", url=front.url, kind="gitlab", extra=tuple(sorted(extra.items()))
        )
        yield crawl_registry(client, source)


def export(text: str, inventory: RegistryInventory) -> tuple[NativeExport, set[str]]:
    policies = parse_policies(text)
    plan = evaluate_policies(policies, registries=[inventory], deployments=[], now=NOW)
    snapshot = InventorySnapshot(taken_at=NOW, registries=[inventory])
    request = ExportRequest(policies=policies, plan=plan, snapshot=snapshot, now=NOW)
    return exporter("gitlab-cleanup")(request), {item.digest for item in plan.items}


def gitlab_api() -> OpenAPI:
    return OpenAPI.from_dict(swagger2_to_openapi3(yaml.safe_load(SPEC.read_text())))


def test_cleanup_policy_and_bulk_delete_are_valid_and_their_differences_named(
    crawled: RegistryInventory,
) -> None:
    result, planned = export(POLICY, crawled)
    tags = crawled.tags["grp/shop"]
    assert planned == {tags["v2"], tags["v3"], tags["old-a"]}, "Regent: older than 45 days, newest 3 kept"

    policy = result.documents["grp/shop"]["container_expiration_policy_attributes"]
    assert {k: policy[k] for k in ("cadence", "enabled", "keep_n", "older_than")} == {
        "cadence": "1d",
        "enabled": True,
        "keep_n": 5,
        "older_than": "60d",
    }, "rounded toward deleting less: keep_n 3 -> 5, older_than 45d -> 60d"
    assert [t for t in AGES if re.fullmatch(policy["name_regex"], t)] == [
        "v1.0",
        "v2",
        "v3",
        "v4",
        "v5",
        "v6",
        "v7",
        "old-a",
    ]
    assert [t for t in ("v1.0", "v2", "prod") if re.fullmatch(policy["name_regex_keep"], t)] == [
        "v1.0",
        "prod",
    ]
    bulk = result.documents["grp/shop bulk tag delete"]
    assert (bulk["keep_n"], bulk["older_than"], bulk["name_regex_delete"]) == (3, "45d", policy["name_regex"])

    api = gitlab_api()
    body = json.dumps(result.documents["grp/shop"]).encode()
    api.validate_request(MockRequest("https://gitlab.com", "put", "/api/v4/projects/grp%2Fshop", data=body))
    query = {k: str(v) for k, v in bulk.items()}
    path = "/api/v4/projects/grp%2Fshop/registry/repositories/100/tags"
    api.validate_request(MockRequest("https://gitlab.com", "delete", path, args=query))
    bad = json.dumps({"container_expiration_policy_attributes": {**policy, "keep_n": "five"}}).encode()
    with pytest.raises(InvalidRequestBody):
        api.validate_request(MockRequest("https://gitlab.com", "put", "/api/v4/projects/42", data=bad))

    assert [(d.repository, d.tags, d.regent, d.native) for d in result.differences] == [
        ("grp/shop", ("v3",), "delete", "keep")
    ], "GitLab keeps v3 (fifth newest; older than 45 but not 60 days)"
    assert "GitLab's cleanup keeps tag(s) v3" in result.differences[0].why
    text = "\n".join(result.unexpressed)
    for expected in (
        "keep 3 becomes keep_n 5",
        "older than 45 days becomes older_than 60d",
        "dangling manifests (GitLab's cleanup deletes tags only)",
        "GitLab's policy applies to all 2 repositories of the project",
        "deployment-aware keep",
        "never deletes a tag named latest",
    ):
        assert expected in text


def test_an_age_gitlab_cannot_schedule_is_written_disabled(crawled: RegistryInventory) -> None:
    result, planned = export(TOO_OLD, crawled)
    policy = result.documents["grp/shop"]["container_expiration_policy_attributes"]
    assert policy["enabled"] is False and policy["older_than"] == "90d"
    assert result.documents["grp/shop bulk tag delete"]["older_than"] == "120d", (
        "the bulk delete says it exactly"
    )
    assert {d.digest for d in result.differences} == planned and planned, "disabled: GitLab deletes nothing"
    assert any("goes to 90d at most; written disabled" in line for line in result.unexpressed)


def test_nothing_to_export_for_other_registries(crawled: RegistryInventory) -> None:
    other = RegistryInventory(source=RegistrySource(name="hub", url="https://registry-1.docker.io"))
    result, _ = export(POLICY, other)
    assert result.documents == {} and "no GitLab registry" in result.notes[0]
