"""Many repositories fast: one image pushed once, then mounted and tagged into every other repository.

A refresh test or benchmark needs a registry of 1,000 repositories; pushing 1,000 distinct images takes
over a minute on two cores, while a cross-repository mount of each blob plus one manifest PUT takes a few
requests a repository. Every repository then holds the same image under one tag. No registry auth.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from urllib.parse import quote

import httpx

from bot.demo.images import BuiltImage, ImageSpec, build_image
from bot.demo.seeder import Seeder
from bot.errors import SeedError


def fill_repositories(
    seeder: Seeder, spec: ImageSpec, repositories: Sequence[str], *, threads: int = 8
) -> BuiltImage:
    """Push `spec` to the first repository, then mount it into the others under the same tag."""
    if not repositories or spec.tag is None:
        raise ValueError("give at least one repository and a tagged spec")
    home = repositories[0]
    seeder.push_image(replace(spec, repository=home))
    built = build_image(replace(spec, repository=home))  # deterministic: the same bytes as pushed
    client = httpx.Client(base_url=seeder.base_url, timeout=30)
    try:

        def clone(repository: str) -> None:
            for blob in (built.config, *built.layers):
                mounted = client.post(
                    f"/v2/{repository}/blobs/uploads/?mount={quote(blob.digest)}&from={quote(home)}"
                )
                if mounted.status_code != 201:
                    raise SeedError(f"mounting {blob.digest} into {repository}: {mounted.status_code}")
            put = client.put(
                f"/v2/{repository}/manifests/{spec.tag}",
                content=built.manifest,
                headers={"Content-Type": built.media_type},
            )
            if put.status_code != 201:
                raise SeedError(f"tagging {repository}:{spec.tag}: {put.status_code}")

        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(clone, repositories[1:]))  # list() re-raises the first failure
    finally:
        client.close()
    return built
