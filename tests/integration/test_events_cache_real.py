"""The generated pull-through cache config runs on the real docker-registry and caches a real upstream."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import yaml

from bot.demo.binaries import terminate
from bot.demo.registry_server import RegistryServer, free_port
from bot.demo.seed import ImageSpec, Seeder
from tests.conftest import need_binary
from tests.events_factory import NOW
from tools.events.cache_advice import UpstreamUsage, cache_config
from tools.registry.media_types import ACCEPT_MANIFESTS


def test_generated_cache_config_serves_the_upstreams_images(
    registry: RegistryServer, seeder: Seeder, tmp_path: Path, http_client: httpx.Client
) -> None:
    binary = need_binary("docker-registry", "docker-registry")
    pushed = seeder.push_image(ImageSpec(repository="library/nginx", tag="1.25", created=NOW))
    usage = UpstreamUsage(
        registry="docker.io",
        hosts=3,
        images=1,
        deployments=3,
        pulls=0,
        top_images=[],
        suggest_cache=True,
        reason="",
    )
    generated = cache_config(
        usage, cache_host="cache.internal:5000", events_url="http://127.0.0.1:1/events/registry"
    )
    config = yaml.safe_load(generated.distribution_config)
    # Only what a test machine needs changes: where to store, where to listen, and the upstream (no internet;
    # distribution 2.8 pings the remote at start and exits when it cannot reach it).
    assert config["proxy"]["remoteurl"] == "https://registry-1.docker.io"
    port = free_port()
    config["storage"]["filesystem"]["rootdirectory"] = str(tmp_path / "cache")
    config["http"]["addr"] = f"127.0.0.1:{port}"
    config["proxy"]["remoteurl"] = registry.url
    del config["notifications"]  # no receiver in this test; its shape is checked by the unit tests
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    log = (tmp_path / "cache.log").open("wb")
    process = subprocess.Popen(
        [binary, "serve", str(tmp_path / "config.yml")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                if http_client.get(f"{base}/v2/").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "cache.log").read_text()[-2000:]
            time.sleep(0.05)
        response = http_client.get(
            f"{base}/v2/library/nginx/manifests/1.25", headers={"Accept": ACCEPT_MANIFESTS}
        )
        assert response.status_code == 200
        assert response.headers["docker-content-digest"] == pushed.digest
        layer = pushed.layers[-1].digest
        assert http_client.get(f"{base}/v2/library/nginx/blobs/{layer}").status_code == 200
        # The cache writes the blob while streaming it; once it is on disk, it answers without the upstream.
        hexdigest = layer.removeprefix("sha256:")
        root = tmp_path / "cache" / "docker/registry/v2"
        stored = root / "blobs/sha256" / hexdigest[:2] / hexdigest / "data"
        linked = root / "repositories/library/nginx/_layers/sha256" / hexdigest / "link"
        deadline = time.monotonic() + 10
        while not (stored.exists() and linked.exists()):
            assert time.monotonic() < deadline, "the cache never stored the layer"
            time.sleep(0.05)
        registry.stop()
        again = http_client.head(f"{base}/v2/library/nginx/blobs/{layer}")
        assert again.status_code == 200
    finally:
        terminate(process, timeout=5)
        log.close()
