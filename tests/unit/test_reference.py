"""Image reference parsing and Docker Hub normalization."""

from __future__ import annotations

import pytest

from tools.errors import ImageReferenceError
from tools.registry.reference import parse_reference


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", "latest", None),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("bitnami/redis", "docker.io", "bitnami/redis", "latest", None),
        ("index.docker.io/nginx", "docker.io", "library/nginx", "latest", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("127.0.0.1:5000/shop/api:1.4", "127.0.0.1:5000", "shop/api", "1.4", None),
        ("ghcr.io/org/tool@sha256:" + "a" * 64, "ghcr.io", "org/tool", None, "sha256:" + "a" * 64),
        (
            "reg.example.com:443/a/b/c:v1@sha256:" + "b" * 64,
            "reg.example.com:443",
            "a/b/c",
            "v1",
            "sha256:" + "b" * 64,
        ),
    ],
)
def test_parse_reference(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


@pytest.mark.parametrize(
    "text", ["", "UPPER", "repo/Upper", "repo:bad tag", "repo@sha256:xyz", "a//b", "-lead", "r:" + "t" * 129]
)
def test_parse_reference_rejects(text: str) -> None:
    with pytest.raises(ImageReferenceError):
        parse_reference(text)


def test_str_round_trip() -> None:
    ref = parse_reference("127.0.0.1:5000/shop/api:1.4")
    assert str(ref) == "127.0.0.1:5000/shop/api:1.4"
    assert parse_reference(str(ref)) == ref
