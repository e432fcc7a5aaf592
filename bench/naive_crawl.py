"""The naive crawler the benchmark compares against: catalog, then per tag GET manifest and GET config,
one request at a time. Prints one JSON line with the counts it saw and the requests it made."""

from __future__ import annotations

import json
import sys

import httpx

ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


def main(base: str) -> None:
    requests = 0
    tags = 0
    with httpx.Client(timeout=30) as http:
        repositories = http.get(f"{base}/v2/_catalog", params={"n": 1000}).json()["repositories"]
        requests += 1
        for repo in repositories:
            names = http.get(f"{base}/v2/{repo}/tags/list").json().get("tags") or []
            requests += 1
            for tag in names:
                manifest = http.get(f"{base}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}).json()
                requests += 1
                config = manifest.get("config")
                if config:
                    http.get(f"{base}/v2/{repo}/blobs/{config['digest']}").json()
                    requests += 1
                tags += 1
    print(json.dumps({"repositories": len(repositories), "tags": tags, "requests": requests}))


if __name__ == "__main__":
    main(sys.argv[1])
