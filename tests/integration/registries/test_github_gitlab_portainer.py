"""`regent inventory --json` through a fake Portainer CE (#13) for GitLab (type 4) and GitHub (type 8) records
whose URLs are the vendor fakes: exact counts and bytes of the real registry behind them, with the kinds'
push clocks and GitLab's sizes, and every native answer checked against the vendor's spec."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest

from bot.demo.images import ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import PushedImage, Seeder
from tests.cli import run_regent
from tests.fakes.github import FakeGithub
from tests.fakes.gitlab import FakeGitlab
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import FakeRegistry, FakeUser
from tests.fakes.spec_exchanges import validate_exchanges
from tests.integration.registries.clocks_shown import assert_clocks_shown
from tests.integration.registries.test_github import SPEC as GITHUB_SPEC
from tests.integration.registries.test_gitlab import gitlab_spec

API_KEY = "ptr_ghgl-e2e-key-0000001"
GITLAB, GITHUB = 4, 8  # Portainer's registry types (api/portainer.go)
PAT = "ghp_e2e_token_456"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def days_ago(days: int) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def inventory(config: Path, state: Path, env: dict[str, str]) -> dict[str, Any]:
    done = run_regent("inventory", "--json", state=state, env={"REGENT_CONFIG": str(config), **env})
    assert done.returncode == 0, done.stderr
    assert PAT not in done.stdout + done.stderr and API_KEY not in done.stdout + done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def push(seeder: Seeder, repository: str, tag: str, days: int) -> PushedImage:
    spec = ImageSpec(
        repository=repository, tag=tag, created=days_ago(days), extra_layer_seed=repository + tag
    )
    return seeder.push_image(spec)


def test_a_portainer_gitlab_record_is_read_with_its_project_and_clocks(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    """The record's Gitlab.{InstanceURL, ProjectId} alone find the project (public: no token needed)."""
    with FakeGitlab(registry.url, project_id=42, project_path="grp/shop") as front:
        front.public = True
        front.add_repository("grp/shop")
        front.add_repository("grp/shop/api")
        old_image, new_image = push(seeder, "grp/shop", "1.0", 200), push(seeder, "grp/shop/api", "2.0", 3)
        old, new = old_image.digest, new_image.digest
        seeder.tag("grp/shop", old, "stable")
        front.state.pushed[old] = days_ago(90)  # GitLab's record of the push, later than the build
        gitlab = {"Gitlab": {"InstanceURL": front.url, "ProjectId": 42, "ProjectPath": "grp/shop"}}
        record = FakeRegistry(5, "gitlab", front.url, type=GITLAB, extra=gitlab)
        users = [FakeUser(1, "admin", api_keys=(API_KEY,))]
        config = tmp_path / "regent.yml"
        with FakePortainer(edition="CE", users=users, registries=[record]) as portainer:
            config.write_text(f"portainer:\n  url: {portainer.url}\n  registry_scheme: http\n")
            out = inventory(config, tmp_path, {"PORTAINER_API_KEY": API_KEY})
        validate_exchanges(gitlab_spec(), "https://gitlab.com", front.state.exchanges)
        assert front.count("GET", "/v2/_catalog") == 0

    (found,) = out["registries"]
    expected = seeder.expected()
    assert found["kind"] == "gitlab" and not found["errors"] and not found["partial"]
    assert (found["repositories"], found["tags"], found["manifests"]) == (2, 3, 2)
    assert found["stored_bytes"] == expected.stored_bytes
    assert (found["push_clock"], found["pull_clock"]) == ("GitLab tag created_at", None)
    native = found["native"]
    assert dt.datetime.fromisoformat(native[old]["pushed"]) == days_ago(90)
    assert dt.datetime.fromisoformat(native[new]["pushed"]) == days_ago(3), "the config's created"
    assert native[old]["last_pulled"] is None
    assert {d: native[d]["size"] for d in (old, new)} == {
        image.digest: sum(layer.size for layer in image.layers) for image in (old_image, new_image)
    }, "GitLab's total_size: the layers"
    assert_clocks_shown(
        tmp_path,
        digest=old,
        repository="grp/shop",
        tag="1.0",
        pushed=days_ago(90),
        push_origin="GitLab tag created_at",
        pull_origin=None,
    )


def test_a_portainer_github_record_with_regents_token_lists_packages_and_clocks(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    """CE gives no token to use: Regent's entry for the record's name holds it and names the owner."""
    with FakeGithub(registry.url, owner="acme", token=PAT) as front:
        api, web = push(seeder, "acme/api", "1.0", 100).digest, push(seeder, "acme/web", "7", 2).digest
        seeder.tag("acme/api", api, "latest")
        front.add_version("api", api, days_ago(60))
        front.add_version("web", web, days_ago(1))
        github = {"Github": {"UseOrganisation": True, "OrganisationName": "acme"}}
        record = FakeRegistry(9, "ghcr", front.url, type=GITHUB, username="acme-bot", extra=github)
        users = [FakeUser(1, "admin", api_keys=(API_KEY,))]
        config = tmp_path / "regent.yml"
        with FakePortainer(edition="CE", users=users, registries=[record]) as portainer:
            config.write_text(
                f"portainer:\n  url: {portainer.url}\n  registry_scheme: http\n"
                f"registries:\n  - name: ghcr\n    url: {front.url}\n    kind: github\n"
                "    username_env: GH_USER\n    password_env: GH_TOKEN\n    extra: {organisation: acme}\n"
            )
            env = {"PORTAINER_API_KEY": API_KEY, "GH_USER": "acme-bot", "GH_TOKEN": PAT}
            out = inventory(config, tmp_path, env)
        assert validate_exchanges(
            OpenAPI.from_path(GITHUB_SPEC), "https://api.github.com", front.state.exchanges
        )
        assert front.count("GET", "/v2/_catalog") == 0

    (found,) = out["registries"]
    expected = seeder.expected()
    assert found["kind"] == "github" and not found["errors"]
    assert (found["repositories"], found["tags"], found["manifests"]) == (2, 3, 2)
    assert found["stored_bytes"] == expected.stored_bytes
    assert (found["push_clock"], found["pull_clock"]) == ("GHCR version created_at", None)
    assert {d: dt.datetime.fromisoformat(n["pushed"]) for d, n in found["native"].items()} == {
        api: days_ago(60),
        web: days_ago(1),
    }
    assert_clocks_shown(
        tmp_path,
        digest=api,
        repository="acme/api",
        tag="1.0",
        pushed=days_ago(60),
        push_origin="GHCR version created_at",
        pull_origin=None,
    )


def test_regent_plan_exports_the_gitlab_cleanup_policy_for_the_portainer_record(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path
) -> None:
    """`regent plan --export gitlab-cleanup --out DIR`: the project's policy and bulk parameters, written."""
    with FakeGitlab(registry.url, project_id=42, project_path="grp/shop") as front:
        front.public = True
        front.add_repository("grp/shop")
        old = push(seeder, "grp/shop", "1.0", 200).digest
        seeder.tag("grp/shop", old, "stable")
        push(seeder, "grp/shop", "2.0", 3)
        gitlab = {"Gitlab": {"InstanceURL": front.url, "ProjectId": 42, "ProjectPath": "grp/shop"}}
        record = FakeRegistry(5, "gitlab", front.url, type=GITLAB, extra=gitlab)
        users = [FakeUser(1, "admin", api_keys=(API_KEY,))]
        config, policy, out = tmp_path / "regent.yml", tmp_path / "policies.yml", tmp_path / "out"
        policy.write_text(
            "policies:\n  - name: shop\n    repositories: ['grp/**', 'grp/shop']\n"
            "    keep:\n      - most_recent: 1\n    delete:\n      - older_than_days: 30\n"
        )
        with FakePortainer(edition="CE", users=users, registries=[record]) as portainer:
            config.write_text(f"portainer:\n  url: {portainer.url}\n  registry_scheme: http\n")
            done = run_regent(
                "plan",
                "--policy",
                str(policy),
                "--export",
                "gitlab-cleanup",
                "--out",
                str(out),
                "--json",
                state=tmp_path,
                env={"REGENT_CONFIG": str(config), "PORTAINER_API_KEY": API_KEY},
            )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [item["digest"] for item in result["items"]] == [old]
    export = result["export"]
    attributes = export["documents"]["grp/shop"]["container_expiration_policy_attributes"]
    assert {k: attributes[k] for k in ("enabled", "keep_n", "older_than", "name_regex")} == {
        "enabled": True,
        "keep_n": 1,
        "older_than": "30d",
        "name_regex": "[^/]*",
    }
    assert export["documents"]["grp/shop bulk tag delete"] == {
        "name_regex_delete": "[^/]*",
        "keep_n": 1,
        "older_than": "30d",
    }
    assert export["differences"] == [], "GitLab's cleanup deletes both tags of the old image, as Regent does"
    assert sorted(Path(p).name for p in export["written"]) == [
        "grp__shop.json",
        "grp__shop_bulk_tag_delete.json",
    ]
    written = json.loads((out / "grp__shop.json").read_text())
    body = json.dumps(written).encode()
    gitlab_spec().validate_request(MockRequest("https://gitlab.com", "put", "/api/v4/projects/42", data=body))
