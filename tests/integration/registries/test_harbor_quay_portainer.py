"""`regent inventory --json` with a Portainer CE holding a Harbor (a Custom record, type 3: Portainer has no
Harbor type) and a Quay record (type 1), each pointing at its fake in front of the real registry: exact
counts and bytes, and each vendor's clocks with their origin."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.cli import run_regent
from tests.fakes.harbor import FakeHarbor
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import FakeRegistry, FakeUser
from tests.fakes.quay import FakeQuay
from tests.fakes.registry_front import RegistryFront
from tests.integration.registries.clocks_shown import assert_clocks_shown

pytestmark = pytest.mark.real

API_KEY = "ptr_harbor-quay-e2e-key-0001"
CUSTOM, QUAY = 3, 1  # Portainer's registry types (api/portainer.go)
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
HARBOR_PASSWORD, QUAY_TOKEN = "harbor-e2e-secret", "quay-e2e-oauth-token"


def image(repository: str, tag: str, seed: str) -> ImageSpec:
    return ImageSpec(repository=repository, tag=tag, created=NOW, extra_layer_seed=seed, own_layers=2)


@pytest.fixture
def front(registry: RegistryServer) -> Iterator[tuple[FakeHarbor, RegistryFront]]:
    fake = FakeHarbor(registry.url, projects=["team"], password=HARBOR_PASSWORD, now=NOW)
    with RegistryFront(registry.url, fake.route) as served:
        yield fake, served
    assert fake.check.problems == [], fake.check.problems


def inventory(tmp_path: Path, record: FakeRegistry, entry: str, env: dict[str, str]) -> dict[str, Any]:
    return regent_json(tmp_path, record, entry, env, ("inventory", "--json"))


def regent_json(
    tmp_path: Path, record: FakeRegistry, entry: str, env: dict[str, str], args: tuple[str, ...]
) -> dict[str, Any]:
    """`regent ARGS` against a Portainer CE holding only `record`; its JSON, with no secret in any output."""
    config = tmp_path / "regent.yml"
    with FakePortainer(
        edition="CE", users=[FakeUser(1, "admin", api_keys=(API_KEY,))], registries=[record]
    ) as portainer:
        entries = f"registries:\n{entry}" if entry else ""
        config.write_text(f"portainer:\n  url: {portainer.url}\n  registry_scheme: http\n{entries}")
        done = run_regent(
            *args, state=tmp_path, env={"REGENT_CONFIG": str(config), "PORTAINER_API_KEY": API_KEY, **env}
        )
    assert done.returncode == 0, done.stderr
    for secret in [HARBOR_PASSWORD, *env.values()]:
        assert secret not in done.stdout + done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_harbor_record_inventoried_through_harbor_api(
    front: tuple[FakeHarbor, RegistryFront], seeder: Seeder, tmp_path: Path
) -> None:
    fake, served = front
    current = seeder.push_image(image("team/app", "1.0", "current"))
    seeder.tag("team/app", current.digest, "latest")
    old = seeder.push_image(image("team/tools/cli", "0.9", "old"))
    fake.pushed |= {current.digest: NOW - dt.timedelta(days=3), old.digest: NOW - dt.timedelta(days=120)}
    fake.pulled |= {current.digest: NOW - dt.timedelta(hours=5)}
    record = FakeRegistry(
        9, "harbor", served.url, type=CUSTOM, username="robot$regent", password=HARBOR_PASSWORD
    )
    entry = (
        f"  - name: harbor\n    url: {served.url}\n    kind: harbor\n"
        "    username_env: HARBOR_USER\n    password_env: HARBOR_PASS\n"
    )
    out = inventory(tmp_path, record, entry, {"HARBOR_USER": "robot$regent", "HARBOR_PASS": HARBOR_PASSWORD})
    (registry,) = out["registries"]
    assert registry["kind"] == "harbor" and not registry["errors"]
    expected = seeder.expected()
    assert (registry["repositories"], registry["tags"], registry["manifests"]) == (2, 3, 2)
    assert registry["stored_bytes"] == expected.stored_bytes
    assert (registry["push_clock"], registry["pull_clock"]) == ("Harbor push_time", "Harbor pull_time")
    native = registry["native"]
    assert dt.datetime.fromisoformat(native[current.digest]["pushed"]) == NOW - dt.timedelta(days=3)
    assert dt.datetime.fromisoformat(native[current.digest]["last_pulled"]) == NOW - dt.timedelta(hours=5)
    assert native[old.digest].get("last_pulled") is None  # Harbor's zero time: never pulled
    assert native[old.digest]["size"] == old.total_bytes
    assert served.count("GET", "/v2/_catalog") == 0
    assert_clocks_shown(
        tmp_path,
        digest=current.digest,
        repository="team/app",
        tag="1.0",
        pushed=NOW - dt.timedelta(days=3),
        push_origin="Harbor push_time",
        pull_origin="Harbor pull_time",
        pulled=NOW - dt.timedelta(hours=5),
    )


def test_quay_record_inventoried_through_quay_api(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    fake = FakeQuay(registry.url, token=QUAY_TOKEN)
    app = seeder.push_image(image("acme/app", "1.0", "app"))
    seeder.tag("acme/app", app.digest, "stable")
    web = seeder.push_image(image("acme/web", "2.0", "web"))
    fake.start |= {
        ("acme/app", "1.0"): int((NOW - dt.timedelta(days=30)).timestamp()),
        ("acme/app", "stable"): int((NOW - dt.timedelta(days=2)).timestamp()),
        ("acme/web", "2.0"): int((NOW - dt.timedelta(days=9)).timestamp()),
    }
    with RegistryFront(registry.url, fake.route) as served:
        record = FakeRegistry(4, "quay", served.url, type=QUAY, username="acme+regent", password=QUAY_TOKEN)
        entry = (
            f"  - name: quay\n    url: {served.url}\n    kind: quay\n"
            "    username_env: QUAY_USER\n    password_env: QUAY_TOKEN\n"
        )
        out = inventory(tmp_path, record, entry, {"QUAY_USER": "acme+regent", "QUAY_TOKEN": QUAY_TOKEN})
    assert fake.check.problems == [] and fake.check.checked > 0, fake.check.problems
    (found,) = out["registries"]
    assert found["kind"] == "quay" and not found["errors"]
    assert (found["repositories"], found["tags"], found["manifests"]) == (2, 3, 2)
    assert found["stored_bytes"] == seeder.expected().stored_bytes
    assert (found["push_clock"], found["pull_clock"]) == ("Quay tag start_ts", None)
    native = found["native"]
    assert dt.datetime.fromisoformat(native[app.digest]["pushed"]) == NOW - dt.timedelta(
        days=30
    )  # earliest tag
    assert dt.datetime.fromisoformat(native[web.digest]["pushed"]) == NOW - dt.timedelta(days=9)
    assert native[web.digest]["size"] == sum(layer.size for layer in web.layers)  # Quay: layers only
    assert all(entry.get("last_pulled") is None for entry in native.values())
    assert served.count("GET", "/v2/_catalog") == 0
    assert_clocks_shown(
        tmp_path,
        digest=app.digest,
        repository="acme/app",
        tag="1.0",
        pushed=NOW - dt.timedelta(days=30),  # the earliest of its tags' start_ts
        push_origin="Quay tag start_ts",
        pull_origin=None,
    )


def test_regent_plan_exports_harbor_retention_and_shows_harbor_dry_run_beside_it(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    """The operator's path: export, store the document in Harbor, and the next plan shows its dry run."""
    now = dt.datetime.now(dt.UTC)
    fake = FakeHarbor(registry.url, projects=["team"], password=HARBOR_PASSWORD, now=now)
    images = {tag: seeder.push_image(image("team/app", tag, tag)) for tag in ("1", "2", "3")}
    for tag, days in (("1", 90), ("2", 60), ("3", 1)):
        fake.pushed[images[tag].digest] = now - dt.timedelta(days=days)
    policy = tmp_path / "policies.yml"
    policy.write_text(
        "policies:\n  - name: newest\n    repositories: ['team/**']\n    clock: pushed\n"
        "    keep:\n      - most_recent: 1\n    delete:\n      - older_than_days: 30\n"
    )
    with RegistryFront(registry.url, fake.route) as served:
        record = FakeRegistry(9, "harbor", served.url, type=CUSTOM)
        entry = (
            f"  - name: harbor\n    url: {served.url}\n    kind: harbor\n"
            "    username_env: HARBOR_USER\n    password_env: HARBOR_PASS\n"
        )
        env = {"HARBOR_USER": "robot$regent", "HARBOR_PASS": HARBOR_PASSWORD}
        args = ("plan", "--policy", str(policy), "--export", "harbor-retention", "--json")
        first = regent_json(tmp_path, record, entry, env, args)
        assert sorted(i["digest"] for i in first["items"]) == sorted(images[t].digest for t in ("1", "2"))
        export = first["export"]
        assert export["differences"] == [] and list(export["documents"]) == ["team"]
        (waiting,) = export["previews"]  # nothing stored in Harbor yet: said, not failed
        assert "no retention policy to dry-run" in waiting["status"] and waiting["rows"] == []
        document = export["documents"]["team"] | {"scope": {"level": "project", "ref": fake.projects["team"]}}
        stored = httpx.post(
            f"{served.url}/api/v2.0/retentions", json=document, auth=("robot$regent", HARBOR_PASSWORD)
        )
        assert stored.status_code == 201
        second = regent_json(tmp_path, record, entry, env, args)
    (preview,) = second["export"]["previews"]
    assert preview["repository"] == "team/app" and preview["status"].startswith("COMPLETE")
    verdicts = {row["digest"]: (row["regent"], row["native"]) for row in preview["rows"]}
    assert verdicts == {
        images["1"].digest: ("delete", "delete"),
        images["2"].digest: ("delete", "delete"),
        images["3"].digest: ("keep", "retain"),
    }
    assert len(fake.upstream.tags("team/app")) == 3  # a dry run deleted nothing
    assert fake.check.problems == [], fake.check.problems


def test_a_custom_record_alone_is_probed_as_harbor_and_read_with_portainers_login(
    front: tuple[FakeHarbor, RegistryFront], seeder: Seeder, tmp_path: Path
) -> None:
    fake, served = front
    current = seeder.push_image(image("team/app", "1.0", "current"))
    fake.pushed |= {current.digest: NOW - dt.timedelta(days=3)}
    record = FakeRegistry(
        9, "harbor", served.url, type=CUSTOM, username="robot$regent", password=HARBOR_PASSWORD
    )
    out = inventory(tmp_path, record, "", {})  # nothing in Regent's config names the registry
    (registry,) = out["registries"]
    assert registry["kind"] == "harbor" and not registry["errors"]  # one systeminfo probe told
    assert served.count("GET", "/api/v2.0/systeminfo") == 1
    assert dt.datetime.fromisoformat(registry["native"][current.digest]["pushed"]) == NOW - dt.timedelta(
        days=3
    )
    assert HARBOR_PASSWORD not in json.dumps(out)


def test_a_plain_custom_record_is_probed_once_and_stays_custom(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    seeder.push_image(image("team/app", "1.0", "current"))
    with RegistryFront(registry.url, lambda request: None) as served:
        out = inventory(tmp_path, FakeRegistry(5, "plain", served.url, type=CUSTOM), "", {})
    (found,) = out["registries"]
    assert found["kind"] == "custom" and found["tags"] == 1 and not found["errors"]
    assert served.count("GET", "/api/v2.0/systeminfo") == 1


def test_a_quay_record_alone_reads_its_organisation_and_login_from_portainer(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    fake = FakeQuay(registry.url, token=QUAY_TOKEN)
    app = seeder.push_image(image("acme/app", "1.0", "app"))
    fake.start |= {("acme/app", "1.0"): int((NOW - dt.timedelta(days=30)).timestamp())}
    with RegistryFront(registry.url, fake.route) as served:
        record = FakeRegistry(
            4,
            "quay",
            served.url,
            type=QUAY,
            username="robot-without-org",
            password=QUAY_TOKEN,
            extra={"Quay": {"UseOrganisation": True, "OrganisationName": "acme"}},
        )
        out = inventory(tmp_path, record, "", {})
    (found,) = out["registries"]
    assert found["kind"] == "quay" and not found["errors"], found["errors"]
    assert found["tags"] == 1
    assert dt.datetime.fromisoformat(found["native"][app.digest]["pushed"]) == NOW - dt.timedelta(days=30)
