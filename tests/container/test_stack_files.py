"""compose.yaml and the Portainer App Template: valid for their tools, and consistent with each other.

The template is checked against a JSON schema written from Portainer's own API document and template
docs (tests/fakes/specs/portainer-app-templates-v3.schema.json names its sources). compose.yaml is
checked by Debian's docker-compose (`config` validates against Compose's schema and interpolates) in the
container stage, and here for what Regent needs of it: every secret through a `*_FILE` variable, a
read-only root filesystem, the state volume, and every variable described in the template.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.config.secrets import load_secrets
from bot.config.settings import Settings
from tests.conftest import need_binary
from tests.container.images import ROOT

COMPOSE = ROOT / "compose.yaml"
TEMPLATE = ROOT / "docs" / "portainer-template.json"
SCHEMA = ROOT / "tests" / "fakes" / "specs" / "portainer-app-templates-v3.schema.json"
IMAGE = "registry.example.com/platform/regent:1.0"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def _compose_text() -> str:
    """compose.yaml without its comment lines (they mention variables as prose)."""
    return "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))


def _template() -> dict[str, Any]:
    return json.loads(TEMPLATE.read_text())  # type: ignore[no-any-return]


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_template_validates_against_portainers_format() -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _validator().iter_errors(_template())]
    assert not errors, errors


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda t: t["templates"][0]["repository"].pop("stackfile"), "'stackfile' is a required property"),
        (lambda t: t["templates"][0]["repository"].update(stackFile="x"), "Additional properties"),
        (lambda t: t["templates"][0]["env"][0].pop("label"), "'label' is a required property"),
        (lambda t: t["templates"][0].update(type="3"), "is not one of"),
        (lambda t: t.update(version="2"), "'3' was expected"),
    ],
)
def test_template_schema_refuses_what_portainer_would_not_load(change: Any, complaint: str) -> None:
    broken = _template()
    change(broken)
    messages = [e.message for e in _validator().iter_errors(broken)]
    assert any(complaint in message for message in messages), messages


def test_template_deploys_this_compose_file_and_describes_every_variable() -> None:
    (template,) = _template()["templates"]
    assert template["type"] == 3  # a Compose stack, deployed from the repository's compose.yaml
    assert (ROOT / template["repository"]["stackfile"]).resolve() == COMPOSE
    described = {env["name"]: env for env in template["env"]}
    used = set(_VARIABLE.findall(_compose_text()))
    assert set(described) == used
    for env in described.values():
        assert len(env.get("description", "")) >= 40, env  # a real explanation, shown as the tooltip
    defaults = dict(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-([^}]*)\}", _compose_text()))
    assert {name: env.get("default", "") for name, env in described.items()} == defaults


def test_compose_passes_every_secret_as_a_docker_secret_file(tmp_path: Path) -> None:
    compose = _compose()
    service = compose["services"]["regent"]
    environment: dict[str, str] = service["environment"]
    files = {name: path for name, path in environment.items() if name.endswith("_FILE")}
    assert set(service["secrets"]) == set(compose["secrets"])
    assert sorted(files.values()) == sorted(f"/run/secrets/{name}" for name in service["secrets"])
    assert not [name for name in environment if _looks_secret(name) and not name.endswith("_FILE")]
    # The variable names are the ones Regent reads: a value in every file is a value for every secret,
    # and an empty file (how compose.yaml says "not set") is no secret at all.
    mounted = {name: tmp_path / Path(path).name for name, path in files.items()}
    for name, file in mounted.items():
        file.write_text(f"CANARY-{name}\n")
    env = {name: str(file) for name, file in mounted.items()}
    assert load_secrets(Settings(), env).values() == sorted(f"CANARY-{name}" for name in files)
    for file in mounted.values():
        file.write_text("")
    assert load_secrets(Settings(), env).values() == []


def _looks_secret(name: str) -> bool:
    return any(word in name for word in ("TOKEN", "SECRET", "PASSWORD", "API_KEY"))


def test_compose_runs_read_only_non_root_with_state_on_a_volume() -> None:
    compose = _compose()
    service = compose["services"]["regent"]
    assert service["read_only"] is True and service["tmpfs"] == ["/tmp"]
    assert service["user"] == "10001:10001" and service["cap_drop"] == ["ALL"]
    assert "regent-state:/var/lib/regent" in service["volumes"]
    assert "regent-state" in compose["volumes"]
    assert service["ports"] == ["${REGENT_PORT:-8080}:8080"]
    assert service["environment"]["REGENT_CONFIG"] == "/etc/regent/regent.yml"
    dockerfile = (ROOT / "Dockerfile").read_text()
    for needed in ('VOLUME ["/var/lib/regent"]', "USER 10001:10001", "EXPOSE 8080", "HEALTHCHECK"):
        assert needed in dockerfile


@pytest.mark.container
def test_docker_compose_config_accepts_the_stack(tmp_path: Path) -> None:
    binary = need_binary("docker-compose", "docker-compose")
    resolved = _compose_config(binary, COMPOSE, tmp_path)
    assert resolved.returncode == 0, resolved.stderr
    service = yaml.safe_load(resolved.stdout)["services"]["regent"]
    assert service["image"] == IMAGE
    assert service["read_only"] is True
    assert {s["source"] for s in service["secrets"]} == set(_compose()["secrets"])
    broken = tmp_path / "broken.yaml"
    broken.write_text(COMPOSE.read_text().replace("read_only: true", "read_only: maybe"))
    refused = _compose_config(binary, broken, tmp_path)
    assert refused.returncode != 0 and "read_only" in refused.stderr, refused.stderr


def _compose_config(binary: str, file: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REGENT_IMAGE": IMAGE}
    return subprocess.run(
        [binary, "--project-directory", str(tmp_path), "-f", str(file), "config"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
