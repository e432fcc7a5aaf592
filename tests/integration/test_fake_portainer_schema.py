"""The fake Portainer's JSON must match the real API's OpenAPI spec (see tests/fakes/portainer_spec.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from tests.fakes.portainer import (
    FakeEnvironment,
    FakeMembership,
    FakePortainer,
    FakeRegistry,
    FakeRegistryAccess,
    FakeStack,
)
from tests.fakes.portainer_records import (
    STANDARD_USER,
    TEAM_LEADER,
    FakeTeam,
    FakeUser,
    make_pod,
    make_service,
)
from tests.fakes.portainer_spec import FULL_SPEC, SUBSET, extract_subset, load_full_spec, load_spec

DIGEST = "sha256:" + "ab" * 32


def _go_json(node: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema draft 7: honour `nullable`, and let objects and arrays be null.

    Go encodes nil maps, slices and pointers as `null` and the spec never says `nullable`, so real
    Portainer answers carry nulls the spec does not mention (e.g. `ManagementConfiguration: null`).
    Scalars stay strict: a string where the spec says integer still fails.
    """
    if isinstance(node, list):
        return [_go_json(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _go_json(value) for key, value in node.items() if key != "nullable"}
    kind = node.get("type")
    if isinstance(kind, str) and (node.get("nullable") or kind in ("object", "array")):
        out["type"] = [kind, "null"]
    return out


@pytest.fixture(scope="session")
def openapi() -> dict[str, Any]:
    """The spec (1 MB of YAML, so parsed once), converted for a draft-7 validator."""
    spec = load_spec()
    components = _go_json(spec["components"])
    # The inline enum on Registry.Type stops at 7, while portainer.RegistryType (and reference §2.2) has
    # 8 = GitHub; both apply through allOf, so without this a GitHub registry could never validate.
    components["schemas"]["portaineree.Registry"]["properties"]["Type"]["enum"].append(8)
    return {"paths": spec["paths"], "components": components}


def response_validator(openapi: dict[str, Any], path: str, method: str = "get") -> jsonschema.Draft7Validator:
    """A validator for the 200 body of `method path`, with $refs resolved against the whole spec."""
    content = openapi["paths"][path][method]["responses"]["200"]["content"]
    schema = next(iter(content.values()))["schema"]
    return jsonschema.Draft7Validator({**schema, "components": openapi["components"]})


def validate(openapi: dict[str, Any], path: str, body: Any, *, method: str = "get") -> None:
    """Raise jsonschema.ValidationError if `body` does not match the spec."""
    response_validator(openapi, path, method).validate(body)


def test_checked_in_subset_matches_the_full_spec() -> None:
    if not FULL_SPEC.exists():
        pytest.skip(f"{FULL_SPEC} is not on this machine; the checked-in subset stands in for it")
    expected = json.loads(json.dumps(extract_subset(load_full_spec())))
    assert expected == json.loads(SUBSET.read_text()), "run: .venv/bin/python -m tests.fakes.portainer_spec"


@pytest.fixture(scope="module", params=["CE", "BE"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakePortainer]:
    """A fake with one of everything; no dockerd is needed for Portainer's own JSON."""
    users = [FakeUser(1, "admin"), FakeUser(2, "dev", role=STANDARD_USER)]
    pod = make_pod(
        "api-1",
        containers=[("api", "r.example/shop/api:1", f"docker-pullable://r.example/shop/api@{DIGEST}")],
    )
    with FakePortainer(
        edition=request.param,
        users=users,
        teams=[FakeTeam(1, "platform")],
        memberships=[FakeMembership(1, user_id=2, team_id=1, role=TEAM_LEADER)],
        registries=[
            FakeRegistry(
                i,
                f"reg-{i}",
                f"registry-{i}.example.com",
                type=i,
                username="u",
                password="pw",
                ecr_region="eu-west-1" if i == 7 else "",
                accesses={1: FakeRegistryAccess(user_ids=frozenset({2}))},
            )
            for i in range(1, 9)
        ],
        environments=[
            FakeEnvironment.docker(1, "docker-1", socket="/run/none.sock", user_ids=frozenset({2})),
            FakeEnvironment.swarm(2, "swarm-1", services=[make_service("web", f"r.example/web:1@{DIGEST}")]),
            FakeEnvironment.kubernetes(3, "k8s-1", pods=[pod], team_ids=frozenset({1})),
        ],
        stacks=[
            FakeStack(1, "shop", 1, "services:\n  api:\n    image: r.example/shop/api:1\n", env={"TAG": "1"}),
            FakeStack(2, "web", 2, "services:\n  web:\n    image: r.example/web:1\n", type=1),
            FakeStack(3, "kube", 3, "kind: Deployment\n", type=3, status=2),
        ],
    ) as server:
        yield server


def get(fake: FakePortainer, path: str, *, user: int = 0, **params: Any) -> Any:
    """GET /api{path} as users[user] with an API key; return the JSON body."""
    headers = {"X-API-Key": fake.users[user].api_keys[0]}
    response = httpx.get(f"{fake.url}/api{path}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_system_status_and_version_match(openapi: dict[str, Any], fake: FakePortainer) -> None:
    validate(openapi, "/system/status", httpx.get(f"{fake.url}/api/system/status").json())
    validate(openapi, "/system/version", get(fake, "/system/version"))


def test_login_response_matches(openapi: dict[str, Any], fake: FakePortainer) -> None:
    body = {"Username": "admin", "Password": fake.users[0].password}
    response = httpx.post(f"{fake.url}/api/auth", json=body)
    validate(openapi, "/auth", response.json(), method="post")


@pytest.mark.parametrize("user", [0, 1])
def test_users_and_teams_match(openapi: dict[str, Any], fake: FakePortainer, user: int) -> None:
    validate(openapi, "/users/me", get(fake, "/users/me", user=user))
    validate(openapi, "/teams", get(fake, "/teams", user=user))
    validate(openapi, "/team_memberships", get(fake, "/team_memberships", user=user))
    # The spec declares one TeamMembership here; the real handler (and the UI) use an array of them.
    memberships = get(fake, f"/users/{user + 1}/memberships", user=user)
    assert isinstance(memberships, list)
    for item in memberships:
        validate(openapi, "/users/{id}/memberships", item)


@pytest.mark.parametrize("user", [0, 1])
def test_user_admin_routes_match(openapi: dict[str, Any], fake: FakePortainer, user: int) -> None:
    validate(openapi, "/users", get(fake, "/users", user=user))
    validate(openapi, "/users/{id}", get(fake, f"/users/{user + 1}", user=user))
    tokens = get(fake, f"/users/{user + 1}/tokens", user=user)
    assert tokens and {t["prefix"] for t in tokens} == {k[:7] for k in fake.users[user].api_keys}
    validate(openapi, "/users/{id}/tokens", tokens)


def test_user_update_payload_the_client_sends_matches_the_spec(openapi: dict[str, Any]) -> None:
    """`PUT /users/{id}` with `{"Role": 2}`: every field sent is a spec field of the right type.

    The spec lists all five fields as required, but the handler applies only those present (an admin
    changing a role sends just the role, as Portainer's UI does), so only the fields sent are checked.
    """
    payload = openapi["components"]["schemas"]["users.userUpdatePayload"]
    schema = {**payload, "required": [], "additionalProperties": False, "components": openapi["components"]}
    jsonschema.Draft7Validator(schema).validate({"Role": 2})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate({"Role": 4})


def test_registries_match(openapi: dict[str, Any], fake: FakePortainer) -> None:
    registries = get(fake, "/registries")
    assert {r["Type"] for r in registries} == set(range(1, 9))
    validate(openapi, "/registries", registries)
    validate(openapi, "/registries/{id}", get(fake, "/registries/3"))
    validate(openapi, "/registries/{id}", get(fake, "/registries/3", user=1, endpointId=1))
    if fake.edition == "BE":
        validate(openapi, "/registries", get(fake, "/registries", user=1))
    for user in (0, 1):
        usable = get(fake, "/endpoints/1/registries", user=user)
        assert len(usable) == 8
        validate(openapi, "/endpoints/{id}/registries", usable)


@pytest.mark.parametrize("exclude", ["true", "false"])
def test_endpoints_match(openapi: dict[str, Any], fake: FakePortainer, exclude: str) -> None:
    for user in (0, 1):
        endpoints = get(fake, "/endpoints", user=user, excludeSnapshots=exclude)
        assert endpoints
        validate(openapi, "/endpoints", endpoints)
    for env_id in (1, 2, 3):
        validate(openapi, "/endpoints/{id}", get(fake, f"/endpoints/{env_id}", excludeSnapshot=exclude))


def test_stacks_and_stack_file_match(openapi: dict[str, Any], fake: FakePortainer) -> None:
    stacks = get(fake, "/stacks")
    assert len(stacks) == 3
    validate(openapi, "/stacks", stacks)
    validate(openapi, "/stacks", get(fake, "/stacks", filters='{"EndpointID":1}'))
    validate(openapi, "/stacks/{id}/file", get(fake, "/stacks/1/file"))


def _set(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    broken = copy.deepcopy(body)
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return broken


@pytest.mark.parametrize(
    ("api_path", "fake_path", "field", "value"),
    [
        ("/system/status", "/system/status", ("Version",), 2),
        ("/users/me", "/users/me", ("Role",), "admin"),
        ("/teams", "/teams", (0, "Id"), "1"),
        ("/registries", "/registries", (0, "Id"), "1"),
        ("/registries", "/registries", (0, "Type"), 9),
        ("/registries", "/registries", (0, "Authentication"), "yes"),
        ("/endpoints", "/endpoints", (0, "Type"), "docker"),
        ("/endpoints", "/endpoints", (0, "Status"), 9),
        ("/endpoints", "/endpoints", (0, "Name"), None),
        ("/stacks", "/stacks", (0, "EndpointId"), "1"),
        ("/stacks/{id}/file", "/stacks/1/file", ("StackFileContent",), ["services"]),
    ],
)
def test_validation_catches_wrong_types(
    openapi: dict[str, Any],
    fake: FakePortainer,
    api_path: str,
    fake_path: str,
    field: tuple[Any, ...],
    value: Any,
) -> None:
    body = get(fake, fake_path)
    validate(openapi, api_path, body)
    with pytest.raises(jsonschema.ValidationError):
        validate(openapi, api_path, _set(body, field, value))


def test_validation_catches_missing_required_field(openapi: dict[str, Any], fake: FakePortainer) -> None:
    endpoints = get(fake, "/endpoints")
    del endpoints[0]["Kubernetes"]
    with pytest.raises(jsonschema.ValidationError, match="Kubernetes"):
        validate(openapi, "/endpoints", endpoints)
