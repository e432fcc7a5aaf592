"""A realistic estate for vulnerability tests: the sample registry, containers on the real dockerd behind a
fake Portainer (environments `prod-eu` and `staging`), a crawl by the real `regent inventory`, KEV/EPSS
feed files, and scanner reports written in Trivy's and Grype's formats for images read from the registry.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.demo.dockerd import DockerDaemon
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import ALPINE_3_19_0, ImageSpec, Seeder, seed_sample
from tests.cli import run_regent
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import FakeEnvironment, FakeUser, make_pod
from tests.vulns.scanner import ScannedImage, Vuln, grype_report, read_image, trivy_report

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parents[2]
API_KEY = "ptr_vulns-test-key-0001"
UPLOAD_TOKEN = "vulns-upload-token-0123456789"

# Planted vulnerabilities. Layer indexes: shop/api:1.4.0 = rootfs, apk-3.19.1, busybox, own0, own1;
# shop/api:1.2.0 = rootfs, apk-3.19.0, own; platform/base:alpine-3.19.1 = rootfs, apk-3.19.1.
API_14 = [
    Vuln("CVE-2026-1001", "libcrypto3", "3.1.4-r1", 1, "CRITICAL", 9.8, fixed="3.1.4-r5"),
    Vuln("CVE-2026-2001", "go:stdlib", "1.21.0", 3, "HIGH", 7.5, fixed="1.21.8"),
    Vuln("CVE-2026-3001", "busybox", "1.36.1-r15", 0, "MEDIUM", 5.5),
]
API_14_GRYPE = [  # the same image by Grype: CVE-2026-2001 reported under its GHSA id, plus scanner EPSS
    Vuln("CVE-2026-2001", "go:stdlib", "1.21.0", 3, "HIGH", 7.5, fixed="1.21.8", ghsa="GHSA-2026-aaaa-bbbb"),
    Vuln("CVE-2026-1001", "libcrypto3", "3.1.4-r1", 1, "CRITICAL", 9.8, fixed="3.1.4-r5", epss=0.5),
]
API_12 = [
    Vuln("CVE-2026-1002", "zlib", "1.3-r2", 1, "HIGH", 8.1, fixed="1.3.1-r0"),
    Vuln("CVE-2026-3001", "busybox", "1.36.1-r15", 0, "MEDIUM", 5.5),
    Vuln("CVE-2026-4001", "libssl3", "3.1.4-r1", 1, "MEDIUM", 6.1, fixed="3.1.4-r5"),
    Vuln("CVE-2026-5001", "go:golang.org/x/net", "0.17.0", 2, "LOW", 3.7, fixed="0.23.0"),
]
BASE_3191 = [
    Vuln("CVE-2026-1001", "libcrypto3", "3.1.4-r1", 1, "CRITICAL", 9.8, fixed="3.1.4-r5"),
    Vuln("CVE-2026-3001", "busybox", "1.36.1-r15", 0, "MEDIUM", 5.5),
]
WORKER_AMD64 = [Vuln("CVE-2026-6001", "musl", "1.2.4-r2", 0, "HIGH", 7.0, fixed="1.2.4-r3")]
WORKER_ARM64 = [Vuln("CVE-2026-6002", "musl", "1.2.4-r2", 1, "HIGH", 7.2, status="wont-fix")]
WEB = [Vuln("CVE-2026-7001", "openssl", "3.0.11-1", 1, "CRITICAL", 9.1, fixed="3.0.15-1")]
GONE = [Vuln("CVE-2026-9001", "zlib", "1.3-r2", 1, "HIGH", 8.1, fixed="1.3.1-r0")]

KEV = {
    "title": "CISA Catalog of Known Exploited Vulnerabilities",
    "catalogVersion": "2026.11.25",
    "dateReleased": "2026-11-25T15:02:11.0000Z",
    "count": 2,
    "vulnerabilities": [
        {
            "cveID": "CVE-2026-1001",
            "vendorProject": "OpenSSL",
            "product": "OpenSSL",
            "vulnerabilityName": "OpenSSL Out-of-Bounds Write",
            "dateAdded": "2026-10-02",
            "shortDescription": "Planted for tests.",
            "requiredAction": "Apply mitigations per vendor instructions.",
            "dueDate": "2026-10-23",
            "knownRansomwareCampaignUse": "Known",
            "notes": "",
            "cwes": ["CWE-787"],
        },
        {
            "cveID": "CVE-2026-1002",
            "vendorProject": "zlib",
            "product": "zlib",
            "vulnerabilityName": "zlib Heap Overflow",
            "dateAdded": "2026-11-01",
            "shortDescription": "Planted for tests.",
            "requiredAction": "Apply updates.",
            "dueDate": "2026-11-22",
            "knownRansomwareCampaignUse": "Unknown",
            "notes": "",
            "cwes": [],
        },
    ],
}
EPSS_CSV = (
    "#model_version:v2025.03.14,score_date:2026-11-26T00:00:00+0000\n"
    "cve,epss,percentile\n"
    "CVE-2026-1001,0.90000,0.99800\n"
    "CVE-2026-2001,0.62000,0.98100\n"
    "CVE-2026-3001,0.00110,0.21000\n"
    "CVE-2026-4001,0.00050,0.11000\n"
)


@dataclass(slots=True)
class Estate:
    """Everything the vulnerability tests need, built once per module."""

    registry: RegistryServer
    template: Path  # state dir after the crawl: copy it, never write to it
    reports: Path
    config: Path
    digests: dict[str, str] = field(default_factory=dict)
    scanned: dict[str, ScannedImage] = field(default_factory=dict)

    def fresh_state(self, target: Path) -> Path:
        """A private copy of the crawled state directory."""
        shutil.copytree(self.template, target)
        return target


def regent(
    *args: str, state: Path, config: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess with its own state directory and config."""
    env = {"REGENT_CONFIG": str(config), "PORTAINER_API_KEY": API_KEY} | dict(extra_env or {})
    return run_regent(*args, state=state, env=env)


def build_estate(
    registry: RegistryServer, dockerd: DockerDaemon, http: httpx.Client, workdir: Path
) -> Estate:
    """Seed, deploy, crawl and scan; the caller owns the registry and removes nothing else."""
    seeder = Seeder(registry.url, client=http)
    seed_sample(seeder, now=NOW)
    reports = workdir / "reports"
    reports.mkdir()
    estate = Estate(
        registry=registry, template=workdir / "state", reports=reports, config=workdir / "regent.yml"
    )
    _scan_gone_image(estate, seeder, http)
    containers = _deploy(registry, dockerd)
    try:
        _crawl(estate, registry, dockerd, seeder, workdir)
    finally:
        for container in containers:
            dockerd.remove_container(container)
    _write_reports(estate, http)
    return estate


def _scan_gone_image(estate: Estate, seeder: Seeder, http: httpx.Client) -> None:
    # Scanned while it existed, deleted before the crawl: its report must stay, listed as unmatched.
    spec = ImageSpec(
        repository="shop/api", tag="0.9.0", created=NOW - dt.timedelta(days=500), base=ALPINE_3_19_0
    )
    pushed = seeder.push_image(spec)
    image = read_image(
        http, estate.registry.url, estate.registry.host, f"{estate.registry.host}/shop/api:0.9.0"
    )
    _write(
        estate.reports / "gone-shop-api-0.9.0.trivy.json", trivy_report(image, GONE, os_name="alpine 3.19.0")
    )
    seeder.delete("shop/api", pushed.digest)


def _deploy(registry: RegistryServer, dockerd: DockerDaemon) -> list[str]:
    host = registry.host
    for ref in (f"{host}/shop/api:1.4.0", f"{host}/team-x/worker:1.0.0", f"{host}/shop/api:1.3.0"):
        dockerd.pull(ref)
    return [
        dockerd.run(f"{host}/shop/api:1.4.0", name="vulns-api"),
        dockerd.run(f"{host}/team-x/worker:1.0.0", name="vulns-worker"),
        dockerd.create_container(f"{host}/shop/api:1.3.0", name="vulns-api-old"),  # created, never started
    ]


def _crawl(
    estate: Estate, registry: RegistryServer, dockerd: DockerDaemon, seeder: Seeder, workdir: Path
) -> None:
    tags = seeder.tagged()
    estate.digests = {f"{repo}:{tag}": digest for (repo, tag), digest in tags.items()}
    web = estate.digests["shop/web:2.1.0"]
    pod = make_pod(
        "web-0",
        namespace="shop",
        containers=[
            ("web", f"{registry.host}/shop/web:2.1.0", f"docker-pullable://{registry.host}/shop/web@{web}")
        ],
    )
    (workdir / "kev.json").write_text(json.dumps(KEV))
    (workdir / "epss.csv").write_text(EPSS_CSV)
    fake = FakePortainer(
        users=[FakeUser(1, "admin", api_keys=(API_KEY,))],
        environments=[
            FakeEnvironment.docker(1, "prod-eu", socket=str(dockerd.socket_path)),
            FakeEnvironment.kubernetes(2, "staging", pods=[pod]),
        ],
    )
    with fake:
        estate.config.write_text(
            f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n"
            f"registries:\n  - name: local\n    url: {registry.url}\n"
            "environments:\n  production: ['prod-*']\n"
            f"vulns:\n  kev: {workdir / 'kev.json'}\n  epss: {workdir / 'epss.csv'}\n"
            "  approved_bases: ['docker.io/library/debian:13-slim']\n"
            "  max_report_bytes: 2000000\n"
        )
        done = regent("inventory", "--json", state=estate.template, config=estate.config)
    if done.returncode != 0:
        raise RuntimeError(f"regent inventory failed: {done.stderr}\n{done.stdout[-2000:]}")


def _write_reports(estate: Estate, http: httpx.Client) -> None:
    host, url = estate.registry.host, estate.registry.url

    def scan(ref: str, platform: str = "linux/amd64") -> ScannedImage:
        image = read_image(http, url, host, f"{host}/{ref}", platform=platform)
        estate.scanned[ref + ("" if platform == "linux/amd64" else f" {platform}")] = image
        return image

    api14 = scan("shop/api:1.4.0")
    _write(estate.reports / "shop-api-1.4.0.trivy.json", trivy_report(api14, API_14))
    _write(estate.reports / "grype" / "shop-api-1.4.0.grype.json", grype_report(api14, API_14_GRYPE))
    api12 = scan(f"shop/api@{estate.digests['shop/api:1.2.0']}")
    _write(estate.reports / "grype" / "shop-api-1.2.0.grype.json", grype_report(api12, API_12))
    base = scan("platform/base:alpine-3.19.1")
    _write(estate.reports / "base-alpine-3.19.1.trivy.json", trivy_report(base, BASE_3191))
    worker = scan("team-x/worker:1.0.0")
    _write(estate.reports / "worker-amd64.trivy.json", trivy_report(worker, WORKER_AMD64))
    arm = scan("team-x/worker:1.0.0", platform="linux/arm64")
    arm_by_digest = read_image(http, url, host, f"{host}/team-x/worker@{arm.manifest_digest}")
    _write(estate.reports / "grype" / "worker-arm64.grype.json", grype_report(arm_by_digest, WORKER_ARM64))
    web = scan(f"shop/web@{estate.digests['shop/web:2.1.0']}")
    _write(estate.reports / "shop-web-2.1.0.trivy.json", trivy_report(web, WEB, os_name="debian 12.8"))
    _write(estate.reports / "debian-13-slim.trivy.json", _hub_report())


def _hub_report() -> dict[str, Any]:
    """Trivy on docker.io/library/debian:13-slim (pulled from Docker Hub, not in the inventory): clean."""
    config = (
        b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:'
        + b"d" * 64
        + b'"]}}'
    )
    image = ScannedImage(
        host="docker.io",
        repository="library/debian",
        reference="docker.io/library/debian:13-slim",
        top_digest="sha256:" + "e" * 64,
        manifest_digest="sha256:" + "f" * 64,
        manifest=b"{}",
        config=config,
        layers=[
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "sha256:" + "c" * 64,
                "size": 30,
            }
        ],
        diff_ids=["sha256:" + "d" * 64],
        platform=("linux", "amd64"),
        tag="13-slim",
        config_doc=json.loads(config),
    )
    return trivy_report(image, [], os_name="debian 13.1")


def _write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
