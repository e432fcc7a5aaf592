"""A fake Amazon ECR: moto's server for the control plane, a real docker-registry behind a v2 front.

One store, as in ECR: images live in moto (`PutImage` with the real manifest and digest); the v2 front answers
tag lists, manifests, deletes and the catalog FROM MOTO, so a `BatchDeleteImage` is seen by the next v2
read, and only blobs go through to the real registry. That registry runs with htpasswd user `AWS` and
moto's registry token as password, so the blobs answer only the credentials GetAuthorizationToken hands
out; the front checks the same pair on the routes it answers itself.

Vendor behaviour and its sources:
- moto 5.2 (`moto/ecr/models.py`): `GetAuthorizationToken` returns base64 `AWS:<account>-auth-token` with
  `expiresAt` in 2015; moto's quirks (imageSizeInBytes = config size, a moved tag deletes the old image,
  no nextToken, no lastRecordedPullTime, no lifecycle preview) are in /work/shared/reference/registries.md.
- v2 on ECR: catalog with `n` <= 1000 (google/go-containerregistry pkg/v1/google/list.go, "ECR returns an
  error if n > 1000"), delete by digest (aws/containers-roadmap#1229), basic auth `AWS:<token>` with a
  `Basic realm=…,service="ecr.amazonaws.com"` challenge (the form `docker login` and ECR's credential helper
  answer; awslabs/amazon-ecr-credential-helper).
- Manifests: `Docker-Content-Digest` on HEAD but not on GET (aws/containers-roadmap#1931, open;
  ChangemakerStudios/Docker.Registry.DotNet#34, checked with curl in 2025), so clients hash GET bodies.
- Throttling: the AWS JSON protocol's error body `{"__type": "ThrottlingException", "message": …}` with
  status 400 (botocore's ECR model names the protocol `json`; botocore/retries/standard.py retries it).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote

import boto3
from moto.server import ThreadedMotoServer

from bot.demo.images import BuiltImage
from tests.fakes.portainer_http import Request, Response, json_response
from tests.fakes.registry_front import RegistryFront

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ACCESS_KEY = "AKIAREGENTTEST0000001"
SECRET_KEY = "regent-test-secret-key"  # moto accepts any pair unless IAM auth is switched on
REGISTRY_USER = "AWS"
REGISTRY_PASSWORD = f"{ACCOUNT}-auth-token"  # what moto's GetAuthorizationToken encodes
CATALOG_MAX = 1000


class MotoEcr:
    """moto's server on a free loopback port (ThreadedMotoServer), stopped on exit."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def __enter__(self) -> Self:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop()

    def client(self, *, key: str = ACCESS_KEY, secret: str = SECRET_KEY, url: str | None = None) -> Any:
        """A boto3 ECR client on this server (for seeding and checking; Regent builds its own)."""
        return boto3.client(
            "ecr",
            region_name=REGION,
            endpoint_url=url or self.url,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )


def put_image(ecr: Any, repository: str, image: BuiltImage, tags: Sequence[str]) -> None:
    """Store an image in moto with its real manifest bytes and digest (untagged when `tags` is empty)."""
    manifest = image.manifest.decode()
    common = {
        "repositoryName": repository,
        "imageManifest": manifest,
        "imageDigest": image.digest,
        "imageManifestMediaType": image.media_type,
    }
    if not tags:
        ecr.put_image(**common)
    for tag in tags:
        ecr.put_image(**common, imageTag=tag)


def ensure_repository(ecr: Any, repository: str) -> None:
    """CreateRepository unless it exists."""
    with suppress(ecr.exceptions.RepositoryAlreadyExistsException):
        ecr.create_repository(repositoryName=repository)


class EcrDataPlane:
    """The v2 side of ECR as a RegistryFront route: tags, manifests, deletes and catalog from moto."""

    def __init__(self, ecr: Any) -> None:
        self.ecr = ecr
        pair = f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()
        self._expected = "Basic " + base64.b64encode(pair).decode()
        self._lock = threading.Lock()  # one boto3 client shared by the front's handler threads

    def __call__(self, request: Request) -> Response | None:
        if not request.path.startswith("/v2/"):
            return None
        if request.headers.get("authorization") != self._expected:
            challenge = (
                f'Basic realm="https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/",service="ecr.amazonaws.com"'
            )
            return json_response(
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                {"WWW-Authenticate": challenge},
            )
        path = request.path.removeprefix("/v2/")
        with self._lock:
            if path == "_catalog":
                return self._catalog(request)
            if path.endswith("/tags/list"):
                return self._tags(path.removesuffix("/tags/list"))
            repository, marker, reference = path.partition("/manifests/")
            if marker:
                return self._manifest(request, repository, unquote(reference))
        return None  # /v2/ and blobs: the real registry (it checks the same credentials)

    def _catalog(self, request: Request) -> Response:
        limit = int(request.arg("n") or CATALOG_MAX)
        if limit > CATALOG_MAX:
            return _v2_error(400, "PAGINATION_NUMBER_INVALID", f"n must be <= {CATALOG_MAX}")
        names = sorted(r["repositoryName"] for r in self.ecr.describe_repositories()["repositories"])
        after = request.arg("last") or ""
        page = [n for n in names if n > after][:limit]
        headers = {}
        if len(page) == limit and names and page[-1] != names[-1]:
            headers["Link"] = f'</v2/_catalog?n={limit}&last={page[-1]}>; rel="next"'
        return json_response(200, {"repositories": page}, headers)

    def _tags(self, repository: str) -> Response:
        try:
            ids = self.ecr.list_images(repositoryName=repository, filter={"tagStatus": "TAGGED"})["imageIds"]
        except self.ecr.exceptions.RepositoryNotFoundException:
            return _v2_error(404, "NAME_UNKNOWN", f"repository {repository} not found")
        return json_response(200, {"name": repository, "tags": sorted({i["imageTag"] for i in ids})})

    def _manifest(self, request: Request, repository: str, reference: str) -> Response:
        image_id = {"imageDigest": reference} if reference.startswith("sha256:") else {"imageTag": reference}
        try:
            if request.method == "DELETE":
                return self._delete(repository, image_id)
            answer = self.ecr.batch_get_image(repositoryName=repository, imageIds=[image_id])
        except self.ecr.exceptions.RepositoryNotFoundException:
            return _v2_error(404, "NAME_UNKNOWN", f"repository {repository} not found")
        if not answer["images"]:
            return _v2_error(404, "MANIFEST_UNKNOWN", f"manifest {reference} not found")
        image = answer["images"][0]
        body = image["imageManifest"].encode()
        headers = {"Content-Type": image.get("imageManifestMediaType", "")}
        if request.method == "HEAD":  # ECR sends the digest on HEAD only, never on GET
            headers["Docker-Content-Digest"] = image["imageId"]["imageDigest"]
        return Response(
            200, b"" if request.method == "HEAD" else body, headers | {"Content-Length": str(len(body))}
        )

    def _delete(self, repository: str, image_id: dict[str, str]) -> Response:
        if "imageDigest" not in image_id:
            return _v2_error(400, "UNSUPPORTED", "delete by digest only")
        answer = self.ecr.batch_delete_image(repositoryName=repository, imageIds=[image_id])
        if answer["failures"]:
            return _v2_error(404, "MANIFEST_UNKNOWN", "manifest not found")
        return Response(202)


def throttling(
    operations: Sequence[str], *, times: int | None, retry_after_ms: int | None = None
) -> tuple[Any, list[str]]:
    """A route answering ThrottlingException for these ECR operations (`times` in all, None: always).

    `retry_after_ms` adds `x-amz-retry-after`, the wait botocore's standard retry mode reads from a throttled
    answer (botocore/retries/standard.py).

    Returns the route and the list of throttled operations (appended as they happen) to count them.
    """
    throttled: list[str] = []
    lock = threading.Lock()

    def route(request: Request) -> Response | None:
        operation = request.headers.get("x-amz-target", "").rpartition(".")[2]
        if operation not in operations:
            return None
        with lock:
            if times is not None and len(throttled) >= times:
                return None
            throttled.append(operation)
        body = {"__type": "ThrottlingException", "message": "Rate exceeded"}
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        if retry_after_ms is not None:
            headers["x-amz-retry-after"] = str(retry_after_ms)
        return Response(400, json.dumps(body).encode(), headers)

    return route, throttled


@contextmanager
def ecr_front(registry_url: str, ecr: Any) -> Iterator[RegistryFront]:
    """The v2 endpoint of the fake ECR: RegistryFront over the real registry, answering from moto."""
    with RegistryFront(registry_url, EcrDataPlane(ecr)) as front:
        yield front


def _v2_error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"errors": [{"code": code, "message": message}]})
