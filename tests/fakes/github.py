"""A fake GHCR + GitHub packages API in front of a real docker-registry (tests/fakes/registry_front.py).

Vendor behaviour and where it is written down:
- v2 has no catalog: `/v2/_catalog` answers 404 (registries.md H1: oras-project/oras-go#621,
  microsoft/vscode-docker#1525) and a v2 manifest DELETE answers 405 UNSUPPORTED (H2: containers/skopeo#1880).
- REST (docs.github.com/rest/packages; schemas in tests/fakes/specs/github-rest-packages.trimmed.json):
  `GET /orgs/{org}/packages?package_type=container` (or `/users/{username}/…`) lists packages;
  `…/packages/container/{name}/versions` lists versions, whose `name` is the manifest digest, `created_at`
  the push time and `metadata.container.tags` the tags on it; `DELETE …/versions/{id}` answers 204, and 404
  for a version that does not exist. Lists page by `per_page` (at most 100) and `page`, with a `Link`
  header holding rel="next" and rel="last". No token gets 401 "Requires authentication", a wrong one 401
  "Bad credentials".
- Deleting a package's only version answers 400 (LAST_VERSION below).
- Deleting a version removes the manifest from the registry: here the fake sends the v2 DELETE by digest to
  the real registry behind it, so every tag on that digest goes as it does on GHCR.

Tags are read from the real registry at answer time, so they follow what the test pushed or retagged.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from tests.fakes.portainer_http import Request, Response, json_response
from tests.fakes.registry_front import RegistryFront
from tests.fakes.spec_exchanges import Exchange
from tools.registry.media_types import ACCEPT_MANIFESTS as ACCEPT

# GitHub refuses to delete a package's only version (not in its spec; users quote the message, e.g.
# actions/delete-package-versions#231, SmartsquareGmbH/delete-old-packages#33).
LAST_VERSION = "You cannot delete the last version of a package. You must delete the package instead."
_LIST = re.compile(r"^/(orgs|users)/([^/]+)/packages$")
_VERSIONS = re.compile(r"^/(orgs|users)/([^/]+)/packages/container/([^/]+)/versions(?:/(\d+))?$")


@dataclass
class Version:
    """One package version: an id GitHub assigns, the digest and when it was pushed."""

    id: int
    digest: str
    created: dt.datetime


@dataclass
class GithubState:
    """The owner and its packages; tests add versions for what they pushed."""

    owner: str
    organisation: bool
    token: str
    packages: dict[str, dict[int, Version]] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    next_id: int = 1000


class FakeGithub(RegistryFront):
    """GHCR's v2 behaviour and GitHub's packages REST routes on one loopback port."""

    def __init__(
        self, upstream: str, *, owner: str, organisation: bool = True, token: str = "ghp_test"
    ) -> None:
        self.state = GithubState(owner=owner, organisation=organisation, token=token)
        self.page_cap = 100  # GitHub's maximum per_page; tests lower it to see paging
        self.queued: list[Response] = []  # canned answers (a 429, a bad body) sent before the real ones
        super().__init__(upstream, self._answer)

    def add_version(self, package: str, digest: str, created: dt.datetime) -> int:
        """Record a pushed manifest as a version of `package` (repository `<owner>/<package>`)."""
        self.state.next_id += 1
        versions = self.state.packages.setdefault(package, {})
        versions[self.state.next_id] = Version(self.state.next_id, digest, created)
        return self.state.next_id

    def _answer(self, request: Request) -> Response | None:
        if request.path.startswith("/v2/"):
            return _v2(request)
        if self.queued:  # deliberately off-spec (throttling, garbage): not recorded for validation
            return self.queued.pop(0)
        response = self._rest(request)
        if response.status == 400:  # GitHub's answers outside its published spec (see LAST_VERSION)
            return response
        self.state.exchanges.append(Exchange.of(request, response))
        return response

    def _rest(self, request: Request) -> Response:
        authorization = request.headers.get("authorization")
        if authorization is None:
            return _error(401, "Requires authentication")
        if authorization != f"Bearer {self.state.token}":
            return _error(401, "Bad credentials")
        listing, versions = _LIST.match(request.path), _VERSIONS.match(request.path)
        match = listing or versions
        if match is None or unquote(match.group(2)) != self.state.owner:
            return _error(404, "Not Found")
        if (match.group(1) == "orgs") != self.state.organisation:
            return _error(404, "Not Found")
        if listing is not None and request.method == "GET":
            if request.arg("package_type") != "container":
                return _error(400, "package_type is required")  # the fake serves containers only
            return self._page(request, [self._package(name) for name in sorted(self.state.packages)])
        if versions is None:
            return _error(404, "Not Found")
        package = unquote(versions.group(3))
        if package not in self.state.packages:
            return _error(404, "Package not found.")
        if versions.group(4) is None and request.method == "GET":
            found = sorted(self.state.packages[package].values(), key=lambda v: v.created, reverse=True)
            return self._page(request, [self._version(package, v) for v in found])
        if versions.group(4) is not None and request.method == "DELETE":
            return self._delete(package, int(versions.group(4)))
        return _error(404, "Not Found")

    def _delete(self, package: str, version_id: int) -> Response:
        versions = self.state.packages[package]
        if version_id in versions and len(versions) == 1:
            return _error(400, LAST_VERSION)
        version = versions.pop(version_id, None)
        if version is None:
            return _error(404, "Not Found")
        target = f"/v2/{self.state.owner.lower()}/{package}/manifests/{version.digest}"
        answer = self.forward(Request("DELETE", target, "", {"accept": ACCEPT}, b""))
        if answer.status not in (202, 404):
            return _error(500, f"registry answered {answer.status}")
        return Response(204)

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        per_page = min(int(request.arg("per_page") or 30), self.page_cap)
        page = max(int(request.arg("page") or 1), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        base = f"{self.url}{request.path}?per_page={per_page}"
        if request.arg("package_type"):
            base += f"&package_type={request.arg('package_type')}"
        if page < last:
            links.append(f'<{base}&page={page + 1}>; rel="next"')
            links.append(f'<{base}&page={last}>; rel="last"')
        return json_response(200, chunk, {"Link": ", ".join(links)} if links else {})

    def _package(self, name: str) -> dict[str, Any]:
        versions = self.state.packages[name].values()
        created = min((v.created for v in versions), default=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        kind = "orgs" if self.state.organisation else "users"
        return {
            "id": 500 + sorted(self.state.packages).index(name),
            "name": name,
            "package_type": "container",
            "url": f"{self.url}/{kind}/{self.state.owner}/packages/container/{quote(name, safe='')}",
            "html_url": f"https://github.com/{kind}/{self.state.owner}/packages/container/package/{name}",
            "version_count": len(self.state.packages[name]),
            "visibility": "private",
            "created_at": _iso(created),
            "updated_at": _iso(max((v.created for v in versions), default=created)),
        }

    def _version(self, package: str, version: Version) -> dict[str, Any]:
        owner = self.state.owner
        kind = "orgs" if self.state.organisation else "users"
        return {
            "id": version.id,
            "name": version.digest,
            "url": f"{self.url}/{kind}/{owner}/packages/container/{quote(package, safe='')}/versions/"
            f"{version.id}",
            "package_html_url": f"https://github.com/{kind}/{owner}/packages/container/package/{package}",
            "html_url": f"https://github.com/{kind}/{owner}/packages/container/{package}/{version.id}",
            "created_at": _iso(version.created),
            "updated_at": _iso(version.created),
            "metadata": {
                "package_type": "container",
                "container": {"tags": self._tags_of(f"{owner.lower()}/{package}", version.digest)},
            },
        }

    def _tags_of(self, repository: str, digest: str) -> list[str]:
        listing = self.forward(Request("GET", f"/v2/{repository}/tags/list", "", {}, b""))
        tags = (json.loads(listing.body).get("tags") or []) if listing.status == 200 else []
        found = []
        for tag in tags:
            head = self.forward(
                Request("HEAD", f"/v2/{repository}/manifests/{tag}", "", {"accept": ACCEPT}, b"")
            )
            if head.headers.get("Docker-Content-Digest") == digest:
                found.append(tag)
        return sorted(found)


def _v2(request: Request) -> Response | None:
    if request.path == "/v2/_catalog":
        return json_response(404, {"errors": [{"code": "NOT_FOUND", "message": "404 page not found"}]})
    if request.method == "DELETE" and "/manifests/" in request.path:
        return json_response(
            405, {"errors": [{"code": "UNSUPPORTED", "message": "The operation is unsupported."}]}
        )
    return None


def _error(status: int, message: str) -> Response:
    return json_response(status, {"message": message, "documentation_url": "https://docs.github.com/rest"})


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
