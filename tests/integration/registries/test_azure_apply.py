"""`regent plan` then `regent apply --yes` on a configured ACR: the deletes go through the adapter's native
path (tags through /acr/v1, then the digest), re-validated, and a second apply sends nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from tests.fakes.acr import FakeAcr
from tests.integration.registries.apply_support import apply, apply_again, plan, push_old_and_current


@pytest.fixture
def acr(registry: RegistryServer) -> Iterator[FakeAcr]:
    with FakeAcr(registry.url).running() as fake:
        yield fake


def test_plan_and_apply_delete_through_acr(acr: FakeAcr, seeder: Seeder, tmp_path: Path) -> None:
    old, current = push_old_and_current(seeder, "team/app", acr.created)
    planned, env = plan(
        tmp_path,
        f"registries:\n  - name: acr\n    url: {acr.url}\n    kind: azure\n"
        "    username_env: ACR_USER\n    password_env: ACR_PASSWORD\n",
        {"ACR_USER": acr.username, "ACR_PASSWORD": acr.password},
    )
    assert [(i["digest"], sorted(i["tags"])) for i in planned["items"]] == [(old, ["old", "old-alias"])]

    apply(planned["plan_id"], tmp_path, env, secret=acr.password)
    tag_deletes = [a.status for a in acr.answers if a.operation == "ContainerRegistry_DeleteTag"]
    assert tag_deletes == [202, 202]
    assert acr.front.count("DELETE", f"/v2/team/app/manifests/{old}") >= 1
    assert acr.view.resolve("team/app", old) is None and acr.view.resolve("team/app", "current") == current

    sent = acr.front.count("DELETE")
    assert "already executed" in apply_again(planned["plan_id"], tmp_path, env)
    assert acr.front.count("DELETE") == sent
