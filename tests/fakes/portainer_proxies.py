"""The fake Portainer's proxies: Docker to a real dockerd, Kubernetes from canned pods, BE registry v2.

Docker and Kubernetes: http/handler/endpointproxy/handler.go:27-36 (unknown environment 404, no access
403). Registry v2: **BE only** (CE removed it in 2.0, commit 82064152e: a plain-text 404 there). The BE
proxy follows BE-old (the public BE 2.4.1 branch; current BE source is not public): it authenticates the
caller, drops `/registries/{id}`, deletes **only** the `Authorization` header, injects the stored
credentials and forwards everything else, an `X-API-Key` header included. Whether current BE forwards
`X-API-Key` is unverified; the fake takes the worst case, so a test can see a key reach the registry.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import TYPE_CHECKING, Any

import httpx

from tests.fakes.portainer_http import Request, Response, error, forwardable, json_response
from tests.fakes.portainer_records import EDGE_TYPES, FakeEnvironment, FakeRegistry

NOT_FOUND_DB = "Object not found inside the database"
# Go's reverse proxy drops hop-by-hop headers and sets Host and the length itself; BE-old adds Authorization.
_NOT_FORWARDED = frozenset(
    {
        "authorization",
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
REGISTRY_NOT_FOUND = "Unable to find a registry with the specified identifier inside the database"


class ProxyRoutes:
    """Mixed into FakePortainer; the lookups it needs are implemented there."""

    _lock: threading.Lock
    _clients: dict[str, httpx.Client]

    if TYPE_CHECKING:  # implemented by the other mixins of FakePortainer

        def _find_env(self, req: Request, env_id: str) -> FakeEnvironment | Response: ...

        def _find_registry(self, registry_id: str) -> FakeRegistry | None: ...

        def _registry_env_denied(self, req: Request, registry: FakeRegistry) -> Response | None: ...

    def _edge_closed(self, env: FakeEnvironment) -> Response | None:
        """Edge environments answer only through an open tunnel; without one the proxy fails with a 500."""
        if env.type in EDGE_TYPES and not env.edge_tunnel:
            return error(500, "Unable to proxy the request via the Edge tunnel", "no active tunnel")
        return None

    def _docker(self, req: Request, env_id: str, rest: str) -> Response:
        env = self._find_env(req, env_id)
        if isinstance(env, Response):
            return env
        if (closed := self._edge_closed(env)) is not None:
            return closed
        if env.is_kubernetes:
            return error(400, "Invalid environment type", "expected a Docker environment")
        unversioned = re.sub(r"^/v\d+(\.\d+)?(?=/)", "", rest)  # Portainer strips /vN.N only to route
        if env.services is not None and req.method == "GET" and unversioned == "/services":
            return json_response(200, env.services)
        if env.docker_socket is None:
            return Response(502, b"")  # Go's reverse proxy answers an unreachable engine with an empty 502
        url = rest + (f"?{req.raw_query}" if req.raw_query else "")
        forward = {k: v for k, v in req.headers.items() if k in ("content-type", "x-registry-auth", "accept")}
        try:
            upstream = self._http_client(env.docker_socket).request(
                req.method, url, content=req.body or None, headers=forward
            )
        except httpx.HTTPError:
            return Response(502, b"")
        body = upstream.content
        if env.services is not None and unversioned == "/info" and upstream.status_code == 200:
            info = json.loads(body)
            info["Swarm"] = info.get("Swarm", {}) | {"LocalNodeState": "active", "ControlAvailable": True}
            body = json.dumps(info).encode()
        return Response(upstream.status_code, body, forwardable(upstream.headers))

    def _http_client(self, socket: str) -> httpx.Client:
        """A pooled client to a dockerd socket, or ("") to TCP upstreams; made lazily (each costs ~0.3 s)."""
        with self._lock:
            if socket not in self._clients:
                if socket:
                    transport = httpx.HTTPTransport(uds=socket)
                    self._clients[socket] = httpx.Client(
                        transport=transport, base_url="http://docker", timeout=60
                    )
                else:
                    self._clients[socket] = httpx.Client(timeout=60)
            return self._clients[socket]

    def _kubernetes(self, req: Request, env_id: str, rest: str) -> Response:
        env = self._find_env(req, env_id)
        if isinstance(env, Response):
            return env
        if (closed := self._edge_closed(env)) is not None:
            return closed
        if not env.is_kubernetes:
            return error(400, "Invalid environment type", "expected a Kubernetes environment")
        pods = re.fullmatch(r"/api/v1(?:/namespaces/([^/]+))?/pods", rest)
        if req.method == "GET" and pods:
            namespace = pods.group(1)
            items = [p for p in env.pods if namespace in (None, p["metadata"]["namespace"])]
            meta = {"resourceVersion": "4242"}
            return json_response(
                200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items}
            )
        status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        status |= {
            "message": "the server could not find the requested resource",
            "reason": "NotFound",
            "code": 404,
        }
        return json_response(404, status)

    def _registry_proxy(self, req: Request, registry_id: str, rest: str | None) -> Response:
        assert req.user is not None
        registry = self._find_registry(registry_id)
        if registry is None:
            return error(404, REGISTRY_NOT_FOUND, NOT_FOUND_DB)
        if not req.user.is_admin and (denied := self._registry_env_denied(req, registry)) is not None:
            return denied
        # BE-old: `r.Header.Del("Authorization")`, then the stored credentials; every other header goes on.
        headers = {k: v for k, v in req.headers.items() if k not in _NOT_FORWARDED}
        if registry.username:
            pair = f"{registry.username}:{registry.password}".encode()
            headers["authorization"] = "Basic " + base64.b64encode(pair).decode()
        url = f"{registry.upstream}/v2{rest or '/'}" + (f"?{req.raw_query}" if req.raw_query else "")
        try:
            upstream = self._http_client("").request(
                req.method, url, content=req.body or None, headers=headers
            )
        except httpx.HTTPError:
            return Response(502, b"")
        out = forwardable(upstream.headers)
        if req.method == "HEAD" and "content-length" in upstream.headers:
            out["Content-Length"] = upstream.headers["content-length"]
        return Response(upstream.status_code, upstream.content, out)
