"""A fake Quay: its `/api/v1` routes in front of a real docker-registry (tests/fakes/registry_front.py).

Vendor behaviour and where it comes from (quay/quay at ffba0c70; every answer is checked by
tests/fakes/quay_spec.py against Quay's description and the body schema written from this code):
- `/api/v1` takes `Authorization: Bearer <OAuth token>`; 401 with an ApiError body otherwise
  (endpoints/api/__init__.py, endpoints/exception.py).
- `GET /api/v1/repository` needs `namespace`, `starred` or `public` (400 otherwise) and pages with an opaque
  `next_page` token (RepositoryList.get, page_support). `page_cap` makes pages short to exercise paging.
- `GET /api/v1/repository/{ns}/{name}/tag/`: `{"tags", "page", "has_additional"}`, `limit` at most 100,
  `onlyActiveTags` and `specificTag` filters; a tag has `start_ts`, `last_modified` (RFC 2822), `end_ts`
  once ended, `manifest_digest`, `is_manifest_list`, `size` = the manifest's layer bytes
  (endpoints/api/tag.py ListRepositoryTags, _tag_dict).
- `DELETE …/tag/{tag}` ends the tag (204): it leaves v2 at once but stays in the tag history, restorable
  until the namespace's time-machine expiry (data/model/oci/tag.py). Here the real registry cannot drop a
  tag alone, so the fake hides ended tags from v2 (`tags/list`, manifests by tag).
- v2 DELETE by digest ends every tag on the manifest (202) and answers 404 MANIFEST_UNKNOWN when no tag
  is left to end (endpoints/v2/manifest.py delete_manifest_by_digest); the manifest itself stays until
  Quay's garbage collection, so here it stays in the real registry, reachable by digest.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.fakes.portainer_http import Request, Response
from tests.fakes.quay_spec import QuayCheck
from tests.fakes.vendor_upstream import UpstreamView

API = "/api/v1"


def _api_error(status: int, title: str, detail: str) -> dict[str, Any]:
    return {
        "status": status,
        "title": title,
        "type": f"https://quay.io/api/v1/error/{title}",
        "error_type": title,
        "detail": detail,
        "error_message": detail,
    }


class FakeQuay:
    """State of one fake Quay; `route` is the RegistryFront route."""

    def __init__(self, upstream: str, *, token: str = "quay-oauth-token", page_cap: int = 100) -> None:
        self.upstream = UpstreamView(upstream)
        self.token = token
        self.page_cap = page_cap
        self.start: dict[tuple[str, str], int] = {}  # (repository, tag) -> start_ts (default: first seen)
        self.ended: dict[tuple[str, str], tuple[str, int, int]] = {}  # (repo, tag) -> (digest, start, end)
        self.check = QuayCheck()
        self.fail_next: list[tuple[int, dict[str, str]]] = []
        self._lock = threading.Lock()

    # ----- the route ------------------------------------------------------------------------

    def route(self, request: Request) -> Response | None:
        """Answer Quay's own routes and hide ended tags from v2; None passes to the real registry."""
        if request.path.startswith("/v2/"):
            return self._v2(request)
        if not request.path.startswith(API + "/") and request.path != API:
            return None
        if self.fail_next:
            status, headers = self.fail_next.pop(0)
            return Response(status, b"", headers)
        status, answer = self._api(request)
        self.check.check(request.method, request.path, request.raw_query, status, answer)
        payload = b"" if answer is None else json.dumps(answer).encode()
        return Response(status, payload, {"Content-Type": "application/json"} if answer is not None else {})

    def _api(self, request: Request) -> tuple[int, Any]:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, _api_error(401, "unauthorized", "Requires authentication")
        query = {k: v[0] for k, v in parse_qs(request.raw_query).items()}
        path = request.path[len(API) :]
        if path == "/repository" and request.method == "GET":
            return self._repositories(query)
        head, _, tail = path.removeprefix("/repository/").partition("/tag/")
        repository = unquote(head)
        if not path.startswith("/repository/") or repository.count("/") != 1:
            return 404, _api_error(404, "not_found", "Not Found")
        if repository not in self.upstream.repositories():
            return 404, _api_error(404, "not_found", "Not Found")
        if tail == "" and request.method == "GET":
            return self._tags(repository, query)
        if tail and request.method == "DELETE":
            return self._delete_tag(repository, unquote(tail))
        return 405, _api_error(405, "method_not_allowed", "Method Not Allowed")

    def _repositories(self, query: dict[str, str]) -> tuple[int, Any]:
        namespace = query.get("namespace", "")
        if not namespace:
            return 400, _api_error(
                400, "invalid_request", "namespace, starred or public are required for this API call"
            )
        names = sorted(r for r in self.upstream.repositories() if r.partition("/")[0] == namespace)
        offset = int(base64.b64decode(query["next_page"]).decode()) if "next_page" in query else 0
        chunk = names[offset : offset + self.page_cap]
        body: dict[str, Any] = {
            "repositories": [
                {
                    "namespace": namespace,
                    "name": name.partition("/")[2],
                    "description": None,
                    "is_public": False,
                    "kind": "image",
                    "state": "NORMAL",
                }
                for name in chunk
            ]
        }
        if offset + self.page_cap < len(names):
            body["next_page"] = base64.b64encode(str(offset + self.page_cap).encode()).decode()
        return 200, body

    # ----- tags -----------------------------------------------------------------------------

    def active(self, repository: str) -> dict[str, str]:
        """tag -> digest of the tags alive now (the real registry's, less the ended ones)."""
        with self._lock:
            ended = {tag for (repo, tag), (digest, _, _) in self.ended.items() if repo == repository}
            tags = self.upstream.tags(repository)
            return {
                tag: digest
                for tag, digest in tags.items()
                if tag not in ended or self._moved(repository, tag, digest)
            }

    def _moved(self, repository: str, tag: str, digest: str) -> bool:
        return self.ended[(repository, tag)][0] != digest

    def _start(self, repository: str, tag: str) -> int:
        with self._lock:
            return self.start.setdefault((repository, tag), int(dt.datetime.now(dt.UTC).timestamp()))

    def _tag(self, repository: str, tag: str, digest: str, end: int | None = None) -> dict[str, Any]:
        stored = self.upstream.manifest(repository, digest)
        start = self.start.get((repository, tag)) if end is not None else self._start(repository, tag)
        listed = stored is not None and stored.is_index
        item: dict[str, Any] = {
            "name": tag,
            "reversion": False,
            "manifest_digest": digest,
            "is_manifest_list": listed,
            "size": None if listed or stored is None else sum(stored.layer_sizes),
        }
        if start:
            item["start_ts"] = start
            item["last_modified"] = formatdate(start)
        if end is not None:
            item["end_ts"] = end
            item["expiration"] = formatdate(end)
        if listed and stored is not None:
            item |= {
                "is_sparse": False,
                "child_manifest_count": len(stored.children),
                "present_child_count": len(stored.children),
                "child_manifests_presence": {child: True for child, _, _ in stored.children},
            }
        return item

    def _tags(self, repository: str, query: dict[str, str]) -> tuple[int, Any]:
        page = max(int(query.get("page", "1")), 1)
        limit = min(max(int(query.get("limit", "50")), 1), 100, self.page_cap)
        only_active = query.get("onlyActiveTags", "false").lower() == "true"
        specific = query.get("specificTag") or None
        items = [
            self._tag(repository, tag, digest) for tag, digest in sorted(self.active(repository).items())
        ]
        if not only_active:
            with self._lock:
                dead = [(tag, entry) for (repo, tag), entry in self.ended.items() if repo == repository]
            items += [self._tag(repository, tag, digest, end) for tag, (digest, _, end) in dead]
        if specific is not None:
            items = [item for item in items if item["name"] == specific]
        chunk = items[(page - 1) * limit : page * limit]
        return 200, {"tags": chunk, "page": page, "has_additional": page * limit < len(items)}

    def _delete_tag(self, repository: str, tag: str) -> tuple[int, Any]:
        digest = self.active(repository).get(tag)
        if digest is None:
            return 404, _api_error(404, "not_found", "Not Found")
        start = self._start(repository, tag)
        with self._lock:
            self.ended[(repository, tag)] = (digest, start, int(dt.datetime.now(dt.UTC).timestamp()))
        return 204, None

    # ----- v2 -------------------------------------------------------------------------------

    def _v2(self, request: Request) -> Response | None:
        repository, _, rest = request.path[len("/v2/") :].rpartition("/manifests/")
        if rest.startswith("sha256:") and request.method == "DELETE":
            return self._v2_delete(repository, rest)
        by_tag = rest and not rest.startswith("sha256:") and request.method in ("GET", "HEAD")
        if by_tag and (repository, rest) in self.ended and rest not in self.active(repository):
            unknown = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
            return Response(404, json.dumps(unknown).encode(), {"Content-Type": "application/json"})
        if request.path.endswith("/tags/list") and request.method == "GET":
            name = request.path[len("/v2/") : -len("/tags/list")]
            if name not in self.upstream.repositories():
                return None
            listing = {"name": name, "tags": sorted(self.active(name))}
            return Response(200, json.dumps(listing).encode(), {"Content-Type": "application/json"})
        return None

    def _v2_delete(self, repository: str, digest: str) -> Response:
        tags = [tag for tag, found in self.active(repository).items() if found == digest]
        if not tags:
            unknown = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
            return Response(404, json.dumps(unknown).encode(), {"Content-Type": "application/json"})
        for tag in tags:
            self._delete_tag(repository, tag)
        return Response(202, b"")
