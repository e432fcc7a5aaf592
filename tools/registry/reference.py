"""Image reference parsing with Docker Hub normalization (`nginx` -> `docker.io/library/nginx:latest`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.errors import ImageReferenceError

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)

# Grammar from the distribution reference spec, kept to what we need.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# `\Z`, not `$`: `$` also matches before a final newline, which let "shop/api\n" through.
_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*\Z")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}\Z", re.ASCII)  # the spec: [A-Za-z0-9_.-], no Unicode
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}\Z")
_SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}\Z")


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed image reference: registry host, repository path, optional tag and digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Registry plus repository, e.g. `docker.io/library/nginx`."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _looks_like_host(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost" or part != part.lower()


def parse_reference(text: str, *, default_tag: str | None = "latest") -> ImageReference:
    """Parse `[host[:port]/]path[:tag][@digest]`, normalizing Docker Hub names."""
    raw = text.strip()
    if not raw:
        raise ImageReferenceError("empty image reference")
    name, _, digest = raw.partition("@")
    if digest and not _DIGEST_RE.match(digest):
        raise ImageReferenceError(f"invalid digest in {text!r}")
    tag: str | None = None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ImageReferenceError(f"invalid tag {tag!r} in {text!r}")
    first, _, rest = name.partition("/")
    if rest and _looks_like_host(first):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    if not _NAME_RE.match(repository):
        raise ImageReferenceError(f"invalid repository name {repository!r} in {text!r}")
    if tag is None and not digest:
        tag = default_tag
    return ImageReference(registry=registry, repository=repository, tag=tag, digest=digest or None)


def is_sha256_digest(text: str) -> bool:
    """True for a well-formed `sha256:<64 lowercase hex>` digest."""
    return bool(_SHA256_RE.match(text))


def is_valid_repository(name: str) -> bool:
    """True when `name` is a valid repository path (no host part)."""
    return bool(_NAME_RE.match(name))


def is_valid_tag(tag: str) -> bool:
    """True when `tag` is a valid tag."""
    return bool(_TAG_RE.match(tag))
