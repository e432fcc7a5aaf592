"""Base-image recommendations against a real registry: for every catalog language the approved base is
chosen by open vulnerabilities, freshness, adoption and size, and the Dockerfile snippet parses and is
pinned by digest to an image that exists in the registry."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from dockerfile_parse import DockerfileParser

from bot.app import App, build_app
from bot.config import Secrets, Settings
from bot.demo.images import BaseImage, ImageSpec
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import Seeder
from bot.slack.reports import ToolboxCommands
from tests.vulns.scanner import Vuln, read_image, trivy_report
from tools.bases.catalog import LANGUAGES

pytestmark = pytest.mark.real
NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
ACCEPT = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}


def base_of(language: str, version: str) -> BaseImage:
    return BaseImage(
        f"base/{language}:{version}", (f"{language}-{version}-root", f"{language}-{version}-rt"), 4096
    )


def seed(seeder: Seeder) -> None:
    """Per language an old and a new approved tag; python also an unapproved repository and two teams."""
    for language in LANGUAGES:
        for version, age in (("old", 400), ("new", 10)):
            seeder.push_image(
                ImageSpec(
                    repository=f"base/{language}",
                    tag=f"1-{version}",
                    created=NOW - dt.timedelta(days=age),
                    base=base_of(language, version),
                    own_layers=0,
                )
            )
    seeder.push_image(
        ImageSpec(repository="other/python", tag="1-new", created=NOW, base=base_of("python", "x"))
    )
    for team in ("shop", "pay"):
        seeder.push_image(
            ImageSpec(
                repository=f"{team}/api", tag="1", created=NOW, base=base_of("python", "old"), own_layers=2
            )
        )


def catalog() -> dict[str, Any]:
    entries: dict[str, Any] = {
        lang: {"repositories": [f"base/{lang}"], "tags": ["1-*"]} for lang in LANGUAGES
    }
    entries["python"]["frameworks"] = ["fastapi", "django"]
    entries["go"]["build_repositories"] = ["base/go"]
    return entries


@pytest.fixture
def app(registry: RegistryServer, seeder: Seeder, tmp_path: Path) -> App:
    seed(seeder)
    settings = Settings.model_validate(
        {"registries": [{"name": "local", "url": registry.url}], "bases": catalog()}
    )
    built = build_app(settings=settings, secrets=Secrets(), state_dir=tmp_path / "state", clock=lambda: NOW)
    built.refresh_snapshot()
    return built


def ask(app: App, **arguments: Any) -> dict[str, Any]:
    outcome = app.toolbox.call("recommend_base_image", json.dumps(arguments), user="U1", conversation="c")
    assert outcome.ok, outcome.content
    return dict(json.loads(outcome.content))


def pinned_froms(dockerfile: str) -> list[str]:
    with tempfile.TemporaryDirectory() as scratch:
        # DockerfileParser writes its content to a file: never let it be ./Dockerfile of the checkout.
        parser = DockerfileParser(path=str(Path(scratch) / "Dockerfile"))
        parser.content = dockerfile
        structure = parser.structure
    return _check_structure(dockerfile, structure)


def _check_structure(dockerfile: str, structure: list[dict[str, Any]]) -> list[str]:
    parser_structure = structure
    froms = [i["value"].split()[0] for i in parser_structure if i["instruction"] == "FROM"]
    users = [i["value"] for i in parser_structure if i["instruction"] == "USER"]
    assert len(froms) == 2, dockerfile  # multi-stage
    assert users and users[-1].split(":")[0] not in {"0", "root"}, dockerfile  # non-root at run time
    return froms


def test_every_language_gets_a_pinned_multistage_nonroot_snippet(
    app: App, registry: RegistryServer, seeder: Seeder
) -> None:
    for language in LANGUAGES:
        found = ask(app, language=language)
        host = registry.url.split("://")[1]
        assert found["recommended"] == f"{host}/base/{language}:1-new"  # unscanned: the newest wins
        digest = seeder.tagged()[(f"base/{language}", "1-new")]
        assert found["pinned"] == f"{host}/base/{language}@{digest}"
        for reference in pinned_froms(found["dockerfile"]):
            name, _, pinned = reference.partition("@")
            assert pinned.startswith("sha256:") and name.startswith(host), reference
            repository = name.removeprefix(host + "/")
            exists = httpx.head(f"{registry.url}/v2/{repository}/manifests/{pinned}", headers=ACCEPT)
            assert exists.status_code == 200, reference
        assert "not used by any team" in found["reason"] or "team" in found["reason"]


def test_vulnerabilities_outrank_freshness_and_teams_are_counted(
    app: App, registry: RegistryServer, tmp_path: Path
) -> None:
    host = registry.url.split("://")[1]
    with httpx.Client() as client:
        for tag, vulns in (
            ("1-new", [Vuln("CVE-2026-0001", "openssl", "3.0.1", layer=0, severity="CRITICAL")]),
            ("1-old", []),
        ):
            image = read_image(client, registry.url, host, f"{host}/base/python:{tag}")
            path = tmp_path / f"python-{tag}.json"
            path.write_text(json.dumps(trivy_report(image, vulns)))
            store_report(app, path)
    found = ask(app, language="python", framework="fastapi")
    assert found["recommended"] == f"{host}/base/python:1-old"
    assert "0 critical and 0 high" in found["reason"] and "2 team(s): pay, shop" in found["reason"]
    assert "uvicorn" in found["dockerfile"]
    assert found["alternatives"][0]["critical"] == 1


def store_report(app: App, path: Path) -> None:
    from tools.vulns.images import build_index
    from tools.vulns.ingest import ingest_paths
    from tools.vulns.store import VulnStore

    store = VulnStore(app.db_path)
    try:
        snapshot = app.latest_snapshot()
        assert snapshot is not None
        (result,) = ingest_paths(store, [str(path)], index=build_index(snapshot), now=NOW, max_bytes=1 << 20)
        assert result.status != "error", result.error
    finally:
        store.close()


def test_unknown_language_and_missing_catalog_are_clear(app: App, tmp_path: Path) -> None:
    bad = app.toolbox.call("recommend_base_image", '{"language": "cobol"}', user="U1", conversation="c")
    assert not bad.ok and "language" in bad.content
    empty = build_app(settings=Settings(), secrets=Secrets(), state_dir=app.state_dir)
    none = empty.toolbox.call("recommend_base_image", '{"language": "go"}', user="U1", conversation="c")
    assert not none.ok and "bases:" in json.loads(none.content)["hint"]
    empty.close()


def test_slash_base_renders_the_snippet_as_code(app: App) -> None:
    report = ToolboxCommands(app.toolbox.context).run_command(
        name="base", argument="python django", user="U1", conversation="c"
    )
    assert not report.error and report.code.startswith("# syntax=docker/dockerfile:1")
    assert "gunicorn" in report.code and report.title.startswith("Base for python / django")
    usage = ToolboxCommands(app.toolbox.context).run_command(
        name="base", argument="", user="U1", conversation="c"
    )
    assert usage.error and "Usage" in usage.lines[0]
