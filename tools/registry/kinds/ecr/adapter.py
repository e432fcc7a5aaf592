"""Amazon ECR as a registry kind: v2 for manifests and configs, the ECR API for the rest.

- Auth: Portainer stores an access key id, a secret and a region for ECR (type 7), not a registry password.
  `GetAuthorizationToken` turns them into the v2 basic-auth pair `AWS:<token>`, valid 12 hours. It is fetched
  before the first v2 request (not when the client is built: sources build every registry's client up front,
  and one unreachable AWS endpoint must not stop the others) and again a few minutes before it expires, so
  a long-running Regent keeps crawling. AWS errors surface in the crawl as that registry's errors.
- Listing: `DescribeRepositories`, not the v2 catalog. Both give up to 1000 names a request (ECR refuses a
  catalog `n` over 1000), so neither is cheaper in calls; the native call is ECR's documented listing, pages
  with an opaque `nextToken`, answers with the AWS keys alone (a wrong key shows as such, not as a v2 401),
  and uses the same endpoint and retries as the clock calls that follow.
- Clocks and sizes: `DescribeImages` gives `imagePushedAt`, `lastRecordedPullTime` (refreshed by ECR at least
  once a day) and `imageSizeInBytes`.
- Delete: `BatchDeleteImage` by digest, which removes every tag on it, like a v2 delete by digest; a
  missing image is "already gone". Re-validation stays in tools/changes, which HEADs via v2 first.
- No garbage-collection step: ECR frees the storage of deleted images itself.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from urllib.parse import urlsplit

from tools.errors import NotFound
from tools.registry.auth import basic_authorization
from tools.registry.kinds.base import AdapterConfig, Capabilities, NativeRegistry, NativeTimes
from tools.registry.kinds.ecr.client import DESCRIBE_IDS_MAX, EcrApi, ImageDetail, RegistryToken
from tools.registry.session import RegistrySession
from tools.registry.wire import digest_only

RENEW_BEFORE = timedelta(minutes=5)  # fetch a new registry token this long before ECR stops taking it
# ECR registry hosts (AWS: "Private registry concepts", registry URL format), China regions included
_ECR_HOST = re.compile(r"\d{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\Z")
REGISTRY_USER = "AWS"  # the user name in every ECR registry token; the token replaces the password
TOKEN_LIFETIME = timedelta(hours=12)  # ECR's documented token lifetime, when expiresAt is already past


class EcrRegistry(NativeRegistry):
    """An ECR registry: a v2 client authenticated by GetAuthorizationToken, plus ECR's own calls."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        kind="ecr",
        label="Amazon ECR",
        listing="DescribeRepositories",
        push_clock="ECR imagePushedAt",
        pull_clock="ECR lastRecordedPullTime",
        size="ECR imageSizeInBytes",
        delete_path="ECR BatchDeleteImage by digest (every tag on it goes too)",
        gc_step="none: ECR frees the storage of deleted images itself",
        export="ecr-lifecycle",
    )

    def __init__(
        self,
        config: AdapterConfig,
        *,
        api: EcrApi | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # Config errors (no region, no keys) raise here; the token is fetched before the first v2
        # request, so building every registry's client never waits on, or fails because of, AWS.
        self.api = api or EcrApi(
            region=config.region or region_of(config.url),
            access_key_id=config.username,
            secret_access_key=config.password,
        )
        self._clock = clock
        self._token_lock = threading.Lock()
        self._token_expires = datetime.min.replace(tzinfo=UTC)  # no token yet
        super().__init__(config, username=REGISTRY_USER, password="")
        self._session = _RenewingSession.adopt(self._session, self._renew)

    # ----- what differs from v2 ---------------------------------------------------------------

    def catalog(self) -> list[str]:
        """Every repository, from DescribeRepositories."""
        return self.api.repositories()

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete an image by digest with BatchDeleteImage; False when ECR no longer had it."""
        digest_only(digest)
        try:
            return self.api.delete_image(repository, digest)
        except NotFound:  # the repository itself is gone, and the image with it
            return False

    def native_times(self, repository: str, digests: Collection[str]) -> dict[str, NativeTimes]:
        """imagePushedAt, lastRecordedPullTime and imageSizeInBytes of these digests (100 per call).

        DescribeImages fails a whole call when one digest is missing (deleted since the tags were read):
        that batch is then read from the repository's full listing, where a missing digest is just absent.
        """
        wanted = sorted(set(digests))
        found: dict[str, NativeTimes] = {}
        for start in range(0, len(wanted), DESCRIBE_IDS_MAX):
            batch = wanted[start : start + DESCRIBE_IDS_MAX]
            try:
                details: Sequence[ImageDetail] = self.api.describe_images(repository, batch)
            except NotFound:
                details = [d for d in self.api.all_images(repository) if d.digest in set(batch)]
            for detail in details:
                found[detail.digest] = NativeTimes(
                    pushed=detail.pushed_at, last_pulled=detail.last_pulled_at, size=detail.size
                )
        return found

    # ----- the registry token -----------------------------------------------------------------

    def _renew(self) -> tuple[str, str] | None:
        """A fresh basic-auth pair when the current token is about to expire, else None."""
        with self._token_lock:
            now = self._clock()
            if now < self._token_expires:
                return None
            token = self.api.authorization()
            self._token_expires = _usable_until(token, now)
            return token.username, token.password


class _RenewingSession(RegistrySession):
    """The v2 session, asking for new basic credentials before each request when the token has expired."""

    _renew: Callable[[], tuple[str, str] | None]

    @classmethod
    def adopt(cls, session: RegistrySession, renew: Callable[[], tuple[str, str] | None]) -> _RenewingSession:
        """This session type over an existing session's state (counters, transports, settings)."""
        adopted = cls.__new__(cls)
        adopted.__dict__.update(vars(session))
        adopted._renew = renew
        # ECR takes only basic auth: send it from the first request (saves a 401 round trip per
        # parallel request of a fresh crawl)
        adopted._use_basic = True
        return adopted

    def _auth_header(self, scope: str) -> dict[str, str]:
        fresh = self._renew()
        if fresh is not None:
            self.set_basic(*fresh)
        return super()._auth_header(scope)

    def set_basic(self, username: str, password: str) -> None:
        """Use this basic-auth pair from now on (the old token is about to expire)."""
        with self._lock:
            self._basic = (username, password)
            self._basic_header = basic_authorization(username, password)


def region_of(url: str) -> str:
    """The region in an ECR registry host (`<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`), or ""."""
    found = _ECR_HOST.match(urlsplit(url if "://" in url else f"https://{url}").hostname or "")
    return found.group(1) if found else ""


def _usable_until(token: RegistryToken, now: datetime) -> datetime:
    """When to fetch the next token: shortly before expiresAt (or 12 h from now when that is already past)."""
    expires = token.expires_at if token.expires_at > now else now + TOKEN_LIFETIME
    return expires - RENEW_BEFORE
