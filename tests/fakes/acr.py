"""A fake Azure Container Registry: token auth, `/acr/v1` manifests and tag deletes, over a real registry.

Vendor behaviour, and where it comes from:
- Auth: every route answers 401 `Bearer realm="<host>/oauth2/token",service="<host>",scope="…"` without
  a token for the scope; `GET /oauth2/token?service=&scope=` with basic credentials returns
  `{"access_token": …}` (data-plane spec 2021-07-01, `Authentication_GetAcrAccessTokenFromLogin`; A2).
  Scopes: `repository:<name>:pull|push|delete|metadata_read`, `registry:catalog:*` (A2).
- `GET /acr/v1/{name}/_manifests?n=&last=` → `AcrManifests`, ordered by digest, paged with a `Link`
  header (spec: `ContainerRegistry_GetManifests`, x-ms-pageable, QueryLast "values lexically after
  last"); each item a `ManifestAttributesBase` with `createdTime`, `lastUpdateTime`, `imageSize`, tags.
  `GET /acr/v1/{name}/_manifests/{digest}` → `ManifestAttributes` (A1: GetManifestAttributes example).
- `DELETE /acr/v1/{name}/_tags/{reference}` → 202, 404 when the tag is unknown (`ContainerRegistry_
  DeleteTag`); v2 `DELETE /v2/<name>/manifests/<tag>` → 405 UNSUPPORTED (fluxcd/pkg#328, G5).
- Errors: `AcrErrors` `{"errors": [{"code", "message"}]}`.

Everything else (manifests, blobs, catalog, digest deletes) is the real registry's. Every native answer
is kept in `answers` (operationId, status, body) for the test to check against the spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from tests.fakes.portainer_http import Request, Response, json_response
from tests.fakes.token_vendor import (
    DIGEST,
    V2_PATH,
    TokenVendorFake,
    basic_credentials,
    registry_errors,
    v2_scope,
)

_MANIFESTS = re.compile(r"^/acr/v1/(?P<name>.+)/_manifests(?:/(?P<digest>sha256:[0-9a-f]{64}))?$")
_TAG = re.compile(r"^/acr/v1/(?P<name>.+)/_tags/(?P<tag>[^/]+)$")


@dataclass
class NativeAnswer:
    """One answer of a native route, for spec validation."""

    operation: str
    status: int
    body: Any


@dataclass
class FakeAcr(TokenVendorFake):
    """State of the fake: credentials, push times by digest, issued tokens, scripted failures."""

    upstream: str
    username: str = "regent-sp"
    password: str = "acr-s3cret"
    default_time: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    page_cap: int = 100  # the most items a page holds here; tests lower it to make paging happen
    created: dict[str, datetime] = field(default_factory=dict)  # digest -> createdTime
    updated: dict[str, datetime] = field(default_factory=dict)  # digest -> lastUpdateTime
    answers: list[NativeAnswer] = field(default_factory=list)
    scripted: list[tuple[str, Response]] = field(default_factory=list)  # (path prefix, answer) once
    tokens: dict[str, set[str]] = field(default_factory=dict)
    challenged: list[str] = field(default_factory=list)  # the scope of every 401 challenge sent

    # ----- routing ----------------------------------------------------------------------------

    def route(self, request: Request) -> Response | None:
        """ACR's answer, or None to pass the request to the real registry."""
        for index, (prefix, answer) in enumerate(list(self.scripted)):
            if request.path.startswith(prefix):
                del self.scripted[index]
                return answer
        if request.path == "/oauth2/token":
            return self._token(request)
        needed = _scope_needed(request)
        if not self.authorized(request, needed):
            return self._challenge(needed)
        if match := _MANIFESTS.match(request.path):
            if request.method != "GET":
                return None
            name, digest = match["name"], match["digest"]
            return self._manifest(name, digest) if digest else self._manifests(name, request)
        if (match := _TAG.match(request.path)) and request.method == "DELETE":
            return self._delete_tag(match["name"], match["tag"])
        if match := V2_PATH.match(request.path):
            return self._v2(request, match["name"], match["what"], match["rest"])
        return None

    def _token(self, request: Request) -> Response:
        if basic_credentials(request) != (self.username, self.password):
            return self._native(
                "Authentication_GetAcrAccessTokenFromLogin", 401, registry_errors("UNAUTHORIZED")
            )
        token = self.issue_token(request)
        return self._native("Authentication_GetAcrAccessTokenFromLogin", 200, {"access_token": token})

    def _challenge(self, needed: str) -> Response:
        with self._lock:
            self.challenged.append(needed)
        scope = f',scope="{needed}"' if needed else ""
        header = f'Bearer realm="{self.url}/oauth2/token",service="{self.host}"{scope}'
        return json_response(401, registry_errors("UNAUTHORIZED"), {"WWW-Authenticate": header})

    # ----- /acr/v1 ----------------------------------------------------------------------------

    def _attributes(self, name: str, digest: str, tags: list[str]) -> dict[str, Any] | None:
        facts = self.view.facts(name, digest)
        if facts is None:
            return None
        created = self.created.get(digest, self.default_time)
        item: dict[str, Any] = {
            "digest": digest,
            "imageSize": facts.image_size,
            "createdTime": _acr_time(created),
            "lastUpdateTime": _acr_time(self.updated.get(digest, created)),
            "mediaType": facts.media_type,
            "tags": tags,
            "changeableAttributes": {
                "deleteEnabled": True,
                "writeEnabled": True,
                "readEnabled": True,
                "listEnabled": True,
            },
        }
        if facts.children:
            item["references"] = [{"digest": child} for child in facts.children]
        else:
            item["configMediaType"] = facts.config_media_type
            item["architecture"] = facts.architecture
            item["os"] = facts.os
        return item

    def _manifests(self, name: str, request: Request) -> Response:
        tags = self.view.tags_of(name)
        digests = self.view.digests(name, set(self.created))
        if not digests:
            return self._native("ContainerRegistry_GetManifests", 404, registry_errors("NAME_UNKNOWN"))
        last = request.arg("last") or ""
        size = min(int(request.arg("n") or self.page_cap), self.page_cap)
        after = [d for d in digests if d > last]
        page = after[:size]
        items = [self._attributes(name, d, tags.get(d, [])) for d in page]
        body = {"registry": self.host, "imageName": name, "manifests": [i for i in items if i]}
        headers: dict[str, str] = {}
        if len(after) > size and page:
            query = f"last={quote(page[-1])}&n={size}&orderby="
            headers["Link"] = f'</acr/v1/{name}/_manifests?{query}>; rel="next"'
        return self._native("ContainerRegistry_GetManifests", 200, body, headers)

    def _manifest(self, name: str, digest: str) -> Response:
        item = self._attributes(name, digest, self.view.tags_of(name).get(digest, []))
        if item is None:
            return self._native(
                "ContainerRegistry_GetManifestProperties", 404, registry_errors("MANIFEST_UNKNOWN")
            )
        body = {"registry": self.host, "imageName": name, "manifest": item}
        return self._native("ContainerRegistry_GetManifestProperties", 200, body)

    def _delete_tag(self, name: str, tag: str) -> Response:
        if not self.view.remove_tag(name, tag):
            return self._native("ContainerRegistry_DeleteTag", 404, registry_errors("TAG_UNKNOWN"))
        return self._native("ContainerRegistry_DeleteTag", 202, None)

    def _native(
        self, operation: str, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> Response:
        with self._lock:
            self.answers.append(NativeAnswer(operation, status, body))
        if body is None:
            return Response(status, b"", headers or {})
        return json_response(status, body, headers)

    # ----- v2, where ACR differs from distribution ---------------------------------------------

    def _v2(self, request: Request, name: str, what: str, rest: str) -> Response | None:
        if what == "manifests" and not DIGEST.match(rest):
            if request.method == "DELETE":  # G5: ACR cannot delete a tag through v2
                return json_response(405, registry_errors("UNSUPPORTED"))
            digest = self.view.resolve(name, rest)
            if digest is not None and self.view.is_removed(name, rest, digest):
                return json_response(404, registry_errors("MANIFEST_UNKNOWN"))
        if what == "tags" and request.method == "GET":
            listed = self.front.forward(request)
            if listed.status != 200:
                return listed
            tags = sorted(self.view.tags(name))
            return json_response(200, {"name": name, "tags": tags})
        return None


def _scope_needed(request: Request) -> str:
    path, method = request.path, request.method
    if match := _MANIFESTS.match(path):
        return f"repository:{match['name']}:metadata_read"
    if match := _TAG.match(path):
        action = "delete" if method == "DELETE" else "metadata_read"
        return f"repository:{match['name']}:{action}"
    return v2_scope(request)


def _acr_time(moment: datetime) -> str:
    """ACR's format: seven fractional digits and `Z` (A1's example: 2018-09-06T06:17:20.9983915Z)."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0Z"
