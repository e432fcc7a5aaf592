"""Push comparison rules: size growth, base image changes and downgrades, required signatures."""

from __future__ import annotations

import pytest

from tests.events_factory import digest_of, event
from tools.events.push_analysis import (
    ImageFacts,
    compare_images,
    is_signature_tag,
    wants_analysis,
)
from tools.events.rules import PushRules

MIB = 1 << 20


def facts(
    tag: str,
    size: int,
    *,
    base: str = "",
    layers: tuple[str, ...] = ("a", "b", "c"),
    signed: bool | None = None,
) -> ImageFacts:
    return ImageFacts(
        repository="shop/api",
        tag=tag,
        digest=digest_of(tag),
        image_digest=digest_of(tag),
        bytes=size,
        layers=[digest_of(name) for name in layers],
        base_name=base,
        signed=signed,
    )


def rules_of(findings: list) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(f.rule, f.severity) for f in findings}


def test_three_times_larger_is_an_alert_and_below_is_not() -> None:
    rules = PushRules()
    assert rules_of(compare_images(facts("2", 30 * MIB), facts("1", 10 * MIB), rules)) == {
        ("size_growth", "alert")
    }
    assert compare_images(facts("2", 29 * MIB), facts("1", 10 * MIB), rules) == []
    # A large ratio on a tiny image is noise: 3 KiB -> 12 KiB is below the minimum delta.
    assert compare_images(facts("2", 12 * 1024), facts("1", 3 * 1024), rules) == []
    loose = PushRules(min_size_delta_bytes=0)
    [finding] = compare_images(facts("2", 12 * 1024), facts("1", 3 * 1024), loose)
    assert finding.message.startswith("4.0x the size of 1")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "docker.io/library/alpine:3.19.1",
            "docker.io/library/alpine:3.19.0",
            {("base_downgraded", "alert")},
        ),
        ("alpine:3.19.0", "alpine:3.19.1", {("base_changed", "info")}),
        ("alpine:3.19", "debian:12-slim", {("base_changed", "alert")}),
        ("alpine:3.19", "alpine:3.19", set()),
        ("alpine:latest", "alpine:edge", {("base_changed", "info")}),
        ("node:20-alpine", "node:18-alpine", {("base_downgraded", "alert")}),
    ],
)
def test_base_image_changes(old: str, new: str, expected: set[tuple[str, str]]) -> None:
    findings = compare_images(facts("2", MIB, base=new), facts("1", MIB, base=old), PushRules())
    assert rules_of(findings) == expected


def test_base_rules_can_be_downgraded_to_info() -> None:
    rules = PushRules(base_changed=False, base_downgraded=False)
    findings = compare_images(facts("2", MIB, base="alpine:3.18"), facts("1", MIB, base="alpine:3.19"), rules)
    assert rules_of(findings) == {("base_downgraded", "info")}


def test_unsigned_alerts_only_when_checked_and_first_pushes_compare_nothing() -> None:
    assert rules_of(compare_images(facts("1", MIB, signed=False), None, PushRules())) == {
        ("unsigned", "alert")
    }
    assert compare_images(facts("1", MIB, signed=True), None, PushRules()) == []
    assert compare_images(facts("1", MIB), None, PushRules()) == []


def test_no_shared_layer_without_base_information_is_noted() -> None:
    findings = compare_images(facts("2", MIB, layers=("x", "y")), facts("1", MIB), PushRules())
    assert rules_of(findings) == {("layers_replaced", "info")}


def test_required_signature_globs() -> None:
    rules = PushRules(require_signature=["prod/*", "shop/api"])
    assert rules.requires_signature("prod/web") and rules.requires_signature("shop/api")
    assert not rules.requires_signature("shop/web")


def test_which_pushes_are_analysed() -> None:
    assert wants_analysis(event("push", tag="1.0"))
    assert not wants_analysis(event("push", tag=""))
    assert not wants_analysis(event("pull", tag="1.0"))
    assert not wants_analysis(event("push", tag=f"sha256-{'a' * 64}.sig"))
    assert is_signature_tag(f"sha256-{'b' * 64}.att") and not is_signature_tag("sha256-short.sig")
