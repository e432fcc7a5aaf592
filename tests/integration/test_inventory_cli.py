"""`regent inventory` as a user runs it: a real process against the real registry and dockerd."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from bot.demo.dockerd import DockerDaemon
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ImageSpec, Seeder, seed_sample
from tests.cli import run_regent
from tests.conftest import need_binary
from tools.inventory.store import SnapshotStore

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parents[2]


def regent(*args: str, state: Path) -> tuple[int, dict[str, Any], str]:
    done = run_regent("inventory", *args, "--json", state=state)
    return done.returncode, json.loads(done.stdout) if done.stdout else {}, done.stderr


def test_inventory_reports_exactly_the_seeded_counts(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    seed_sample(seeder, now=NOW, runnable=False)
    expected = seeder.expected()
    code, out, err = regent("--registry", registry.url, state=tmp_path)
    assert code == 0, err
    (reg,) = out["registries"]
    assert (reg["repositories"], reg["tags"], reg["manifests"], reg["stored_bytes"]) == (
        expected.repositories,
        expected.tags,
        expected.manifests,
        expected.stored_bytes,
    )
    assert reg["errors"] == [] and "Traceback" not in err
    store = SnapshotStore(tmp_path / "regent.db")
    latest = store.latest()
    assert latest is not None and latest.registries[0].stored_bytes() == expected.stored_bytes
    store.close()


def test_warm_crawl_only_heads_and_sees_changes(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    seed_sample(seeder, now=NOW, runnable=False)
    expected = seeder.expected()
    regent("--registry", registry.url, state=tmp_path)
    code, warm, err = regent("--registry", registry.url, state=tmp_path)
    assert code == 0, err
    # catalog + one tag list per repository, one HEAD per tag; no manifest or config GET
    assert warm["requests"] == {"GET": 1 + expected.repositories, "HEAD": expected.tags}
    # unchanged tags reuse the cold crawl's parsed manifests (index children included): the same inventory
    store = SnapshotStore(tmp_path / "regent.db")
    cold_snapshot, warm_snapshot = store.snapshots(limit=2)
    store.close()
    assert any(m.is_index for m in cold_snapshot.registries[0].manifests.values())
    assert warm_snapshot.registries[0].manifests == cold_snapshot.registries[0].manifests
    assert warm_snapshot.registries[0].tags == cold_snapshot.registries[0].tags

    moved = seeder.push_image(ImageSpec(repository="shop/api", tag="latest", created=NOW))
    seeder.push_image(ImageSpec(repository="shop/api", tag="9.9.9", created=NOW))
    after = seeder.expected()
    code, changed, err = regent("--registry", registry.url, state=tmp_path)
    assert code == 0, err
    (reg,) = changed["registries"]
    assert (reg["tags"], reg["manifests"], reg["stored_bytes"]) == (
        after.tags,
        after.manifests,
        after.stored_bytes,
    )
    # the moved tag: HEAD then GET by digest and its config; the new tag: GET manifest and config
    assert changed["requests"]["GET"] == 1 + after.repositories + 4
    assert moved.digest in {d for _, d in seeder.tagged().items()}


def test_unreachable_registry_is_reported_not_fatal(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    need_binary("docker-registry", "docker-registry")
    seeder.push_image(ImageSpec(repository="shop/api", tag="1.0", created=NOW))
    with RegistryServer() as gone:
        dead_url = gone.url
    code, out, err = regent("--registry", registry.url, "--registry", dead_url, state=tmp_path)
    assert code == 1
    ok, dead = out["registries"]
    assert ok["tags"] == 1 and ok["errors"] == []
    assert dead["partial"] is True and "unreachable" in dead["errors"][0]
    assert "Traceback" not in err


def test_docker_host_deployments_resolve_digests(
    registry: RegistryServer, seeder: Seeder, dockerd: DockerDaemon, tmp_path: Path
) -> None:
    need_binary("busybox", "busybox-static")
    pushed = seeder.push_image(ImageSpec(repository="shop/web", tag="2.0", created=NOW, runnable=True))
    ref = f"{registry.host}/shop/web:2.0"
    dockerd.pull(ref)
    running = dockerd.run(ref, name="inv-running")
    stopped = dockerd.create_container(ref, name="inv-stopped")
    try:
        code, out, err = regent(
            "--registry", registry.url, "--docker-host", dockerd.docker_host, state=tmp_path
        )
        assert code == 0, err
        (env,) = out["environments"]
        assert env["deployments"] >= 2 and env["status"] == "up"
        store = SnapshotStore(tmp_path / "regent.db")
        snapshot = store.latest()
        store.close()
        assert snapshot is not None
        mine = {d.name: d for d in snapshot.deployments if d.name in {"inv-running", "inv-stopped"}}
        assert mine["inv-running"].digest == pushed.digest and mine["inv-running"].state == "running"
        assert mine["inv-stopped"].digest == pushed.digest and mine["inv-stopped"].state == "created"
    finally:
        dockerd.remove_container(running)
        dockerd.remove_container(stopped)


def test_nothing_to_inventory_is_a_clear_error(tmp_path: Path) -> None:
    code, out, err = regent(state=tmp_path)
    assert code == 2 and out == {}
    assert "nothing to inventory" in err and "Traceback" not in err
