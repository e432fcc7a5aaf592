"""`regent plan` then `regent apply --yes` on a configured GAR host: the deletes go through the adapter's
native path (each tag first, then the digest, which GAR refuses while tags remain), re-validated, and a
second apply sends nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.fakes.gar import FakeGar
from tests.integration.registries.apply_support import apply, apply_again, plan, push_old_and_current


@pytest.fixture
def gar(registry: RegistryServer) -> Iterator[FakeGar]:
    with FakeGar(registry.url).running() as fake:
        yield fake


def test_plan_and_apply_delete_tags_first_on_gar(gar: FakeGar, seeder: Seeder, tmp_path: Path) -> None:
    old, current = push_old_and_current(seeder, "proj/images/app", gar.uploaded)
    planned, env = plan(
        tmp_path,
        f"registries:\n  - name: gar\n    url: {gar.url}\n    kind: gar\n"
        "    username_env: GAR_USER\n    password_env: GAR_KEY\n",
        {"GAR_USER": "_json_key", "GAR_KEY": gar.json_key()},
    )
    assert [(i["digest"], sorted(i["tags"])) for i in planned["items"]] == [(old, ["old", "old-alias"])]

    apply(planned["plan_id"], tmp_path, env, secret=gar.json_key())
    deletes = [path for method, path in gar.front.seen if method == "DELETE"]
    prefix = "/v2/proj/images/app/manifests/"
    assert {prefix + "old", prefix + "old-alias"} <= set(deletes)
    assert deletes[-1] == prefix + old  # the digest last, after its tags
    assert gar.view.resolve("proj/images/app", old) is None
    assert gar.view.resolve("proj/images/app", "current") == current

    sent = gar.front.count("DELETE")
    assert "already executed" in apply_again(planned["plan_id"], tmp_path, env)
    assert gar.front.count("DELETE") == sent
