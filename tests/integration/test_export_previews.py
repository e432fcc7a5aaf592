"""The ECR lifecycle preview through `regent plan --export`'s previewer hook (#13).

ECR's own preview is tested with the ECR helper's fakes; here an ECR API stand-in (the calls EcrRegistry
makes: a token, StartLifecyclePolicyPreview, GetLifecyclePolicyPreview) answers for the documents the real
ecr-lifecycle exporter wrote from a real crawl, and the hook must pair every answer with Regent's plan.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any, cast

import httpx

from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.integration.test_native_clocks import FixedClocks
from tools.inventory.crawl import crawl_registry
from tools.inventory.models import InventorySnapshot, RegistrySource
from tools.policy.evaluate import evaluate_policies
from tools.policy.export.base import ExportRequest, exporter, previewer
from tools.policy.model import PolicyFile
from tools.registry.kinds.base import AdapterConfig
from tools.registry.kinds.ecr.adapter import EcrRegistry
from tools.registry.kinds.ecr.client import EcrApi, Preview, PreviewResult, RegistryToken

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
POLICY = {
    "policies": [
        {"name": "one", "repositories": ["**"], "keep": [{"most_recent": 1}], "delete": [{"all": True}]}
    ]
}


class PreviewingApi:
    """Answers like ECR: a token, and a preview that expires every image but the newest pushed."""

    def __init__(self, keep: str) -> None:
        self.keep = keep
        self.started: dict[str, Any] = {}
        self.digests: dict[str, list[str]] = {}

    def authorization(self) -> RegistryToken:
        return RegistryToken("AWS", "token", NOW + dt.timedelta(hours=12), "https://ecr.test")

    def start_preview(self, repository: str, policy_text: str) -> None:
        self.started[repository] = json.loads(policy_text)

    def preview(self, repository: str) -> Preview:
        results = tuple(
            PreviewResult(digest=d, tags=(), pushed_at=None, action="EXPIRE", rule_priority=2)
            for d in self.digests[repository]
            if d != self.keep
        )
        return Preview(repository=repository, status="COMPLETE", results=results)


def test_the_ecr_preview_is_paired_with_regents_plan(
    registry: RegistryServer, seeder: Seeder, http_client: httpx.Client
) -> None:
    images = [
        seeder.push_image(
            ImageSpec("team/api", tag, created=NOW - dt.timedelta(days=n), extra_layer_seed=tag)
        )
        for n, tag in enumerate(("3", "2", "1"))
    ]
    client = FixedClocks(AdapterConfig(kind="quay", url=registry.url, http=http_client))
    crawled = crawl_registry(client, RegistrySource(name="aws", url=registry.url, kind="quay"))
    inventory = replace(crawled, source=replace(crawled.source, kind="ecr"))
    snapshot = InventorySnapshot(taken_at=NOW, registries=[inventory])
    policies = PolicyFile.model_validate(POLICY)
    plan = evaluate_policies(policies, registries=[inventory], deployments=[], now=NOW)
    request = ExportRequest(policies=policies, plan=plan, snapshot=snapshot, now=NOW)
    export = exporter("ecr-lifecycle")(request)
    assert list(export.documents) == ["team/api"]
    # ECR disagrees on one image: it keeps the oldest ("1"), where Regent's most_recent (by created) keeps "3"
    api = PreviewingApi(keep=images[2].digest)
    api.digests["team/api"] = [i.digest for i in images]
    ecr = EcrRegistry(
        AdapterConfig(kind="ecr", url=registry.url, http=http_client, region="eu-west-1"),
        api=cast(EcrApi, api),
    )
    preview = previewer("ecr-lifecycle")
    assert preview is not None
    (side,) = preview(export, request, {"aws": ecr})
    assert api.started == {"team/api": export.documents["team/api"]}  # the exported document, as written
    assert (side.registry, side.repository, side.status) == ("aws", "team/api", "COMPLETE")
    rows = {row.digest: row for row in side.rows}
    assert (rows[images[0].digest].regent, rows[images[0].digest].native) == ("keep", "expire")
    assert (rows[images[2].digest].regent, rows[images[2].digest].native) == ("delete", "keep")
    assert rows[images[1].digest].agrees and rows[images[1].digest].native_reason == "rule 2"
    assert sum(not row.agrees for row in side.rows) == 2
