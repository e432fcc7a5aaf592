"""`ecr-lifecycle` export: documents ECR accepts, what they cannot say, and the items that would differ.

The snapshot is a real crawl of the fake ECR (moto + docker-registry) with moto's imagePushedAt; each
document is validated with jsonschema against the AWS-documented shape (tests/fakes/specs) and stored by
moto's PutLifecyclePolicy, whose validator is moto's reading of ECR's. moto rejects `sinceImagePulled`
(its validator predates the count type), so that document is checked by the schema and sent through
botocore's Stubber, which validates the request against botocore's ECR model. The preview (not in moto) is
Stubber answers in the shapes of that model.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from bot.demo.registry_server import RegistryServer
from tests.fakes.ecr import ACCESS_KEY, REGION, SECRET_KEY, MotoEcr, ecr_front
from tests.integration.registries.ecr_support import adapter_config, ecr_blobs, make_seed, moto_ecr
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import Deployment, InventorySnapshot, RegistryInventory, RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.export.base import ExportRequest, NativeExport, exporter
from tools.policy.export.ecr_preview import preview_side_by_side
from tools.policy.loader import parse_policies
from tools.policy.model import PolicyFile
from tools.policy.plans import Plan
from tools.registry.kinds.ecr.client import EcrApi
from tools.registry.kinds.select import build_registry

__all__ = ["ecr_blobs", "moto_ecr"]  # fixtures, imported for pytest

pytestmark = pytest.mark.real

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "fakes" / "specs" / "ecr-lifecycle-policy.schema.json").read_text()
)
POLICIES = """
protected_tags: ["prod"]
policies:
  - name: tidy
    repositories: ["team/**"]
    clock: pushed
    keep:
      - tags: ["stable*"]
      - semver: {per: major, most_recent: 1}
    delete:
      - older_than_days: 30
"""


def check_document(document: dict[str, Any]) -> None:
    """The AWS-documented shape, and the rules across rules the properties page states."""
    jsonschema.validate(document, SCHEMA)
    rules = document["rules"]
    priorities = [r["rulePriority"] for r in rules]
    assert len(set(priorities)) == len(priorities)
    assert sum(r["selection"]["tagStatus"] == "untagged" for r in rules) <= 1
    anys = [r for r in rules if r["selection"]["tagStatus"] == "any"]
    assert not anys or anys[0]["rulePriority"] == max(priorities)


def crawl(front_url: str, http: httpx.Client) -> tuple[RegistryInventory, Any]:
    adapter = build_registry(adapter_config(front_url, http))
    inventory = crawl_registry(adapter, RegistrySource(name="ecr", url=front_url, kind="ecr"), workers=2)
    assert not inventory.errors and inventory.pushed
    return inventory, adapter


def export(policies: PolicyFile, inventory: RegistryInventory, plan: Plan, now: dt.datetime) -> NativeExport:
    snapshot = InventorySnapshot(taken_at=now, registries=[inventory])
    return exporter("ecr-lifecycle")(ExportRequest(policies=policies, plan=plan, snapshot=snapshot, now=now))


def running_api(digest: str) -> Deployment:
    """`api` running team/app:1.0 (this digest) in the prod environment."""
    return Deployment(
        environment_id=1,
        environment="prod",
        kind="container",
        name="api",
        image="team/app:1.0",
        digest=digest,
        state="running",
    )


def test_documents_are_accepted_and_the_differences_are_the_ones_ecr_would_make(
    moto_ecr: MotoEcr, ecr_blobs: RegistryServer, http_client: httpx.Client
) -> None:
    seed = make_seed(ecr_blobs, moto_ecr, http_client)
    running = seed.push("team/app", ["1.0"])
    old = seed.push("team/app", ["1.0-rc1"])
    protected = seed.push("team/app", ["prod"])
    stable = seed.push("team/app", ["stable-3"])
    with ecr_front(ecr_blobs.url, seed.ecr) as front:
        inventory, _ = crawl(front.url, http_client)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(days=100)  # every image was pushed 100 days "ago"
    in_use = running_api(running.digest)
    policies = parse_policies(POLICIES)
    plan = evaluate_policies(policies, registries=[inventory], deployments=[in_use], now=now)
    assert {i.digest for i in plan.items} == {old.digest}  # 1.0 runs (and is the newest 1.x), prod, stable

    result = export(policies, inventory, plan, now)
    assert list(result.documents) == ["team/app"]
    document = result.documents["team/app"]
    check_document(document)
    selections = [r["selection"] for r in document["rules"]]
    assert selections == [
        {
            "tagStatus": "tagged",
            "tagPatternList": ["prod"],
            "countType": "imageCountMoreThan",
            "countNumber": 9999,
        },
        {
            "tagStatus": "tagged",
            "tagPatternList": ["stable*"],
            "countType": "imageCountMoreThan",
            "countNumber": 9999,
        },
        {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30},
    ]
    assert any("semver keep" in text for text in result.unexpressed)
    assert any("deployment-aware keep" in text for text in result.unexpressed)
    # ECR's rules would expire the running 1.0 too: the one image the two sides treat differently
    assert [(d.digest, d.regent, d.native) for d in result.differences] == [
        (running.digest, "keep", "delete")
    ]
    assert "ECR rule 3" in result.differences[0].why and "in use" in result.differences[0].why
    assert protected.digest not in {d.digest for d in result.differences}
    assert stable.digest not in {d.digest for d in result.differences}

    seed.ecr.put_lifecycle_policy(repositoryName="team/app", lifecyclePolicyText=json.dumps(document))
    stored = seed.ecr.get_lifecycle_policy(repositoryName="team/app")["lifecyclePolicyText"]
    assert json.loads(stored) == document


def test_count_and_pull_rules(
    moto_ecr: MotoEcr, ecr_blobs: RegistryServer, http_client: httpx.Client
) -> None:
    seed = make_seed(ecr_blobs, moto_ecr, http_client)
    for n in range(3):
        seed.push("team/api", [f"build-{n}"])
    with ecr_front(ecr_blobs.url, seed.ecr) as front:
        inventory, _ = crawl(front.url, http_client)
    now = dt.datetime.now(dt.UTC)
    counted = parse_policies(
        """
policies:
  - name: last-two
    repositories: ["team/api"]
    clock: pushed
    keep: [{most_recent: 2}]
    delete: [{all: true}]
"""
    )
    plan = evaluate_policies(counted, registries=[inventory], deployments=[], now=now)
    document = export(counted, inventory, plan, now).documents["team/api"]
    check_document(document)
    assert document["rules"][0]["selection"] == {
        "tagStatus": "tagged",
        "tagPatternList": ["*"],
        "countType": "imageCountMoreThan",
        "countNumber": 2,
    }
    seed.ecr.put_lifecycle_policy(repositoryName="team/api", lifecyclePolicyText=json.dumps(document))

    pulled = parse_policies(
        """
policies:
  - {name: unpulled, repositories: ["team/api"], delete: [{older_than_days: 60, clock: last_pulled}]}
"""
    )
    plan = evaluate_policies(pulled, registries=[inventory], deployments=[], now=now)
    document = export(pulled, inventory, plan, now).documents["team/api"]
    check_document(document)
    assert document["rules"][0]["selection"]["countType"] == "sinceImagePulled"
    text = json.dumps(document)
    with pytest.raises(ClientError, match="InvalidParameterException"):  # moto's validator lags ECR here
        seed.ecr.put_lifecycle_policy(repositoryName="team/api", lifecyclePolicyText=text)
    api = EcrApi(region=REGION, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    with Stubber(api.boto_client) as stubber:  # botocore's own model validates the request
        expected = {"repositoryName": "team/api", "lifecyclePolicyText": text}
        stubber.add_response(
            "put_lifecycle_policy", {"repositoryName": "team/api", "lifecyclePolicyText": text}, expected
        )
        api.boto_client.put_lifecycle_policy(**expected)


def test_ecr_preview_side_by_side_with_the_plan(
    moto_ecr: MotoEcr, ecr_blobs: RegistryServer, http_client: httpx.Client
) -> None:
    seed = make_seed(ecr_blobs, moto_ecr, http_client)
    running = seed.push("team/app", ["1.0"])
    old = seed.push("team/app", ["1.0-rc1"])
    protected = seed.push("team/app", ["prod"])
    with ecr_front(ecr_blobs.url, seed.ecr) as front:
        inventory, adapter = crawl(front.url, http_client)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(days=100)
    policies = parse_policies(POLICIES)
    in_use = running_api(running.digest)
    plan = evaluate_policies(policies, registries=[inventory], deployments=[in_use], now=now)
    result = export(policies, inventory, plan, now)
    text = json.dumps(result.documents["team/app"], separators=(",", ":"))
    pushed = now - dt.timedelta(days=100)
    untagged = "sha256:" + "e" * 64  # an untagged image v2 never lists: ECR sees it, the snapshot cannot
    with Stubber(adapter.api.boto_client) as stubber:
        stubber.add_response(
            "start_lifecycle_policy_preview",
            {"repositoryName": "team/app", "lifecyclePolicyText": text, "status": "IN_PROGRESS"},
            {"repositoryName": "team/app", "lifecyclePolicyText": text},
        )
        stubber.add_response(
            "get_lifecycle_policy_preview",
            {"repositoryName": "team/app", "status": "IN_PROGRESS", "previewResults": []},
            {"repositoryName": "team/app", "maxResults": 100},
        )
        results = [
            {
                "imageDigest": d,
                "imageTags": t,
                "imagePushedAt": pushed,
                "action": {"type": "EXPIRE"},
                "appliedRulePriority": 3,
            }
            for d, t in ((old.digest, ["1.0-rc1"]), (running.digest, ["1.0"]), (untagged, []))
        ]
        stubber.add_response(
            "get_lifecycle_policy_preview",
            {
                "repositoryName": "team/app",
                "status": "COMPLETE",
                "previewResults": results[:2],
                "nextToken": "n2",
            },
            {"repositoryName": "team/app", "maxResults": 100},
        )
        stubber.add_response(
            "get_lifecycle_policy_preview",
            {"repositoryName": "team/app", "status": "COMPLETE", "previewResults": results[2:]},
            {"repositoryName": "team/app", "maxResults": 100, "nextToken": "n2"},
        )
        slept: list[float] = []
        [side] = preview_side_by_side(
            result.documents, plan=plan, registry="ecr", api=adapter.api, sleep=slept.append
        )
    assert slept == [2.0] and side.status == "COMPLETE"
    rows = {row.digest: row for row in side.rows}
    assert (rows[old.digest].regent, rows[old.digest].ecr) == ("delete", "expire")
    assert (rows[running.digest].regent, rows[running.digest].ecr, rows[running.digest].ecr_rule) == (
        "keep",
        "expire",
        3,
    )
    assert "in use" in rows[running.digest].regent_reason
    assert rows[untagged].regent == "not in plan"
    assert protected.digest not in rows or rows[protected.digest].ecr == "keep"
    assert {row.digest for row in side.disagreements} == {running.digest, untagged}
