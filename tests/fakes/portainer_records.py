"""Records a fake Portainer serves, and their JSON in the shapes of the real API (EE 2.44 spec, CE 2.23 code).

Field names and nesting follow `shared/reference/portainer-swagger.yaml`; the schema test
(tests/integration/test_fake_portainer_schema.py) checks that they still do. What each handler strips or
keeps follows shared/reference/portainer-real.md (paths under `api/` of portainer/portainer, CE 2.23).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Json = dict[str, Any]

ADMIN, STANDARD_USER = 1, 2  # portainer.UserRole
TEAM_LEADER, TEAM_MEMBER = 1, 2  # portainer.MembershipRole
DOCKER, AGENT_DOCKER, EDGE_DOCKER, KUBERNETES_LOCAL, AGENT_KUBERNETES = 1, 2, 4, 5, 6  # EndpointType
KUBERNETES_TYPES = frozenset({5, 6, 7})
EDGE_TYPES = frozenset({4, 7})
DOCKER_TYPES = frozenset({1, 2, 4})


def new_api_key() -> str:
    """A raw API key in Portainer's format."""
    return "ptr_" + secrets.token_urlsafe(32)


@dataclass
class FakeUser:
    """A Portainer user with its password and raw API keys."""

    id: int
    username: str
    password: str = "correct horse battery staple"
    role: int = ADMIN
    api_keys: tuple[str, ...] = field(default_factory=lambda: (new_api_key(),))
    # JWTs issued before this unix time are refused; a role or password change sets it
    # (http/handler/users/user_update.go:143-146), so a demotion ends the user's open sessions.
    token_issue_at: int = 0
    sessions_after: float = 0.0  # the same instant, unrounded: the fake compares JWTs against this

    @property
    def is_admin(self) -> bool:
        """True for role 1 (administrator)."""
        return self.role == ADMIN

    def expire_sessions(self) -> None:
        """Refuse every JWT issued so far to this user (what setting `TokenIssueAt` does)."""
        self.sessions_after = time.time()
        self.token_issue_at = int(self.sessions_after)


@dataclass
class FakeTeam:
    """A team."""

    id: int
    name: str


@dataclass
class FakeMembership:
    """A user's membership of a team (role 1 leader, 2 member)."""

    id: int
    user_id: int
    team_id: int
    role: int = TEAM_MEMBER


@dataclass(frozen=True)
class FakeRegistryAccess:
    """`RegistryAccesses[env]`: who may use a registry on one environment (and, on Kubernetes, where)."""

    user_ids: frozenset[int] = frozenset()
    team_ids: frozenset[int] = frozenset()
    namespaces: tuple[str, ...] = ()


@dataclass
class FakeRegistry:
    """A registry record; `url` is how the fake's BE proxy reaches it (scheme optional, default http).

    For ECR (type 7) Portainer keeps the access key id in `username`, the secret in `password` and the
    region in `Ecr.Region` (`ecr_region`); `access_token` is its cached token, which inspect keeps.
    """

    id: int
    name: str
    url: str
    type: int = 3  # custom
    username: str = ""
    password: str = ""
    access_token: str = ""  # ECR's cached token; CE inspect does not strip it
    ecr_region: str = ""
    accesses: dict[int, FakeRegistryAccess] = field(default_factory=dict)  # env id -> access
    extra: Json = field(default_factory=dict)  # e.g. {"Gitlab": {...}} merged into the record

    @property
    def host(self) -> str:
        """The record's URL as Portainer stores it: host[:port][/path], no scheme."""
        if "://" in self.url:
            parts = urlsplit(self.url)
            return parts.netloc + parts.path.rstrip("/")
        return self.url.rstrip("/")

    @property
    def upstream(self) -> str:
        """Base URL (with scheme) that the BE proxy forwards /v2/... to."""
        return self.url.rstrip("/") if "://" in self.url else f"http://{self.host}"


@dataclass
class FakeEnvironment:
    """An environment: Docker ones proxy to a real dockerd socket, Kubernetes ones serve canned pods."""

    id: int
    name: str
    type: int = DOCKER
    docker_socket: str | None = None
    services: list[Json] | None = None  # not None: a Swarm manager answering GET services with these
    pods: list[Json] = field(default_factory=list)
    status: int = 1  # 1 up, 2 down
    container_engine: str = "docker"
    user_ids: frozenset[int] = frozenset()  # non-admin users given access
    team_ids: frozenset[int] = frozenset()
    group_id: int = 1
    namespace_users: dict[str, frozenset[int]] = field(default_factory=dict)  # Kubernetes namespace access
    edge_tunnel: bool = False  # Edge environments (types 4, 7) proxy only through an open tunnel

    @classmethod
    def docker(cls, id: int, name: str, *, socket: str | None, **options: Any) -> FakeEnvironment:
        """A Docker environment (type 1) proxied to the dockerd at `socket`."""
        return cls(id=id, name=name, type=DOCKER, docker_socket=socket, **options)

    @classmethod
    def swarm(
        cls, id: int, name: str, *, services: list[Json], socket: str | None = None, **options: Any
    ) -> FakeEnvironment:
        """A Swarm-flavoured agent environment: canned services; other Docker calls go to `socket`."""
        return cls(id=id, name=name, type=AGENT_DOCKER, docker_socket=socket, services=services, **options)

    @classmethod
    def kubernetes(cls, id: int, name: str, *, pods: list[Json], **options: Any) -> FakeEnvironment:
        """A Kubernetes environment (type 5 unless given) answering pod lists from `pods`."""
        options.setdefault("type", KUBERNETES_LOCAL)
        return cls(id=id, name=name, pods=pods, container_engine="", **options)

    @property
    def is_kubernetes(self) -> bool:
        """True for Kubernetes environment types (5, 6, 7)."""
        return self.type in KUBERNETES_TYPES

    @property
    def url(self) -> str:
        """The environment URL as Portainer shows it."""
        if self.is_kubernetes:
            return "https://kubernetes.default.svc"
        return f"unix://{self.docker_socket}" if self.type == DOCKER else "tcp://10.0.0.5:9001"


@dataclass
class FakeStack:
    """A Portainer stack with its file (compose YAML, or Kubernetes manifests for type 3)."""

    id: int
    name: str
    endpoint_id: int
    content: str
    type: int = 2  # 1 swarm, 2 compose, 3 kubernetes
    status: int = 1  # 1 active, 2 inactive
    env: dict[str, str] = field(default_factory=dict)
    swarm_id: str = "swarm-1"  # only Swarm stacks (type 1) carry one


def make_pod(
    name: str,
    *,
    containers: Sequence[tuple[str, str, str]],
    init_containers: Sequence[tuple[str, str, str]] = (),
    namespace: str = "default",
    phase: str = "Running",
) -> Json:
    """A v1 Pod; each container is (name, image as written, status imageID such as docker-pullable://r@sha256:..)."""

    def spec(items: Sequence[tuple[str, str, str]]) -> list[Json]:
        return [{"name": n, "image": image} for n, image, _ in items]

    def statuses(items: Sequence[tuple[str, str, str]]) -> list[Json]:
        return [
            {"name": n, "image": image, "imageID": image_id, "ready": True} for n, image, image_id in items
        ]

    return {
        "metadata": {"name": name, "namespace": namespace, "uid": secrets.token_hex(8)},
        "spec": {"containers": spec(containers), "initContainers": spec(init_containers)},
        "status": {
            "phase": phase,
            "containerStatuses": statuses(containers),
            "initContainerStatuses": statuses(init_containers),
        },
    }


def make_service(name: str, image: str, *, replicas: int = 1) -> Json:
    """A Docker Swarm service as `GET /services` returns it."""
    return {
        "ID": secrets.token_hex(12),
        "Version": {"Index": 11},
        "CreatedAt": "2026-11-01T10:00:00Z",
        "Spec": {
            "Name": name,
            "Labels": {},
            "TaskTemplate": {"ContainerSpec": {"Image": image}},
            "Mode": {"Replicated": {"Replicas": replicas}},
        },
    }


def user_json(user: FakeUser, *, business: bool) -> Json:
    """`GET /api/users/me`."""
    body: Json = {
        "Id": user.id,
        "Username": user.username,
        "Role": user.role,
        "TokenIssueAt": user.token_issue_at,
        "ThemeSettings": {"color": ""},
        "UseCache": True,
        "forceChangePassword": False,
    }
    if business:
        body |= {"PortainerAuthorizations": {"PortainerUserList": True}, "PortainerAccessDenied": False}
    return body


def membership_json(membership: FakeMembership) -> Json:
    """A `portainer.TeamMembership`."""
    return {
        "Id": membership.id,
        "UserID": membership.user_id,
        "TeamID": membership.team_id,
        "Role": membership.role,
    }


def _accesses_json(registry: FakeRegistry) -> Json:
    return {
        str(env_id): {
            "UserAccessPolicies": {str(u): {"RoleId": 0} for u in access.user_ids},
            "TeamAccessPolicies": {str(t): {"RoleId": 0} for t in access.team_ids},
            "Namespaces": list(access.namespaces),
        }
        for env_id, access in registry.accesses.items()
    }


def registry_json(registry: FakeRegistry, *, view: str, admin: bool = True) -> Json:
    """A registry record.

    view "raw": the stored record, Password and ManagementConfiguration included (CE list,
    registry_list.go:30-39); "admin": BE list (EE 2.44 spec), passwords gone; "inspect": Password and
    ManagementConfiguration stripped, AccessToken kept (registry_inspect.go:41-49,
    endpoint_registries_list.go hideRegistryFields), RegistryAccesses nulled for non-admins; "scrubbed":
    BE list for non-admins (EE 2.44 spec), identity only.
    """
    if view == "scrubbed":
        return {"Id": registry.id, "Name": registry.name, "Type": registry.type}
    authenticated = bool(registry.username)
    management: Json | None = {
        "Type": registry.type,
        "Authentication": authenticated,
        "Username": registry.username,
        "Password": registry.password,
        "TLSConfig": {"TLS": registry.upstream.startswith("https"), "TLSSkipVerify": False},
        "Ecr": {"Region": registry.ecr_region},
        "AccessToken": "",
        "AccessTokenExpiry": 0,
    }
    body: Json = {
        "Id": registry.id,
        "Name": registry.name,
        "Type": registry.type,
        "URL": registry.host,
        "BaseURL": "",
        "Authentication": authenticated,
        "Username": registry.username,
        "Gitlab": {"ProjectId": 0, "InstanceURL": "", "ProjectPath": ""},
        "Quay": {"UseOrganisation": False, "OrganisationName": ""},
        "Github": {"UseOrganisation": False, "OrganisationName": ""},
        "Ecr": {"Region": registry.ecr_region},
        "RegistryAccesses": _accesses_json(registry) if admin else None,
        "AccessToken": registry.access_token,
        "AccessTokenExpiry": 0,
        "UserAccessPolicies": {},
        "TeamAccessPolicies": {},
        "AuthorizedUsers": [],
        "AuthorizedTeams": [],
        "ManagementConfiguration": management,
    }
    if view == "raw" and registry.password:  # Go omitempty: an empty password is left out
        body["Password"] = registry.password
    if view == "admin" and management is not None:
        management["Password"] = ""
    if view == "inspect":
        body["ManagementConfiguration"] = None
    return body | registry.extra


def stack_json(stack: FakeStack) -> Json:
    """A `portaineree.Stack`."""
    return {
        "Id": stack.id,
        "Name": stack.name,
        "Type": stack.type,
        "EndpointId": stack.endpoint_id,
        "SwarmId": stack.swarm_id if stack.type == 1 else "",
        "EntryPoint": "docker-compose.yml",
        "AdditionalFiles": [],
        "Env": [{"name": k, "value": v} for k, v in stack.env.items()],
        "Status": stack.status,
        "CreationDate": 1_780_000_000,
        "CreatedBy": "admin",
        "UpdateDate": 0,
        "UpdatedBy": "",
        "ProjectPath": f"/data/compose/{stack.id}",
        "FromAppTemplate": False,
        "Namespace": "default" if stack.type == 3 else "",
        "Option": {"Prune": False},
        "AutoUpdate": None,
        "GitConfig": None,
        "ResourceControl": {
            "Id": stack.id,
            "ResourceId": f"{stack.endpoint_id}_{stack.name}",
            "Type": 6,
            "AdministratorsOnly": True,
            "Public": False,
        },
    }
