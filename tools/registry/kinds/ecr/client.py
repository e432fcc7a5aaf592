"""Amazon ECR's control plane through boto3: registry tokens, repositories, image details, deletes, previews.

Behaviour from botocore's own ECR model (`ecr/2015-09-21/service-2.json`, installed with botocore):
`DescribeImages` takes at most 100 `imageIds` and then cannot page (`maxResults`/`nextToken` only without
them), and one unknown digest fails the whole call with `ImageNotFoundException`; `BatchDeleteImage` reports
a missing image as a `failures` entry with `failureCode` `ImageNotFound`, not as an error.

Credentials are what Portainer stores for an ECR record (type 7): access key id and secret, plus the region.
The endpoint is botocore's default for the region, which honours `AWS_ENDPOINT_URL_ECR`/`AWS_ENDPOINT_URL`
from the process environment (this module never reads it). Throttling is retried by botocore's own retry
modes, bounded by `max_attempts` (attempts in all), with exponential backoff and jitter (at most 20 s); a
throttled answer's `x-amz-retry-after` (milliseconds, AWS's counterpart of `Retry-After`) raises the wait to
it, up to the backoff + 5 s (botocore/retries/standard.py, ExponentialBackoff). The v2 side of ECR goes
through tools/registry/session.py, which honours `Retry-After` on 429. Every botocore error leaves this
module as a RegentError.
"""

from __future__ import annotations

import base64
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from tools.errors import (
    AuthError,
    BadResponse,
    ConfigError,
    NotFound,
    RateLimited,
    Unreachable,
    UpstreamError,
)

DESCRIBE_IDS_MAX = 100  # DescribeImages: at most 100 imageIds per call (botocore model, ImageIdentifierList)
PAGE_MAX = 1000  # DescribeRepositories / DescribeImages maxResults upper bound (botocore model)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")  # us-east-1, eu-central-2, us-gov-west-1, ap-…
_BAD_KEYS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredTokenException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)
_XML_CODE = re.compile(r"<Code>(\w+)</Code>")
_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
_THROTTLED = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
_MISSING = frozenset(
    {
        "RepositoryNotFoundException",
        "ImageNotFoundException",
        "LifecyclePolicyNotFoundException",
        "LifecyclePolicyPreviewNotFoundException",
    }
)


@dataclass(frozen=True, slots=True)
class RegistryToken:
    """A v2 basic-auth pair from GetAuthorizationToken and when ECR stops accepting it."""

    username: str
    password: str
    expires_at: datetime
    endpoint: str  # proxyEndpoint, e.g. https://123456789012.dkr.ecr.eu-west-1.amazonaws.com


@dataclass(frozen=True, slots=True)
class ImageDetail:
    """One DescribeImages entry, reduced to what Regent reads."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime | None
    last_pulled_at: datetime | None
    size: int | None


@dataclass(frozen=True, slots=True)
class PreviewResult:
    """One GetLifecyclePolicyPreview result: an image the lifecycle policy would expire, and by which rule."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime | None
    action: str  # EXPIRE | TRANSITION
    rule_priority: int | None


@dataclass(frozen=True, slots=True)
class Preview:
    """A finished (or still running) lifecycle preview of one repository."""

    repository: str
    status: str  # IN_PROGRESS | COMPLETE | EXPIRED | FAILED
    results: tuple[PreviewResult, ...]


def check_region(region: str) -> str:
    """The region, or ConfigError when it is empty or not shaped like an AWS region name."""
    if not region:
        raise ConfigError("ECR registry has no region (Portainer's Ecr.Region, or `region:` in regent.yml)")
    if not _REGION.match(region):
        raise ConfigError(f"ECR region {region[:40]!r} is not an AWS region name such as eu-west-1")
    return region


class EcrApi:
    """The ECR calls Regent makes, retried by botocore, errors translated; `calls` counts them by name."""

    def __init__(
        self,
        *,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        max_attempts: int = 5,
        retry_mode: Literal["standard", "adaptive"] = "standard",
        timeout: float = 30.0,
    ) -> None:
        self.region = check_region(region)
        if not access_key_id or not secret_access_key:
            raise ConfigError(
                "ECR registry needs an access key id (username) and a secret access key (password)"
            )
        config = Config(
            region_name=self.region,
            # botocore's `max_attempts` counts retries only; total_max_attempts counts the first one too
            retries={"mode": retry_mode, "total_max_attempts": max(1, max_attempts)},
            connect_timeout=timeout,
            read_timeout=timeout,
            user_agent_extra="regent",
        )
        # A session of our own: no shared profile, no instance-role fallback, only the keys given.
        session = boto3.session.Session(
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=self.region
        )
        self._client: Any = session.client("ecr", config=config)
        self.endpoint = str(self._client.meta.endpoint_url)
        self.calls: Counter[str] = Counter()  # API operations sent (retries by botocore not counted twice)
        self._lock = threading.Lock()

    @property
    def boto_client(self) -> Any:
        """The botocore client itself: for botocore's Stubber in tests, never for calls outside this class."""
        return self._client

    # ----- calls ------------------------------------------------------------------------------

    def authorization(self) -> RegistryToken:
        """A registry token (12 h on ECR) decoded into the v2 basic-auth pair."""
        answer = self._call("GetAuthorizationToken")
        data = answer.get("authorizationData") or []
        if not data or not isinstance(data[0], dict):
            raise BadResponse("ECR GetAuthorizationToken answered without authorizationData")
        first = data[0]
        try:
            decoded = base64.b64decode(str(first.get("authorizationToken", "")), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise BadResponse("ECR authorization token is not base64 'user:password'") from None
        username, sep, password = decoded.partition(":")
        if not sep or not username or not password:
            raise BadResponse("ECR authorization token is not 'user:password'")
        expires = first.get("expiresAt")
        return RegistryToken(
            username=username,
            password=password,
            expires_at=_aware(expires) if isinstance(expires, datetime) else datetime.now(UTC),
            endpoint=str(first.get("proxyEndpoint", "")),
        )

    def repositories(self) -> list[str]:
        """Every repository name, 1000 per DescribeRepositories page."""
        names: list[str] = []
        for page in self._pages("DescribeRepositories", {"maxResults": PAGE_MAX}):
            for entry in page.get("repositories") or []:
                name = entry.get("repositoryName") if isinstance(entry, dict) else None
                if not isinstance(name, str) or not name:
                    raise BadResponse("ECR DescribeRepositories: an entry has no repositoryName")
                names.append(name)
        return names

    def describe_images(self, repository: str, digests: Sequence[str]) -> list[ImageDetail]:
        """Details of these digests (up to 100, one call); NotFound when one of them is not in ECR."""
        if len(digests) > DESCRIBE_IDS_MAX:
            raise ValueError(f"DescribeImages takes at most {DESCRIBE_IDS_MAX} imageIds")
        answer = self._call(
            "DescribeImages",
            repositoryName=repository,
            imageIds=[{"imageDigest": digest} for digest in digests],
        )
        return [_detail(entry) for entry in answer.get("imageDetails") or []]

    def all_images(self, repository: str) -> Iterator[ImageDetail]:
        """Every image of a repository, 1000 per DescribeImages page, following nextToken."""
        for page in self._pages("DescribeImages", {"repositoryName": repository, "maxResults": PAGE_MAX}):
            for entry in page.get("imageDetails") or []:
                yield _detail(entry)

    def delete_image(self, repository: str, digest: str) -> bool:
        """BatchDeleteImage of one digest: True when deleted, False when ECR no longer had it."""
        answer = self._call("BatchDeleteImage", repositoryName=repository, imageIds=[{"imageDigest": digest}])
        for failure in answer.get("failures") or []:
            code = failure.get("failureCode") if isinstance(failure, dict) else None
            if code == "ImageNotFound":
                return False
            reason = str(failure.get("failureReason", ""))[:200] if isinstance(failure, dict) else ""
            raise UpstreamError(
                f"ECR BatchDeleteImage refused {repository}@{digest}: {code} {reason}".strip()
            )
        deleted = {i.get("imageDigest") for i in answer.get("imageIds") or [] if isinstance(i, dict)}
        if digest not in deleted:
            raise BadResponse(f"ECR BatchDeleteImage neither deleted nor refused {repository}@{digest}")
        return True

    def start_preview(self, repository: str, policy_text: str) -> None:
        """StartLifecyclePolicyPreview of a lifecycle policy document on one repository."""
        self._call("StartLifecyclePolicyPreview", repositoryName=repository, lifecyclePolicyText=policy_text)

    def preview(self, repository: str) -> Preview:
        """GetLifecyclePolicyPreview, every page; `status` says whether ECR has finished."""
        status = ""
        results: list[PreviewResult] = []
        for page in self._pages(
            "GetLifecyclePolicyPreview", {"repositoryName": repository, "maxResults": 100}
        ):
            status = str(page.get("status", status))
            results.extend(_preview_result(entry) for entry in page.get("previewResults") or [])
        return Preview(repository=repository, status=status, results=tuple(results))

    # ----- plumbing ---------------------------------------------------------------------------

    def _pages(self, operation: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = self._call(operation, **params, **({"nextToken": token} if token else {}))
            yield page
            token = page.get("nextToken")
            if not token:
                return
            if token in seen:  # a server that repeats a token would page forever
                raise BadResponse(f"ECR {operation} repeated a nextToken")
            seen.add(token)

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        method = getattr(self._client, _snake(operation))
        with self._lock:
            self.calls[operation] += 1
        with translated_errors(operation, self.region):
            answer = method(**params)
        if not isinstance(answer, dict):
            raise BadResponse(f"ECR {operation} answered something that is not an object")
        return answer


@contextmanager
def translated_errors(operation: str, region: str) -> Iterator[None]:
    """Every botocore failure of one call as the RegentError a user can act on."""
    try:
        yield
    except ClientError as exc:
        raise _client_error(exc, operation, region) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise ConfigError("ECR registry has no complete access key id and secret access key") from None
    except ParamValidationError as exc:
        raise ConfigError(f"ECR {operation}: invalid parameters ({str(exc)[:200]})") from None
    except EndpointConnectionError:
        raise Unreachable(
            f"ECR endpoint for region {region} unreachable ({operation}); is the region right?"
        ) from None
    except BotoConnectionError as exc:
        raise Unreachable(f"ECR {operation} in {region}: connection failed ({type(exc).__name__})") from None
    except BotoCoreError as exc:
        raise BadResponse(f"ECR {operation} in {region} failed: {type(exc).__name__}") from None


def _client_error(exc: ClientError, operation: str, region: str) -> UpstreamError:
    error = exc.response.get("Error") or {}
    code = str(error.get("Code", "")) or "Unknown"
    message = str(error.get("Message", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code.isdigit():  # an answer botocore could not parse as JSON (an XML error from a proxy or moto)
        found = _XML_CODE.search(message)
        code, message = (found.group(1), "") if found else (f"HTTP {code}", "")  # no markup for people
    said = f"{code}: {message[:200]}" if message else code  # what ECR said, for people
    if code in _BAD_KEYS:
        return AuthError(
            f"AWS rejected the ECR access key ({code}) in {region}: check the access key id and secret",
            status=status,
        )
    if code in _DENIED or status in {401, 403}:
        return AuthError(
            f"the ECR access key may not call ecr:{operation} in {region} ({code}); grant it in IAM",
            status=status,
        )
    if code in _THROTTLED:
        return RateLimited(f"ECR throttled {operation} in {region} after the retries ({code})", status=status)
    if code in _MISSING:
        return NotFound(f"ECR {operation}: {said}", status=status)
    if code in {"InvalidParameterException", "ValidationException", "LimitExceededException"}:
        return UpstreamError(f"ECR {operation} refused the request: {said}", status=status)
    return UpstreamError(f"ECR {operation} in {region} failed: {said}", status=status)


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _when(value: object) -> datetime | None:
    return _aware(value).astimezone(UTC) if isinstance(value, datetime) else None


def _detail(entry: object) -> ImageDetail:
    if not isinstance(entry, dict) or not isinstance(entry.get("imageDigest"), str):
        raise BadResponse("ECR DescribeImages: an imageDetails entry has no imageDigest")
    size = entry.get("imageSizeInBytes")
    return ImageDetail(
        digest=entry["imageDigest"],
        tags=tuple(t for t in entry.get("imageTags") or [] if isinstance(t, str)),
        pushed_at=_when(entry.get("imagePushedAt")),
        last_pulled_at=_when(entry.get("lastRecordedPullTime")),
        size=size if isinstance(size, int) and size >= 0 else None,
    )


def _preview_result(entry: object) -> PreviewResult:
    if not isinstance(entry, dict) or not isinstance(entry.get("imageDigest"), str):
        raise BadResponse("ECR GetLifecyclePolicyPreview: a result has no imageDigest")
    action = entry.get("action") or {}
    priority = entry.get("appliedRulePriority")
    return PreviewResult(
        digest=entry["imageDigest"],
        tags=tuple(t for t in entry.get("imageTags") or [] if isinstance(t, str)),
        pushed_at=_when(entry.get("imagePushedAt")),
        action=str(action.get("type", "")) if isinstance(action, dict) else "",
        rule_priority=priority if isinstance(priority, int) else None,
    )
