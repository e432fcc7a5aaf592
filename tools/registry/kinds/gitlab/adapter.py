"""GitLab's container registry: v2 for manifests and configs, GitLab's REST API for listing, clocks, deletes.

v2 lists repositories only for admins (registries.md L1), so the project's repositories come from
`GET /projects/:id/registry/repositories`. A tag's detail gives its digest, `created_at` and `total_size`.
`created_at` is the manifest's creation time as GitLab's own registry records it (when it was pushed), not
when this tag was set; behind a third-party registry GitLab reads the image config's `created` instead
(lib/container_registry/tag.rb). `total_size` is the layers' sum. There is no pull clock.

Deleting a digest deletes each of its tags through the REST API (GitLab's own tag delete), then the manifest
by digest over v2 if it is still there: GitLab's tag delete leaves the manifest behind untagged.

Portainer's GitLab record (type 4) holds `Gitlab.{InstanceURL, ProjectId, ProjectPath}`; they arrive in
`extra` as `instance_url`, `project_id`, `project_path`. `api_url`, when set, replaces the instance URL. The
registry password is a personal access token (`read_api`; `api` to delete), sent as `PRIVATE-TOKEN`; without
one, only a public project's registry can be read.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import ClassVar
from urllib.parse import urlsplit

from tools.errors import ConfigError, NotFound
from tools.registry.kinds.base import AdapterConfig, Capabilities, NativeRegistry, NativeTimes, add_tag_times
from tools.registry.kinds.gitlab.client import GitlabProject, GitlabRepository, TagDetail
from tools.registry.kinds.rest import RestSession
from tools.registry.wire import digest_only

GITLAB_COM = "https://gitlab.com"


class GitlabRegistry(NativeRegistry):
    """A GitLab project's container registry through v2 plus GitLab's REST API."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        kind="gitlab",
        label="GitLab container registry",
        listing="GitLab REST: GET /projects/:id/registry/repositories",
        push_clock="GitLab tag created_at",
        pull_clock=None,
        size="v2 manifests (layers + config); GitLab's total_size (layers) from the tag detail",
        delete_path="GitLab REST: DELETE …/repositories/:id/tags/:tag for each tag, then v2 DELETE by digest",
        gc_step="GitLab's registry garbage collection (administrators: gitlab-ctl registry-garbage-collect)",
        export="gitlab-cleanup",
    )

    def __init__(self, config: AdapterConfig) -> None:
        super().__init__(config)
        # A missing project is reported when the REST API is needed, as an error of this registry's crawl,
        # so one incomplete record does not stop Regent from reading every other registry. No token is
        # fine: a public project's registry API answers without one.
        self._missing = ""
        try:
            project = _project(config)
        except ConfigError as exc:
            project, self._missing = "0", str(exc)
        instance = config.api_url or config.extra.get("instance_url", "") or _instance_for(config.url)
        headers = {"private-token": config.password} if config.password else {}
        secrets = [config.password] if config.password else []
        api = RestSession(instance, http=config.http, vendor="GitLab", headers=headers, secrets=secrets)
        self._project = GitlabProject(api, project=project)
        self._native_api = self._project.api
        self._ids: dict[str, GitlabRepository] = {}
        self._ids_lock = threading.Lock()  # the crawl asks for several repositories' clocks at once
        self._tag_digests: dict[str, dict[str, str]] = {}  # repository -> tag -> digest, for deletes
        self._tags_lock = threading.Lock()

    @property
    def project(self) -> GitlabProject:
        """The project's registry API; ConfigError when the project is not known."""
        if self._missing:
            raise ConfigError(self._missing)
        return self._project

    def catalog(self) -> list[str]:
        """The full path of every container repository of the project."""
        self._ids = {repository.path: repository for repository in self.project.repositories()}
        return sorted(self._ids)

    def native_times(self, repository: str, digests: Collection[str]) -> dict[str, NativeTimes]:
        """Per digest: the tag detail's `created_at` (earliest over its tags) and `total_size`."""
        wanted = set(digests)
        found: dict[str, NativeTimes] = {}
        for detail in self._details(self._repository(repository)):
            if detail.digest not in wanted:
                continue
            add_tag_times(found, detail.digest, detail.created, detail.total_size)
        return found

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete every tag on `digest` through GitLab, then the manifest by digest; False when gone."""
        digest_only(digest)
        gitlab_repository = self._repository(repository)
        deleted = False
        for tag in self._tags_on(gitlab_repository, digest):
            head = self.head_manifest(repository, tag)
            if head is None or head.digest != digest:
                continue  # moved since the tags were read: it belongs to another image now
            deleted = self.project.delete_tag(gitlab_repository, tag) or deleted
        if self.head_manifest(repository, digest) is None:
            return deleted
        return super().delete_manifest(repository, digest) or deleted

    def _tags_on(self, repository: GitlabRepository, digest: str) -> list[str]:
        """The tags on `digest`, from one read of the repository's tag details per client.

        A plan deletes many digests of a repository in a row; reading every tag's detail for each of them
        would cost tags x items requests. Each tag is checked over v2 right before it is deleted, and a tag
        moved onto the digest since goes with the digest's v2 DELETE, as on any registry.
        """
        with self._tags_lock:
            tags = self._tag_digests.get(repository.path)
            if tags is None:
                tags = {detail.name: detail.digest for detail in self._details(repository)}
                self._tag_digests[repository.path] = tags
        return sorted(tag for tag, tagged in tags.items() if tagged == digest)

    def _details(self, repository: GitlabRepository) -> list[TagDetail]:
        details = (self.project.tag(repository, name) for name in self.project.tag_names(repository))
        return [detail for detail in details if detail is not None]

    def _repository(self, path: str) -> GitlabRepository:
        with self._ids_lock:
            if path not in self._ids:
                self.catalog()
            found = self._ids.get(path)
        if found is None:
            raise NotFound(f"{path} is not a container repository of GitLab project {self._project.project}")
        return found


def _project(config: AdapterConfig) -> str:
    """The project's id (Portainer's ProjectId, when set) or its full path."""
    project_id = config.extra.get("project_id", "").strip()
    if project_id and project_id != "0":
        if not project_id.isdigit():
            raise ConfigError(f"GitLab registry {config.url}: project_id {project_id[:40]!r} is not a number")
        return project_id
    path = config.extra.get("project_path", "").strip().strip("/")
    if not path:
        raise ConfigError(
            f"GitLab registry {config.url}: no project; Portainer's GitLab record (ProjectId or ProjectPath) "
            "or `project_id:` / `project_path:` in Regent's config names it"
        )
    return path


def _instance_for(registry_url: str) -> str:
    """gitlab.com for registry.gitlab.com; any other host is taken to serve the REST API itself."""
    host = (urlsplit(registry_url).hostname or "").lower()
    return GITLAB_COM if host == "registry.gitlab.com" else registry_url
