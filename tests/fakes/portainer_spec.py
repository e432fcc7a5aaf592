"""The parts of Portainer's OpenAPI spec that the fake's schema test validates against.

The full spec (reference/portainer-swagger.yaml, EE 2.44, 1 MB) lives outside the repository, so a
subset (the response schemas of the routes below and everything they reference) is kept next to this
file; the schema test checks it still equals a fresh extraction whenever the full spec is present.
Regenerate with `.venv/bin/python -m tests.fakes.portainer_spec`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

FULL_SPEC = Path("/work/shared/reference/portainer-swagger.yaml")
SUBSET = Path(__file__).with_name("portainer-openapi-subset.json")
ROUTES = {
    "/auth": "post",
    "/system/status": "get",
    "/system/version": "get",
    "/users/me": "get",
    "/users/{id}/memberships": "get",
    "/users": "get",
    "/users/{id}": "get",
    "/users/{id}/tokens": "get",
    "/teams": "get",
    "/team_memberships": "get",
    "/registries": "get",
    "/registries/{id}": "get",
    "/endpoints": "get",
    "/endpoints/{id}": "get",
    "/endpoints/{id}/registries": "get",
    "/stacks": "get",
    "/stacks/{id}/file": "get",
    "/useractivity/authlogs": "get",
}
REQUEST_BODIES = {"/users/{id}": "put"}  # requests Regent sends with a body (suspension's demotion)
_SCHEMA_REF = "#/components/schemas/"


def load_full_spec(path: Path = FULL_SPEC) -> dict[str, Any]:
    """Parse the full spec; the C loader makes the 1 MB of YAML take ~0.5 s instead of ~10 s."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open() as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=loader)
    return spec


def extract_subset(spec: dict[str, Any]) -> dict[str, Any]:
    """The 200 responses of ROUTES, the request bodies of REQUEST_BODIES, and every schema they reference."""
    schemas = spec["components"]["schemas"]
    needed: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith(_SCHEMA_REF) and ref[len(_SCHEMA_REF) :] not in needed:
                needed.add(ref[len(_SCHEMA_REF) :])
                walk(schemas[ref[len(_SCHEMA_REF) :]])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    paths = {}
    for route, method in ROUTES.items():
        response = spec["paths"][route][method]["responses"]["200"]
        walk(response)
        paths[route] = {method: {"responses": {"200": response}}}
    for route, method in REQUEST_BODIES.items():
        body = spec["paths"][route][method]["requestBody"]
        walk(body)
        paths.setdefault(route, {})[method] = {"requestBody": body}
    return {
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "paths": paths,
        "components": {"schemas": {name: schemas[name] for name in sorted(needed)}},
    }


def load_spec() -> dict[str, Any]:
    """The full spec when this machine has it, else the checked-in subset."""
    if FULL_SPEC.exists():
        return load_full_spec()
    loaded: dict[str, Any] = json.loads(SUBSET.read_text())
    return loaded


def write_subset() -> None:
    """Regenerate the checked-in subset from the full spec."""
    subset = extract_subset(load_full_spec())
    SUBSET.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_subset()
