"""Garbage collection as a change, without a registry: the prediction, the proposal's refusals and card,
the stack-file text edit, and the exec stream parser. The real run is tests/integration/test_gc_real.py."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

import pytest
import yaml

from tools.analysis.history import DanglingDigest, RegistryHistory
from tools.changes.actions import ActionStore
from tools.changes.compose_edit import set_service_environment, stack_diff
from tools.changes.gc import GC, build_gc_run, deleted_since_last_gc, no_step_needed, predict_gc
from tools.changes.registry_host import RegistryService, compose_project
from tools.errors import ChangeRefused
from tools.inventory.models import Descriptor, Manifest, RegistryInventory, RegistrySource
from tools.policy.plans import Plan, PlanItem, hash_items
from tools.policy.store import ItemResult, PlanStore
from tools.portainer.engine import demultiplex

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
SOURCE = RegistrySource(name="local", url="http://127.0.0.1:5000")
SERVICE = RegistryService(registry="local", environment=1, stack="registry")


def d(name: str) -> str:
    return "sha256:" + name.encode().hex().ljust(64, "0")[:64]


def image(name: str, *layers: tuple[str, int]) -> Manifest:
    return Manifest(
        digest=d(name),
        media_type="application/vnd.docker.distribution.manifest.v2+json",
        size=100,
        config=Descriptor(d(name + "-config"), 10),
        layers=tuple(Descriptor(d(layer), size) for layer, size in layers),
    )


def inventory() -> RegistryInventory:
    a = image("a", ("base", 1000), ("a-own", 300))
    b = image("b", ("base", 1000), ("b-own", 500))
    c = image("c", ("shared-bc", 700))
    inv = RegistryInventory(source=SOURCE)
    inv.tags = {"shop/api": {"1": a.digest, "2": b.digest}, "shop/web": {"1": c.digest}}
    inv.manifests = {m.digest: m for m in (a, b, c)}
    return inv


def test_the_prediction_counts_only_blobs_no_survivor_references() -> None:
    inv = inventory()
    freed = predict_gc(inv, RegistryHistory(), [("shop/api", d("a"))])
    assert freed.total == 100 + 10 + 300  # its manifest, config and own layer; the base layer stays (b)
    both = predict_gc(inv, RegistryHistory(), [("shop/api", d("a")), ("shop/api", d("b"))])
    assert both.total == 2 * (100 + 10) + 300 + 500 + 1000  # now the base layer goes too


def test_a_dangling_digest_that_was_not_deleted_keeps_its_blobs() -> None:
    inv = inventory()
    old = image("old", ("a-own", 300))  # untagged since an earlier crawl, still stored
    history = RegistryHistory(
        dangling=[DanglingDigest("shop/api", old.digest, ("0",), NOW, NOW)], manifests={old.digest: old}
    )
    freed = predict_gc(inv, history, [("shop/api", d("a"))])
    assert freed.total == 100 + 10  # a-own is still referenced by the dangling manifest


def test_a_deleted_manifest_never_crawled_makes_the_figure_a_lower_bound() -> None:
    freed = predict_gc(inventory(), RegistryHistory(), [("shop/api", d("never-seen"))])
    assert freed.unknown_manifests == 1 and freed.total == 0
    action = build_gc_run(
        source=SOURCE, service=SERVICE, prediction=freed, deleted=[("x", "y")], reason="r", now=NOW
    )
    assert any("lower bound" in w for w in action.warnings)


@pytest.mark.parametrize(
    ("source", "word"),
    [
        (RegistrySource(name="e", url="https://1.dkr.ecr.eu-west-1.amazonaws.com", kind="ecr"), "ECR"),
        (RegistrySource(name="a", url="https://x.azurecr.io", kind="azure"), "ACR"),
        (RegistrySource(name="g", url="https://europe-docker.pkg.dev", kind="custom"), "Artifact Registry"),
        (RegistrySource(name="h", url="https://registry-1.docker.io", kind="dockerhub"), "Docker Hub"),
    ],
)
def test_hosted_registries_need_no_step_and_say_so(source: RegistrySource, word: str) -> None:
    note = no_step_needed(source)
    assert note is not None and word in note and "no garbage collection step is needed" in note
    with pytest.raises(ChangeRefused, match="no garbage collection step"):
        build_gc_run(
            source=source,
            service=None,
            prediction=predict_gc(inventory(), RegistryHistory(), []),
            deleted=[],
            reason="",
            now=NOW,
        )


def test_harbor_and_unconfigured_registries_are_refused_with_the_reason() -> None:
    prediction = predict_gc(inventory(), RegistryHistory(), [])
    with pytest.raises(ChangeRefused, match="registry_services"):
        build_gc_run(source=SOURCE, service=None, prediction=prediction, deleted=[], reason="", now=NOW)
    harbor = SERVICE.model_copy(update={"kind": "harbor"})
    with pytest.raises(ChangeRefused, match=r"Harbor.*not supported yet"):
        build_gc_run(source=SOURCE, service=harbor, prediction=prediction, deleted=[], reason="", now=NOW)


def test_the_card_shows_the_steps_and_the_predicted_bytes() -> None:
    prediction = predict_gc(inventory(), RegistryHistory(), [("shop/api", d("a"))])
    action = build_gc_run(
        source=SOURCE,
        service=SERVICE,
        prediction=prediction,
        deleted=[("shop/api", d("a"))],
        reason="r",
        now=NOW,
    )
    view = GC.view(action)
    assert view.title == "Proposal: Run garbage collection on local (expected to free 410 B)"
    labels = [item.label for item in view.items]
    assert view.bytes == 410 and labels[0].startswith("Switch the registry to read-only")
    assert labels[1].startswith(
        "Run `registry garbage-collect /etc/docker/registry/config.yml` in its container"
    )
    assert "(no --delete-untagged)" in labels[1] and labels[2].startswith("Restore the stack file as it was")
    assert "REGISTRY_STORAGE_MAINTENANCE_READONLY" in view.items[0].label
    assert not any("--delete-untagged" in i.label and "no --" not in i.label for i in view.items)
    stop = build_gc_run(
        source=SOURCE,
        service=SERVICE.model_copy(update={"gc_mode": "stop", "stack": "", "container": "reg"}),
        prediction=prediction,
        deleted=[],
        reason="r",
        now=NOW,
    )
    assert GC.view(stop).items[0].label.startswith("Stop the registry (container `reg`")


def test_a_service_is_a_container_or_a_stack() -> None:
    with pytest.raises(ValueError, match="exactly one of container or stack"):
        RegistryService(registry="r", environment=1)
    with pytest.raises(ValueError, match="exactly one of container or stack"):
        RegistryService(registry="r", environment=1, container="c", stack="s")
    assert compose_project("My Registry_1!") == "myregistry_1"


def test_deleted_since_the_last_gc_comes_from_executed_plans(tmp_path: Path) -> None:
    db = tmp_path / "regent.db"
    plans, actions = PlanStore(db), ActionStore(db)
    items = [
        PlanItem(
            registry="local",
            repository="shop/api",
            digest=d("a"),
            tags=["1"],
            reason="old",
            bytes=1,
            kind="image",
        ),
        PlanItem(
            registry="other", repository="x", digest=d("b"), tags=[], reason="old", bytes=1, kind="image"
        ),
    ]
    plan = Plan(
        plan_id="plan-1",
        created_at=NOW,
        policies=["p"],
        registries=[],
        items=items,
        kept=[],
        reclaimable_bytes=2,
        shared_bytes=0,
        items_hash=hash_items(i.model_dump(mode="json") for i in items),
    )
    plans.save(plan)
    assert deleted_since_last_gc(plans, actions, "local") == []  # stored, not executed
    assert plans.claim("plan-1", runner="r", now=NOW)
    for index, item in enumerate(items):
        result = ItemResult(
            index=index,
            registry=item.registry,
            repository=item.repository,
            digest=item.digest,
            tags=item.tags,
            status="deleted",
            reason="",
            bytes=1,
        )
        plans.save_result("plan-1", result, now=NOW)
    plans.finish("plan-1", runner="r", now=NOW)
    assert deleted_since_last_gc(plans, actions, "local") == [("shop/api", d("a"))]
    plans.close()
    actions.close()


# -- the stack file edit -------------------------------------------------------------------------------

TEAM_FILE = """\
# the registry, owned by platform
services:
  registry:
    image: registry:2   # pinned by the team
    environment:
      REGISTRY_HTTP_ADDR: ":5000"
    volumes:
      - /srv/registry:/var/lib/registry
  ui:
    image: joxit/docker-registry-ui
"""
KEY, VALUE = "REGISTRY_STORAGE_MAINTENANCE_READONLY", '{"enabled": true}'


def test_setting_a_variable_changes_one_line_and_keeps_the_comments() -> None:
    new, in_place = set_service_environment(TEAM_FILE, "registry", {KEY: VALUE})
    assert in_place and "# pinned by the team" in new
    diff = stack_diff(TEAM_FILE, new, name="docker-compose.yml")
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        f'+      {KEY}: "{{\\"enabled\\": true}}"'
    ]
    assert yaml.safe_load(new)["services"]["registry"]["environment"][KEY] == VALUE
    back, _ = set_service_environment(new, "registry", {KEY: None})
    assert back == TEAM_FILE  # removing it gives the file back byte for byte


@pytest.mark.parametrize(
    "text",
    [
        "services:\n  registry:\n    image: r\n    environment:\n    - A=1\n",
        "services:\n  registry:\n    image: r\n    environment:\n      - A=1\n",
        "services:\n  registry:\n    image: r\n    network_mode: host\nvolumes: {}\n",
        "services:\n  registry: {image: r, environment: {A: '1'}}\n",  # flow style: re-dumped
        "services:\n  registry:\n    image: r\n    environment: {A: '1'}\n",
    ],
)
def test_every_layout_loads_back_to_the_intended_document(text: str) -> None:
    new, _ = set_service_environment(text, "registry", {KEY: VALUE})
    env = yaml.safe_load(new)["services"]["registry"]["environment"]
    values = dict(str(e).split("=", 1) for e in env) if isinstance(env, list) else env
    assert values[KEY] == VALUE and (values.get("A") == "1" or "A" not in text)


def test_a_file_that_is_not_compose_or_lacks_the_service_is_refused() -> None:
    with pytest.raises(ChangeRefused, match="no `services:`"):
        set_service_environment("just: text\n", "registry", {KEY: VALUE})
    with pytest.raises(ChangeRefused, match=r"no service 'registry'.*ui"):
        set_service_environment("services:\n  ui:\n    image: x\n", "registry", {KEY: VALUE})
    with pytest.raises(ChangeRefused, match="not valid YAML"):
        set_service_environment("services: [\n", "registry", {KEY: VALUE})


def test_the_exec_stream_is_split_into_stdout_and_stderr() -> None:
    def frame(kind: int, data: bytes) -> bytes:
        return bytes([kind, 0, 0, 0]) + struct.pack(">I", len(data)) + data

    raw = frame(1, b"12\n") + frame(2, b"warn\n") + frame(1, b"34\n")
    assert demultiplex(raw) == ("12\n34\n", "warn\n", False)
    assert demultiplex(b"plain text from a tty") == ("plain text from a tty", "", False)
    assert demultiplex(frame(1, b"x" * 10), limit=4) == ("xxxx", "", True)


def test_a_deletion_the_latest_crawl_already_saw_as_dangling_is_still_predicted() -> None:
    inv = inventory()
    a = inv.manifests[d("a")]
    del inv.tags["shop/api"]["1"], inv.manifests[d("a")]  # crawled after the delete: untagged, gone
    history = RegistryHistory(
        dangling=[DanglingDigest("shop/api", a.digest, ("1",), NOW, NOW)], manifests={a.digest: a}
    )
    assert predict_gc(inv, history, [("shop/api", a.digest)]).total == 100 + 10 + 300
