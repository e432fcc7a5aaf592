"""Ground truth for the eval cases, computed by calling the tools directly (no LLM), and extra checks."""

from __future__ import annotations

import json
from typing import Any

from tests.evals.base import EvalEnv, Observed
from tests.evals.fixtures import CRITICAL_CVE, LONG_TAGS
from tools.units import format_bytes

SAMPLE_POLICY = {"repositories": ["shop/api"], "keep_most_recent": 2, "delete_older_than_days": 180}


def size_of(image: dict[str, Any]) -> list[str]:
    """A size as the tools write it, or its exact bytes with or without separators."""
    return [image["size"], f"{image['size_bytes']:,}", str(image["size_bytes"])]


def reclaimable_of(plan: dict[str, Any]) -> list[str]:
    """A plan's reclaimable bytes in any of the forms the tools give."""
    count = plan["reclaimable_bytes"]
    return [plan["reclaimable"], f"{count:,}", str(count)]


def digest_forms(digest: str) -> list[str]:
    """A digest in full or shortened to its first 12 hex digits (what people and `docker` show)."""
    return [digest, digest.removeprefix("sha256:")[:12]]


def size_and_digest(env: EvalEnv) -> list[list[str]]:
    image = env.tool("get_image", image="shop/api:1.4.0")
    return [digest_forms(env.digest("shop/api", "1.4.0")), size_of(image)]


def size_only(env: EvalEnv) -> list[list[str]]:
    return [size_of(env.tool("get_image", image="shop/api:1.4.0"))]


def base_of_web(env: EvalEnv) -> list[list[str]]:
    image = env.tool("get_image", image="shop/web:2.1.0")
    return [["debian"], [image["base_image"]["name"], "12-slim"]]


def base_of_api(_env: EvalEnv) -> list[list[str]]:
    return [["alpine"], ["3.19.1"]]


def layer_count(env: EvalEnv) -> list[list[str]]:
    image = env.tool("get_image", image="shop/api:1.4.0")
    count = len(image["layers"])
    words = {3: "three", 4: "four", 5: "five", 6: "six"}
    return [[str(count), words.get(count, str(count))]]


def platforms(_env: EvalEnv) -> list[list[str]]:
    return [["amd64"], ["arm64"]]


def created_day(env: EvalEnv) -> list[list[str]]:
    return [[env.tool("get_image", image="shop/api:1.2.0")["created"]]]


def tags_on_api_digest(_env: EvalEnv) -> list[list[str]]:
    return [["latest"]]


def web_latest_digest(env: EvalEnv) -> list[list[str]]:
    return [digest_forms(env.digest("shop/web", "latest"))]


def web_tags(_env: EvalEnv) -> list[list[str]]:
    return [["2.0.0"], ["2.0.1"], ["2.1.0"]]


def compare_api(env: EvalEnv) -> list[list[str]]:
    diff = env.tool("compare_images", image_a="shop/api:1.3.0", image_b="shop/api:1.4.0")
    delta = diff["size_delta_bytes"]
    return [[diff["size_delta"], diff["size_delta"].lstrip("+-"), f"{abs(delta):,}", str(abs(delta))]]


def old_batch_tags(env: EvalEnv) -> list[list[str]]:
    found = env.tool("search_images", repository="team-x/batch", older_than_days=90, limit=50)
    return [[str(found["matched"]), "five"], ["nightly"]]


def stale_bytes(env: EvalEnv) -> list[list[str]]:
    return [reclaimable_of(env.tool("find_stale_images")["stale"])]


def dangling_digest(env: EvalEnv) -> list[list[str]]:
    found = env.tool("search_images", dangling=True)
    assert found["matched"] == 1, found
    return [["shop/web"], digest_forms(found["images"][0]["digest"])]


def preview(env: EvalEnv) -> list[list[str]]:
    plan = env.tool("preview_retention_policy", policy=SAMPLE_POLICY)["plan"]
    return [reclaimable_of(plan)]


def largest_repository(env: EvalEnv) -> list[list[str]]:
    usage = env.tool("registry_usage", top=1)
    return [[usage["registries"][0]["top_repositories"][0]["repository"]]]


def total_storage(env: EvalEnv) -> list[list[str]]:
    row = env.tool("registry_usage", top=1)["registries"][0]
    return [[row["stored"], f"{row['stored_bytes']:,}", str(row["stored_bytes"])]]


def waste(env: EvalEnv) -> list[list[str]]:
    """Stale images' reclaimable bytes, or the biggest repository: either is a grounded answer."""
    stale = reclaimable_of(env.tool("find_stale_images")["stale"])
    return [[*stale, *largest_repository(env)[0]]]


def api_runs(env: EvalEnv) -> list[list[str]]:
    rows = [row for row in env.tool("image_usage")["deployments"] if "/shop/api:" in row["image"]]
    assert rows, "shop/api runs nowhere: the fixture did not start its container"
    return [[rows[0]["name"].lstrip("/")]]


def running_containers(env: EvalEnv) -> list[list[str]]:
    rows = env.tool("image_usage")["deployments"]
    return [[row["name"].lstrip("/")] for row in rows]


def critical_cve(_env: EvalEnv) -> list[list[str]]:
    return [[CRITICAL_CVE]]


def cve_images(_env: EvalEnv) -> list[list[str]]:
    return [["shop/api"]]


def long_list(_env: EvalEnv) -> list[list[str]]:
    partial = ["partial", "truncated", "not all", "only show", "only the first", "first 50", "of 120"]
    narrow = ["narrow", "filter", "glob", "older_than", "limit", "pattern", "more specific"]
    return [partial, narrow, [str(LONG_TAGS)]]


def recommended_base(env: EvalEnv) -> list[list[str]]:
    found = env.tool("recommend_base_image", language="python")
    return [[found["recommended"].split("/", 1)[1]]]  # without the registry host


def compliance_figures(env: EvalEnv) -> list[list[str]]:
    report = env.tool("compliance_report")
    row = report["registries"][0]
    return [[str(row["signed"])], [str(row["tagged_images"])]]


def proposal_matches_plan(env: EvalEnv, seen: Observed) -> list[str]:
    """The card shows exactly the stored plan's bytes, and so did the tool result the model read."""
    problems = []
    for proposal_id in seen.reply.proposal_ids:
        proposal = env.runtime.proposals.get(proposal_id)
        if proposal is None:
            problems.append(f"proposal {proposal_id} is not stored")
            continue
        card = env.runtime.proposals.card(proposal)
        stored = (
            env.runtime.plans.get(proposal.plan_id).reclaimable_bytes if proposal.kind == "plan" else None
        )
        told = [
            json.loads(text)["plan"]["reclaimable_bytes"]
            for text in seen.tool_results
            if '"proposal_id":"' + proposal_id in text
        ]
        if stored is not None and card.view.bytes != stored:
            problems.append(f"card bytes {card.view.bytes} != plan bytes {stored}")
        if told and told[-1] != card.view.bytes:
            problems.append(f"tool result said {told[-1]} bytes, the card shows {card.view.bytes}")
        if card.view.bytes is None:
            problems.append("the card shows no bytes")
        elif not _mentions_bytes(seen.reply.text, card.view.bytes):
            problems.append(f"the answer does not give the card's bytes ({format_bytes(card.view.bytes)})")
    return problems


def _mentions_bytes(text: str, count: int) -> bool:
    """The exact count (separators or not) or the formatted size's figure ("3.9" of "3.9 MiB")."""
    return str(count) in text.replace(",", "") or format_bytes(count).split()[0] in text
