"""The ecr-lifecycle translation, and ECR's evaluation as AWS documents it (export/ecr_lifecycle.py)."""

from __future__ import annotations

import datetime as dt

from tools.policy.export.ecr_lifecycle import Image, build_document, ecr_pattern, simulate
from tools.policy.loader import parse_policies

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def image(n: int, *tags: str, days: int) -> Image:
    return Image(digest=f"sha256:{n:064x}", tags=tags, pushed=NOW - dt.timedelta(days=days), pulled=None)


def test_patterns_ecr_can_match_and_those_it_cannot() -> None:
    assert ecr_pattern("release-*") == "release-*"
    assert ecr_pattern("**") == "*"
    assert ecr_pattern("v?.*") is None  # ECR has no single-character wildcard
    assert ecr_pattern("re:v[0-9]+") is None
    assert ecr_pattern("a*b*c*d*e*") is None  # five wildcards, ECR allows four


def test_rule_order_untagged_before_any_and_one_untagged_rule_only() -> None:
    policies = parse_policies(
        """
protected_tags: ["prod", "re:hotfix-.*"]
policies:
  - name: first
    repositories: ["**"]
    clock: pushed
    delete: [{dangling_older_than_days: 7}, {older_than_days: 90}]
  - name: second
    repositories: ["**"]
    delete: [{dangling_older_than_days: 1}]
"""
    )
    document = build_document(policies.policies, policies.protected_tags)
    rules = document.rules()
    assert [(r["rulePriority"], r["selection"]["tagStatus"]) for r in rules] == [
        (1, "tagged"),
        (2, "untagged"),
        (3, "any"),
    ]
    assert rules[1]["selection"]["countNumber"] == 7
    text = " | ".join(document.unexpressed)
    assert "'re:hotfix-.*'" in text and "one untagged rule" in text and "several policies" in text


def test_a_kept_tag_is_never_expired_by_a_later_rule_but_still_counts() -> None:
    rules = [
        {
            "rulePriority": 1,
            "description": "keep prod",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["prod"],
                "countType": "imageCountMoreThan",
                "countNumber": 9999,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "two newest",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["*"],
                "countType": "imageCountMoreThan",
                "countNumber": 2,
            },
            "action": {"type": "expire"},
        },
    ]
    images = [image(1, "prod", days=1), image(2, "b", days=2), image(3, "c", days=3), image(4, "d", days=4)]
    expired = simulate(rules, images, now=NOW)
    # prod is the newest and counts among the two kept by rule 2, so only one other image stays
    assert expired == {images[2].digest: 2, images[3].digest: 2}


def test_age_rules_and_the_all_tags_selection() -> None:
    rules = [
        {
            "rulePriority": 1,
            "description": "old release and build",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["release-*", "build-*"],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 30,
            },
            "action": {"type": "expire"},
        }
    ]
    both = image(1, "release-1", "build-7", days=40)
    one = image(2, "release-2", days=40)
    young = image(3, "release-3", "build-9", days=10)
    assert simulate(rules, [both, one, young], now=NOW) == {both.digest: 1}  # every pattern must match
