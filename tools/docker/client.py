"""Docker Engine API client for hosts that Portainer does not manage (`--docker-host unix://…|tcp://…`)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import TypeAdapter, ValidationError

from tools.docker.models import Container, Image
from tools.errors import AuthError, BadResponse, NotFound, Unreachable, UpstreamError

T = TypeVar("T")
API_VERSION = "v1.41"  # old enough for Debian's dockerd 20.10 and podman's service


def engine_http(host: str, *, timeout: float = 15.0) -> tuple[httpx.Client, str]:
    """An httpx client and base URL for `unix:///path/docker.sock` or `tcp://host:port`."""
    parts = urlsplit(host)
    if parts.scheme == "unix":
        transport = httpx.HTTPTransport(uds=parts.path)
        return httpx.Client(transport=transport, timeout=timeout), f"http://docker/{API_VERSION}"
    if parts.scheme in {"tcp", "http", "https"} and parts.netloc:
        scheme = "https" if parts.scheme == "https" else "http"
        return httpx.Client(timeout=timeout), f"{scheme}://{parts.netloc}/{API_VERSION}"
    raise ValueError(f"unsupported Docker host {host!r}: use unix:///path/to/docker.sock or tcp://host:port")


class DockerClient:
    """Read-only access to one Docker Engine: containers and images."""

    def __init__(self, host: str, *, http: httpx.Client | None = None, base_url: str | None = None) -> None:
        if http is None or base_url is None:
            http, base_url = engine_http(host)
        self.host = host
        self._http = http
        self._base = base_url
        self.requests: Counter[str] = Counter()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._http.close()

    def containers(self) -> list[Container]:
        """Every container, running or not (`containers/json?all=1`)."""
        return _parse(list[Container], self._get_list("/containers/json", {"all": "1"}), self.host)

    def images(self) -> list[Image]:
        """Top-level images with `RepoTags` and `RepoDigests`."""
        return _parse(list[Image], self._get_list("/images/json", None), self.host)

    def _get_list(self, path: str, params: dict[str, str] | None) -> list[dict[str, Any]]:
        self.requests["GET"] += 1
        try:
            response = self._http.get(self._base + path, params=params)
        except httpx.TransportError as exc:
            raise Unreachable(f"Docker host {self.host} unreachable ({type(exc).__name__})") from None
        if response.status_code in {401, 403}:
            raise AuthError(f"Docker host {self.host} refused access", status=response.status_code)
        if response.status_code == 404:
            raise NotFound(f"Docker host {self.host}: {path} not found", status=404)
        if response.status_code >= 300:
            raise UpstreamError(
                f"Docker host {self.host} answered {response.status_code} to {path}",
                status=response.status_code,
            )
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands of levels deep
            raise BadResponse(f"Docker host {self.host}: {path} is not JSON") from None
        if not isinstance(body, list):
            raise BadResponse(f"Docker host {self.host}: {path} is not a list")
        return [item for item in body if isinstance(item, dict)]


def _parse(shape: type[T], data: object, host: str) -> T:
    try:
        return TypeAdapter(shape).validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadResponse(f"Docker host {host}: unexpected data at {where}: {first['msg']}") from None
