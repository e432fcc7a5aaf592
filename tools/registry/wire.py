"""What the registry client puts on and reads off the wire: safe path parts, capped bodies, errors, links.

Pure helpers, no HTTP of their own; tools/registry/client.py is the only caller.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson

from tools.errors import BadResponse, ImageReferenceError, Unreachable
from tools.registry.reference import is_sha256_digest, is_valid_repository, is_valid_tag


def safe_repository(repository: str) -> str:
    """A repository name safe to put in a path: the distribution grammar, so no `..`, `?`, `#` or `%`.

    Names come from catalogs, tags and stored plans; through Portainer's proxy a crafted one such as
    `../../../users?` would otherwise turn a registry GET into a Portainer API call with our key.
    """
    if not is_valid_repository(repository) or len(repository) > 255:
        raise ImageReferenceError(f"refusing invalid repository name {repository[:80]!r}")
    return repository


def safe_reference(reference: str) -> str:
    """A tag or digest safe to put in a path."""
    if is_sha256_digest(reference) or is_valid_tag(reference):
        return reference
    raise ImageReferenceError(f"refusing invalid tag or digest {reference[:80]!r}")


def safe_digest(digest: str) -> str:
    """A digest safe to put in a path."""
    if not is_sha256_digest(digest):
        raise ImageReferenceError(f"refusing invalid digest {digest[:80]!r}")
    return digest


def digest_only(digest: str) -> None:
    """ValueError unless `digest` names a digest: a delete by tag would take every tag on its manifest."""
    if not digest.startswith("sha256:"):
        raise ValueError("delete_manifest takes a digest, never a tag")


def realm_allowed(realm: str, base_url: str) -> bool:
    """Token realms: http(s) only, and no downgrade to plain http from an https registry."""
    scheme = urlsplit(realm).scheme
    if scheme not in {"http", "https"} or not urlsplit(realm).netloc:
        return False
    return not (scheme == "http" and base_url.startswith("https://"))


@dataclass(frozen=True, slots=True)
class Answer:
    """A registry's answer with its body read (and decoded): lighter than a second httpx.Response."""

    method: str  # of the request
    status_code: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", " (as httpx.Headers.get)
    content: bytes


def read_capped(response: httpx.Response, max_bytes: int, *, what: str, deadline: float) -> Answer:
    """An httpx response's answer, its body refused past `max_bytes` or once `deadline` is passed."""
    method = response.request.method
    body = read_capped_chunks(
        response.iter_bytes(),
        declared=response.headers.get("content-length", ""),
        method=method,
        max_bytes=max_bytes,
        what=what,
        deadline=deadline,
    )
    return Answer(method, response.status_code, dict(response.headers.items()), body)


def read_capped_chunks(
    chunks: Iterable[bytes], *, declared: str, method: str, max_bytes: int, what: str, deadline: float
) -> bytes:
    """A body from its chunks, refused past `max_bytes` (declared or read) or once `deadline` (monotonic)
    is passed."""
    if declared.isdigit() and int(declared) > max_bytes and method != "HEAD":
        raise BadResponse(f"{what}: answer of {declared} bytes is over the {max_bytes}-byte limit")
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise BadResponse(f"{what}: answer is over the {max_bytes}-byte limit")
        parts.append(chunk)
        if time.monotonic() > deadline:
            raise Unreachable(f"{what}: the registry is too slow (the answer took over the deadline)")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def error_code(answer: Answer) -> str:
    """The registry's error code (e.g. MANIFEST_UNKNOWN), when the body carries one."""
    if answer.method == "HEAD":
        return ""
    try:
        errors = orjson.loads(answer.content).get("errors") or []
        codes = [str(e.get("code")) for e in errors if isinstance(e, dict) and e.get("code")]
    except (ValueError, AttributeError, TypeError):  # not JSON, not an object, `errors` not a list
        return ""
    return f" ({', '.join(codes)[:200]})" if codes else ""


def parse_json_object(body: bytes, *, what: str) -> dict[str, Any]:
    """A JSON object, or BadResponse naming `what`."""
    try:
        parsed = orjson.loads(body)  # several times faster than json; a crawl parses every manifest
    except ValueError:
        raise BadResponse(f"{what} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise BadResponse(f"{what} is not a JSON object")
    return parsed


def media_type_from_body(body: bytes, *, fallback: str) -> str:
    """The `mediaType` a manifest declares, when the Content-Type header did not say."""
    try:
        parsed = orjson.loads(body)
    except ValueError:
        return fallback
    media_type = parsed.get("mediaType") if isinstance(parsed, dict) else None
    return media_type if isinstance(media_type, str) else fallback


def next_link_query(link: str) -> dict[str, str] | None:
    """The query of a `Link: </v2/…?last=x&n=y>; rel="next"` header, resolved against our own base."""
    if 'rel="next"' not in link:
        return None
    start, end = link.find("<"), link.find(">")
    if start < 0 or end < start:
        return None
    return dict(parse_qsl(urlsplit(link[start + 1 : end]).query))
