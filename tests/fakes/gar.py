"""A fake Google Artifact Registry (or gcr.io) host: Google's v2 differences, over a real registry.

Vendor behaviour, and where it comes from:
- Auth: 401 `Bearer realm="<host>/v2/token",service="<host>",scope="…"`; the token endpoint takes basic
  credentials `oauth2accesstoken:<access token>` or `_json_key:<service-account JSON>` and answers
  `{"token": …, "expires_in": …}` (go-containerregistry pkg/v1/google/auth.go; registries.md GAR row, G2).
- `GET /v2/<repo>/tags/list` adds `child` and a `manifest` map, digest -> {`imageSizeBytes`, `layerId`,
  `mediaType`, `tag`, `timeCreatedMs`, `timeUploadedMs`}, numbers as decimal strings, untagged manifests
  included (go-containerregistry pkg/v1/google/list.go `rawManifestInfo`; Harbor's GCR adapter documents a
  live answer of the same shape). Like gcr.io it ignores `n` and `last` (registries.md).
- `DELETE /v2/<repo>/manifests/<tag>` removes the tag; `DELETE …/manifests/<digest>` answers 400
  GOOGLE_MANIFEST_DANGLING_TAG while a tag points at the digest (genuinetools/reg#136, G3).

Everything else is the real registry's. Every `tags/list` answer is kept in `tag_lists` for the test to
check against the discovery document (tests/fakes/gar_spec.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.portainer_http import Request, Response, json_response
from tests.fakes.token_vendor import (
    DIGEST,
    V2_PATH,
    TokenVendorFake,
    basic_credentials,
    registry_errors,
    v2_scope,
)


@dataclass
class FakeGar(TokenVendorFake):
    """State of the fake: the accepted access token, upload times by digest, tokens, scripted answers."""

    upstream: str
    access_token: str = "ya29.fake-access-token"
    service_account: str = "regent@example-project.iam.gserviceaccount.com"
    default_time: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    uploaded: dict[str, datetime] = field(default_factory=dict)  # digest -> timeUploadedMs
    tag_lists: list[dict[str, Any]] = field(default_factory=list)
    scripted: list[tuple[str, str, Response]] = field(default_factory=list)  # (method, prefix, answer)
    tokens: dict[str, set[str]] = field(default_factory=dict)

    def json_key(self) -> str:
        """A service-account key file's JSON, as `_json_key` logins send it (no real key inside)."""
        return json.dumps({"type": "service_account", "client_email": self.service_account})

    def route(self, request: Request) -> Response | None:
        """GAR's answer, or None to pass the request to the real registry."""
        for index, (method, prefix, answer) in enumerate(list(self.scripted)):
            if request.method == method and request.path.startswith(prefix):
                del self.scripted[index]
                return answer
        if request.path == "/v2/token":
            return self._token(request)
        needed = v2_scope(request)
        if not self.authorized(request, needed):
            scope = f',scope="{needed}"' if needed else ""
            header = f'Bearer realm="{self.url}/v2/token",service="{self.host}"{scope}'
            return json_response(401, registry_errors("UNAUTHORIZED"), {"WWW-Authenticate": header})
        match = V2_PATH.match(request.path)
        if match is None:
            return None
        name, what, rest = match["name"], match["what"], match["rest"]
        if what == "tags" and request.method == "GET":
            return self._tag_list(request, name)
        if what != "manifests":
            return None
        if DIGEST.match(rest):
            if request.method == "DELETE":
                return self._delete_digest(name, rest)
            return None
        if request.method == "DELETE":
            if not self.view.remove_tag(name, rest):
                return json_response(404, registry_errors("MANIFEST_UNKNOWN"))
            return Response(202, b"", {})
        digest = self.view.resolve(name, rest)
        if digest is not None and self.view.is_removed(name, rest, digest):
            return json_response(404, registry_errors("MANIFEST_UNKNOWN"))
        return None

    def _token(self, request: Request) -> Response:
        credentials = basic_credentials(request)
        accepted = credentials in {("oauth2accesstoken", self.access_token), ("_json_key", self.json_key())}
        if not accepted:
            return json_response(401, registry_errors("UNAUTHORIZED"))
        return json_response(200, {"token": self.issue_token(request), "expires_in": 3600})

    def _tag_list(self, request: Request, name: str) -> Response:
        listed = self.front.forward(request)  # the real registry's 404 NAME_UNKNOWN stays as it is
        if listed.status != 200:
            return listed
        tags = self.view.tags_of(name)
        manifest: dict[str, Any] = {}
        for digest in self.view.digests(name, set(self.uploaded)):
            facts = self.view.facts(name, digest)
            if facts is None:
                continue
            manifest[digest] = {
                "imageSizeBytes": str(facts.image_size),
                "layerId": "",
                "mediaType": facts.media_type,
                "tag": tags.get(digest, []),
                "timeCreatedMs": str(_millis_of(facts.created)),
                "timeUploadedMs": str(_millis(self.uploaded.get(digest, self.default_time))),
            }
        all_tags = sorted(tag for names in tags.values() for tag in names)
        body = {"child": [], "manifest": manifest, "name": name, "tags": all_tags}
        with self._lock:
            self.tag_lists.append(body)
        return json_response(200, body)

    def _delete_digest(self, name: str, digest: str) -> Response | None:
        remaining = self.view.tags_of(name).get(digest)
        if remaining:
            message = f"Manifest is still referenced by tag: {remaining[0]}"
            return json_response(
                400, {"errors": [{"code": "GOOGLE_MANIFEST_DANGLING_TAG", "message": message}]}
            )
        return None  # the real registry deletes it (or answers 404 when it is gone)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _millis_of(created: str) -> int:
    """GAR's `timeCreatedMs` from the config's `created`; 0 when there is none (as GAR writes it)."""
    try:
        return _millis(datetime.fromisoformat(created))
    except ValueError:
        return 0
