"""Typed views of Portainer, Docker Engine and Kubernetes JSON, parsed at the client.

Every model ignores unknown fields, so secrets that Portainer returns (a registry's `Password`,
`ManagementConfiguration`, ECR `AccessToken`, the server's `Build.Env`) are dropped while parsing and can
never be reached from a parsed object. The one exception is `StoredRegistryKeys`, read only by
`PortainerClient.stored_credentials`/`ecr_credentials` for a registry adapter's login and never part of
the inventory.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, SecretStr, TypeAdapter, ValidationError, field_validator

from tools.docker.models import ApiModel, none_to_empty
from tools.errors import BadResponse

T = TypeVar("T")
Edition = Literal["CE", "BE"]
# What `status()` can say: "unknown" when the server does not tell (before 2.17, or /system/version fails).
EditionSeen = Literal["CE", "BE", "unknown"]

# Portainer's registry types (api/portainer.go) as Regent's kinds; the one copy of this map (the
# registry adapters' `kind_for` takes a record's `kind` as its hint). Portainer has no GAR or Harbor type.
REGISTRY_KINDS = {
    1: "quay",
    2: "azure",
    3: "custom",
    4: "gitlab",
    5: "proget",
    6: "dockerhub",
    7: "ecr",
    8: "github",
}


class PortainerStatus(ApiModel):
    """Version and edition of the server."""

    version: str
    edition: EditionSeen
    instance_id: str = ""
    edition_source: str = ""  # where the edition came from, or why it is unknown (for regent doctor)


class SystemStatus(ApiModel):
    """`GET /api/system/status` (public)."""

    version: str = Field(alias="Version")
    instance_id: str = Field("", alias="InstanceID")


class SystemVersion(ApiModel):
    """`GET /api/system/version`; only the two fields Regent needs (never `Build.Env`)."""

    server_version: str = Field("", alias="ServerVersion")
    server_edition: str = Field("", alias="ServerEdition")


class User(ApiModel):
    """`GET /api/users/me`."""

    id: int = Field(alias="Id")
    username: str = Field(alias="Username")
    role: int = Field(alias="Role")

    @property
    def is_admin(self) -> bool:
        """Role 1 is administrator."""
        return self.role == 1


class APIKey(ApiModel):
    """`GET /api/users/{id}/tokens` item (`portainer.APIKey`); the key's `digest` is left out."""

    id: int = Field(alias="id")
    user_id: int = Field(0, alias="userId")
    description: str = Field("", alias="description")
    prefix: str = Field("", alias="prefix")
    date_created: int = Field(0, alias="dateCreated")
    last_used: int = Field(0, alias="lastUsed")


class TeamMembership(ApiModel):
    """A `portainer.TeamMembership` (role 1 team leader, 2 member)."""

    id: int = Field(alias="Id")
    user_id: int = Field(alias="UserID")
    team_id: int = Field(alias="TeamID")
    role: int = Field(2, alias="Role")


class Team(ApiModel):
    """A `portainer.Team` (id and name only)."""

    id: int = Field(alias="Id")
    name: str = Field("", alias="Name")


class EcrSettings(ApiModel):
    """A registry's `Ecr` object: the AWS region (not a secret)."""

    region: str = Field("", alias="Region")


class GitlabSettings(ApiModel):
    """A registry's `Gitlab` object (portainer.GitlabRegistryData): where the GitLab API is, which project."""

    instance_url: str = Field("", alias="InstanceURL")
    project_id: int = Field(0, alias="ProjectId")
    project_path: str = Field("", alias="ProjectPath")


class GithubSettings(ApiModel):
    """A registry's `Github` object (portainer.GithubRegistryData): packages of an organisation or a user."""

    use_organisation: bool = Field(False, alias="UseOrganisation")
    organisation_name: str = Field("", alias="OrganisationName")


class QuaySettings(ApiModel):
    """A registry's `Quay` object (portainer.QuayRegistryData): the organisation to read."""

    use_organisation: bool = Field(False, alias="UseOrganisation")
    organisation_name: str = Field("", alias="OrganisationName")


class Registry(ApiModel):
    """A registry record with every credential field left out (see module docstring)."""

    id: int = Field(alias="Id")
    name: str = Field(alias="Name")
    type: int = Field(alias="Type")
    url: str = Field("", alias="URL")
    base_url: str = Field("", alias="BaseURL")
    authentication: bool = Field(False, alias="Authentication")
    ecr: EcrSettings = Field(EcrSettings.model_validate({}), alias="Ecr")  # a Go struct: never null
    gitlab: GitlabSettings = Field(GitlabSettings.model_validate({}), alias="Gitlab")
    github: GithubSettings = Field(GithubSettings.model_validate({}), alias="Github")
    quay: QuaySettings = Field(QuaySettings.model_validate({}), alias="Quay")

    @property
    def kind(self) -> str:
        """Portainer's registry type as a name (custom, dockerhub, ecr, ...)."""
        return REGISTRY_KINDS.get(self.type, "custom")

    @property
    def ecr_region(self) -> str:
        """The AWS region of an ECR registry (`Ecr.Region`); empty for other kinds."""
        return self.ecr.region if self.kind == "ecr" else ""

    @property
    def native_extra(self) -> dict[str, str]:
        """What a kind's native API needs from the record besides URL and login (GitLab, GitHub, Quay)."""
        if self.kind == "gitlab":
            found = {
                "instance_url": self.gitlab.instance_url,
                "project_id": str(self.gitlab.project_id) if self.gitlab.project_id else "",
                "project_path": self.gitlab.project_path,
            }
        elif self.kind == "github" and self.github.use_organisation:
            found = {"organisation": self.github.organisation_name}
        elif self.kind == "quay" and self.quay.use_organisation:
            found = {"organisation": self.quay.organisation_name}
        else:
            found = {}
        return {key: value for key, value in found.items() if value}


class StoredRegistryKeys(ApiModel):
    """A record as CE's `/api/registries` stores it: the login (an ECR access key id) and its password."""

    id: int = Field(alias="Id")
    type: int = Field(alias="Type")
    username: str = Field("", alias="Username")
    password: SecretStr = Field(SecretStr(""), alias="Password")
    ecr: EcrSettings = Field(EcrSettings.model_validate({}), alias="Ecr")  # a Go struct: never null


class Endpoint(ApiModel):
    """An environment as `GET /api/endpoints` lists it (snapshots excluded)."""

    id: int = Field(alias="Id")
    name: str = Field(alias="Name")
    type: int = Field(alias="Type")
    url: str = Field("", alias="URL")
    status: int = Field(0, alias="Status")
    container_engine: str = Field("", alias="ContainerEngine")


class SwarmInfo(ApiModel):
    """The `Swarm` part of Docker's `GET /info`."""

    local_node_state: str = Field("", alias="LocalNodeState")
    control_available: bool = Field(False, alias="ControlAvailable")


class DockerInfo(ApiModel):
    """Docker's `GET /info`, reduced to what tells a Swarm manager apart."""

    swarm: SwarmInfo = Field(SwarmInfo.model_validate({}), alias="Swarm")


class ContainerSpec(ApiModel):
    """`Spec.TaskTemplate.ContainerSpec` of a service."""

    image: str = Field("", alias="Image")


class TaskTemplate(ApiModel):
    """`Spec.TaskTemplate` of a service."""

    container_spec: ContainerSpec = Field(ContainerSpec.model_validate({}), alias="ContainerSpec")


class ServiceSpec(ApiModel):
    """`Spec` of a service."""

    name: str = Field("", alias="Name")
    task_template: TaskTemplate = Field(TaskTemplate.model_validate({}), alias="TaskTemplate")


class Service(ApiModel):
    """A Swarm service (`GET services`)."""

    id: str = Field(alias="ID")
    spec: ServiceSpec = Field(alias="Spec")

    @property
    def image(self) -> str:
        """The image as the service pins it, usually `repo:tag@sha256:...`."""
        return self.spec.task_template.container_spec.image


class PodContainer(ApiModel):
    """A container (or init container) in a pod spec."""

    name: str
    image: str = ""


class PodContainerStatus(ApiModel):
    """A container status; `imageID` names the digest that actually runs."""

    name: str
    image: str = ""
    image_id: str = Field("", alias="imageID")


class PodMetadata(ApiModel):
    """Pod metadata."""

    name: str
    namespace: str = "default"


class PodSpec(ApiModel):
    """Pod spec, reduced to its containers."""

    containers: list[PodContainer] = Field(default_factory=list)
    init_containers: list[PodContainer] = Field(default_factory=list, alias="initContainers")

    _nulls = field_validator("containers", "init_containers", mode="before")(none_to_empty)


class PodStatus(ApiModel):
    """Pod status: phase and container statuses."""

    phase: str = ""
    container_statuses: list[PodContainerStatus] = Field(default_factory=list, alias="containerStatuses")
    init_container_statuses: list[PodContainerStatus] = Field(
        default_factory=list, alias="initContainerStatuses"
    )

    _nulls = field_validator("container_statuses", "init_container_statuses", mode="before")(none_to_empty)


class Pod(ApiModel):
    """A Kubernetes pod (`/api/v1/pods` items)."""

    metadata: PodMetadata
    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus = Field(default_factory=PodStatus)


class PodList(ApiModel):
    """A Kubernetes PodList."""

    items: list[Pod] = Field(default_factory=list)

    _nulls = field_validator("items", mode="before")(none_to_empty)


class StackEnv(ApiModel):
    """One stack environment variable."""

    name: str
    value: str = ""


class Stack(ApiModel):
    """A Portainer stack (type 1 swarm, 2 compose, 3 kubernetes; status 1 active, 2 inactive)."""

    id: int = Field(alias="Id")
    name: str = Field(alias="Name")
    type: int = Field(alias="Type")
    endpoint_id: int = Field(0, alias="EndpointId")
    swarm_id: str = Field("", alias="SwarmId")
    status: int = Field(0, alias="Status")
    env: list[StackEnv] = Field(default_factory=list, alias="Env")

    _nulls = field_validator("env", mode="before")(none_to_empty)


class StackFile(ApiModel):
    """`GET /api/stacks/{id}/file`."""

    content: str = Field(alias="StackFileContent")


class AuthLog(ApiModel):
    """One BE auth activity entry (`/api/useractivity/authlogs`): type 1 success, 2 failure, 3 logout."""

    id: int
    timestamp: int = Field(description="unix seconds")
    username: str = ""
    origin: str = Field("", description="client IP address")
    context: int = Field(0, description="1 internal, 2 LDAP, 3 OAuth")
    type: int = 0


class AuthLogPage(ApiModel):
    """BE-old's `{logs, totalCount}` answer (the 2.44 spec documents a bare array instead)."""

    logs: list[AuthLog] = Field(default_factory=list)
    total_count: int = Field(0, alias="totalCount")

    _nulls = field_validator("logs", mode="before")(none_to_empty)


def parse_as(shape: type[T], data: Any, what: str) -> T:
    """Validate `data` as `shape`; BadResponse names the field, never its value (values may be secrets)."""
    try:
        if isinstance(shape, type) and issubclass(shape, BaseModel):
            return shape.model_validate(data)
        return TypeAdapter(shape).validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadResponse(f"unexpected answer from Portainer for {what}: {where}: {first['msg']}") from None
