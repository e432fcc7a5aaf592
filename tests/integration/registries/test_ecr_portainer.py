"""End to end: an ECR record in Portainer (only key, secret, region) inventoried by `regent inventory`.

The fake Portainer (CE) holds a type-7 record whose URL is the fake ECR's v2 endpoint; `regent inventory
--json` runs as a subprocess with AWS_ENDPOINT_URL_ECR pointing botocore at moto, as an operator would
point it at a VPC endpoint. The counts, bytes and clocks must be exactly what was seeded.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from pathlib import Path

import httpx
import moto.settings
import pytest

from bot.demo.registry_server import RegistryServer
from tests.cli import run_regent
from tests.fakes.ecr import ACCESS_KEY, REGION, REGISTRY_PASSWORD, SECRET_KEY, MotoEcr, ecr_front
from tests.fakes.portainer import FakePortainer
from tests.fakes.portainer_records import FakeRegistry, FakeUser
from tests.integration.registries.clocks_shown import assert_clocks_shown
from tests.integration.registries.ecr_support import ecr_blobs, make_seed, moto_ecr

__all__ = ["ecr_blobs", "moto_ecr"]  # fixtures, imported for pytest

pytestmark = pytest.mark.real

API_KEY = "ptr_ecr-inventory-test-key-001"
WRONG_SECRET = "wrong-secret-9f3kq"


def regent_through_portainer(
    front_url: str,
    moto_ecr: MotoEcr,
    tmp_path: Path,
    *args: str,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
) -> subprocess.CompletedProcess[str]:
    """Run `regent ARGS` against a Portainer CE whose only registry is an ECR record (type 7) holding
    nothing but an access key, a secret and a region; no AWS config or credentials file is read."""
    record = FakeRegistry(
        7, "aws", front_url, type=7, username=access_key, password=secret, ecr_region=REGION
    )
    users = [FakeUser(1, "admin", password="admin-pw-ecr", api_keys=(API_KEY,))]
    with FakePortainer(edition="CE", users=users, registries=[record], environments=[]) as fake:
        config = tmp_path / "regent.yml"
        config.write_text(f"portainer:\n  url: {fake.url}\n  registry_scheme: http\n")
        env = {
            "PORTAINER_API_KEY": API_KEY,
            "REGENT_CONFIG": str(config),
            "AWS_ENDPOINT_URL_ECR": moto_ecr.url,
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        }
        return run_regent(*args, state=tmp_path, env=env)


def test_portainer_ecr_record_is_inventoried_with_ecr_clocks(
    moto_ecr: MotoEcr, ecr_blobs: RegistryServer, http_client: httpx.Client, tmp_path: Path
) -> None:
    seed = make_seed(ecr_blobs, moto_ecr, http_client)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
    app = seed.push("team/app", ["1.0", "latest"])
    app2 = seed.push("team/app", ["2.0"], layer_size=3000)
    web = seed.push("team/web", ["1.0"])
    with ecr_front(ecr_blobs.url, seed.ecr) as front:
        done = regent_through_portainer(front.url, moto_ecr, tmp_path, "inventory", "--json")
        catalog_reads = front.count("GET", "/v2/_catalog")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    (registry,) = out["registries"]
    assert (registry["repositories"], registry["tags"], registry["manifests"]) == (2, 4, 3)
    assert registry["stored_bytes"] == seed.stored_bytes()
    assert catalog_reads == 0  # listed by DescribeRepositories
    assert (registry["push_clock"], registry["pull_clock"]) == (
        "ECR imagePushedAt",
        "ECR lastRecordedPullTime",
    )
    native = registry["native"]
    assert set(native) == {app.digest, app2.digest, web.digest}
    for digest, built in ((app.digest, app), (app2.digest, app2), (web.digest, web)):
        pushed = dt.datetime.fromisoformat(native[digest]["pushed"])
        assert start <= pushed <= dt.datetime.now(dt.UTC)
        assert native[digest]["size"] == built.config.size  # moto: imageSizeInBytes is the config's size
    # moto records no lastRecordedPullTime: ECR's pull clock exists, this image has no time by it
    pushed_at = dt.datetime.fromisoformat(native[app.digest]["pushed"])
    assert_clocks_shown(
        tmp_path,
        digest=app.digest,
        repository="team/app",
        tag="1.0",
        pushed=pushed_at,
        push_origin="ECR imagePushedAt",
        pull_origin="ECR lastRecordedPullTime",
    )
    leaked = done.stdout + done.stderr
    assert SECRET_KEY not in leaked and REGISTRY_PASSWORD not in leaked and API_KEY not in leaked


def test_wrong_aws_keys_in_portainer_are_a_clear_error_of_that_registry(
    moto_ecr: MotoEcr,
    ecr_blobs: RegistryServer,
    http_client: httpx.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed = make_seed(ecr_blobs, moto_ecr, http_client)
    seed.push("team/app", ["1.0"])
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto checks keys from now on
    with ecr_front(ecr_blobs.url, seed.ecr) as front:
        done = regent_through_portainer(
            front.url,
            moto_ecr,
            tmp_path,
            "inventory",
            "--json",
            access_key="AKIAWRONGKEY00000000",
            secret=WRONG_SECRET,
        )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (registry,) = json.loads(done.stdout)["registries"]
    assert registry["partial"] and registry["repositories"] == 0
    assert registry["errors"] == [
        "aws: catalog failed: AWS rejected the ECR access key (InvalidClientTokenId) in eu-west-1: "
        "check the access key id and secret"
    ]
    assert WRONG_SECRET not in done.stdout + done.stderr


def test_regent_plan_exports_ecr_lifecycle_for_the_portainer_record(
    moto_ecr: MotoEcr, ecr_blobs: RegistryServer, http_client: httpx.Client, tmp_path: Path
) -> None:
    """`regent plan --export ecr-lifecycle --json`: the plan, the document, moto's missing preview said."""
    seed = make_seed(ecr_blobs, moto_ecr, http_client)
    pushed = []
    for n in range(3):
        pushed.append(seed.push("team/app", [f"1.{n}"]))
        time.sleep(1.1)  # imagePushedAt has whole seconds: distinct push times, a defined newest
    policy = tmp_path / "policies.yml"
    policy.write_text(
        "policies:\n  - name: newest\n    repositories: ['team/**']\n    clock: pushed\n"
        "    keep:\n      - most_recent: 1\n    delete:\n      - all: true\n"
    )
    args = ("plan", "--policy", str(policy), "--export", "ecr-lifecycle", "--json")
    with ecr_front(ecr_blobs.url, seed.ecr) as front:
        done = regent_through_portainer(front.url, moto_ecr, tmp_path, *args)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert sorted(item["digest"] for item in result["items"]) == sorted(p.digest for p in pushed[:2])
    export = result["export"]
    (rule,) = export["documents"]["team/app"]["rules"]
    assert rule["selection"] == {
        "tagStatus": "tagged",
        "tagPatternList": ["*"],
        "countType": "imageCountMoreThan",
        "countNumber": 1,
    }
    assert export["differences"] == []  # ECR would expire the same two images
    # moto has no lifecycle preview (500 NotImplemented): the export stands, the preview says why not
    assert export["previews"] == []
    assert export["preview_error"] == "ECR StartLifecyclePolicyPreview in eu-west-1 failed: HTTP 500"
    assert SECRET_KEY not in done.stdout + done.stderr
