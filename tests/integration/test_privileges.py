"""Least privilege: the start-up check and `regent doctor` against the real registry and a fake Portainer.

The delete probe is a DELETE of the all-zero digest. These tests pin what the real distribution 2.8
answers (404 MANIFEST_UNKNOWN with deletes on, 405 UNSUPPORTED with deletes off, 401 for a pull-only
token) and that the probe never sends any other digest and never changes the registry.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.app import App, build_app
from bot.commands.doctor import apply_findings, check_privileges
from bot.config import Secrets, Settings
from bot.demo.registry_server import RegistryServer
from bot.demo.seed import BearerAuth, ImageSpec
from tests.cli import run_regent
from tests.conftest import TEST_USERS, SeederFactory, need_binary
from tests.fakes.portainer import FakePortainer, FakeRegistry, FakeUser
from tests.fakes.portainer_records import FakeEnvironment, FakeRegistryAccess
from tests.fakes.token_server import TokenServer
from tools.errors import ImageReferenceError
from tools.inventory.models import RegistrySource
from tools.privileges.checks import Finding, check_registry, exit_code
from tools.registry.client import PROBE_DIGEST, RegistryClient

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
STANDARD = 2


def _push(make_seeder: SeederFactory, server: RegistryServer, auth: httpx.Auth | None = None) -> None:
    seeder = make_seeder(server, auth=auth)
    for tag, days in (("1.0", 400), ("2.0", 1)):
        created = NOW - dt.timedelta(days=days)
        seeder.push_image(ImageSpec(repository="shop/api", tag=tag, created=created, extra_layer_seed=tag))


def _runtime(tmp_path: Path, settings: dict[str, object], secrets: Secrets | None = None) -> App:
    return build_app(
        settings=Settings.model_validate(settings), secrets=secrets or Secrets(), state_dir=tmp_path / "state"
    )


def _levels(findings: list[Finding], subject: str) -> list[str]:
    return [f.level for f in findings if f.subject == subject]


def _messages(findings: list[Finding]) -> str:
    return "\n".join(f.line() for f in findings)


@pytest.fixture
def no_delete_registry() -> Iterator[RegistryServer]:
    binary = need_binary("docker-registry", "docker-registry")
    with RegistryServer(binary=binary, delete_enabled=False) as server:
        yield server


def test_the_probe_sends_only_the_all_zero_digest() -> None:
    seen: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]})

    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        client = RegistryClient("http://registry.test", http=http)
        probe = client.probe_delete("shop/api")
        with pytest.raises(ImageReferenceError):  # a crafted name never reaches the wire
            client.probe_delete("../../api/users?x=")
    assert PROBE_DIGEST == "sha256:" + "0" * 64
    assert seen == [("DELETE", f"/v2/shop/api/manifests/{PROBE_DIGEST}")]
    assert (probe.status, probe.code) == (404, "MANIFEST_UNKNOWN")


def test_all_good_deletes_allowed_and_nothing_changes(
    registry: RegistryServer, make_seeder: SeederFactory, http_client: httpx.Client
) -> None:
    _push(make_seeder, registry)
    client = RegistryClient(registry.url, http=http_client)
    before = {tag: client.head_manifest("shop/api", tag) for tag in ("1.0", "2.0")}
    found = check_registry(RegistrySource(name="local", url=registry.url), client, mode="cleanup")
    assert [f.level for f in found] == ["ok", "ok"], _messages(found)
    assert "404 MANIFEST_UNKNOWN" in found[1].message
    assert client.requests["DELETE"] == 1
    after = {tag: client.head_manifest("shop/api", tag) for tag in ("1.0", "2.0")}
    assert after == before and sorted(client.list_tags("shop/api", fresh=True)) == ["1.0", "2.0"]


def test_deletes_disabled_is_a_warning_in_cleanup_mode_and_not_probed_in_read_only(
    no_delete_registry: RegistryServer, make_seeder: SeederFactory, http_client: httpx.Client
) -> None:
    _push(make_seeder, no_delete_registry)
    source = RegistrySource(name="nodelete", url=no_delete_registry.url)
    client = RegistryClient(no_delete_registry.url, http=http_client)
    found = check_registry(source, client, mode="cleanup")
    assert [f.level for f in found] == ["ok", "warning"]
    assert "405 UNSUPPORTED" in found[1].message and "proposals for it will fail" in found[1].message
    assert "mode: read-only" in found[1].hint and exit_code(found) == 1
    quiet = RegistryClient(no_delete_registry.url, http=http_client)
    read_only = check_registry(source, quiet, mode="read-only")
    assert [f.level for f in read_only] == ["ok", "ok"] and quiet.requests["DELETE"] == 0


def test_a_pull_only_token_cannot_delete(http_client: httpx.Client, make_seeder: SeederFactory) -> None:
    binary = need_binary("docker-registry", "docker-registry")
    users = TEST_USERS | {"reader": "pull-only-pw"}
    with (
        TokenServer(users, actions={"reader": {"pull"}}) as tokens,
        RegistryServer(binary=binary, auth="token", token_realm=tokens.realm) as server,
    ):
        tokens.registry = server
        push = server.mint_token([{"type": "repository", "name": "shop/api", "actions": ["pull", "push"]}])
        _push(make_seeder, server, auth=BearerAuth(push))
        source = RegistrySource(name="tokened", url=server.url)
        reader = RegistryClient(server.url, http=http_client, username="reader", password="pull-only-pw")
        found = check_registry(source, reader, mode="cleanup")
        assert [f.level for f in found] == ["ok", "warning"], _messages(found)
        assert found[1].message.startswith("the credentials may not delete (401")
        assert tokens.issued["repository:shop/api:delete"] == 1  # the probe asked for exactly that scope
        writer = RegistryClient(server.url, http=http_client, username="alice", password="s3cret")
        assert [f.level for f in check_registry(source, writer, mode="cleanup")] == ["ok", "ok"]


def test_wrong_registry_password_is_an_error(
    registry_htpasswd: RegistryServer, http_client: httpx.Client
) -> None:
    client = RegistryClient(registry_htpasswd.url, http=http_client, username="alice", password="nope-pw")
    found = check_registry(RegistrySource(name="h", url=registry_htpasswd.url), client, mode="cleanup")
    assert [f.level for f in found] == ["error"] and "read refused (401)" in found[0].message
    assert "nope-pw" not in _messages(found)


def test_ce_standard_user_cannot_list_registries(tmp_path: Path, registry: RegistryServer) -> None:
    user = FakeUser(2, "reader", role=STANDARD)
    with FakePortainer(
        edition="CE", users=[FakeUser(1, "admin"), user], registries=[FakeRegistry(1, "local", registry.url)]
    ) as portainer:
        secrets = Secrets.model_validate({"portainer_api_key": user.api_keys[0]})
        runtime = _runtime(tmp_path, {"portainer": {"url": portainer.url}}, secrets)
        try:
            found = check_privileges(runtime)
        finally:
            runtime.close()
    subject = f"portainer {portainer.url}"
    assert "error" in _levels(found, subject) and exit_code(found) == 2
    text = _messages(found)
    assert "answered 403" in text and "administrators only" in text
    assert "sees only the environments it is authorized for" in text  # cleanup mode: a warning
    assert user.api_keys[0] not in text


def test_be_reaches_the_registry_through_the_proxy_with_a_service_account_login(
    tmp_path: Path, registry: RegistryServer
) -> None:
    with FakePortainer(edition="BE", registries=[FakeRegistry(1, "local", registry.url)]) as portainer:
        secrets = Secrets.model_validate(
            {
                "portainer_api_key": portainer.admin.api_keys[0],
                "portainer_proxy_username": "admin",
                "portainer_proxy_password": portainer.admin.password,
            }
        )
        runtime = _runtime(tmp_path, {"portainer": {"url": portainer.url}}, secrets)
        try:
            found = check_privileges(runtime)
        finally:
            runtime.close()
        deletes = [path for method, path in portainer.log if method == "DELETE"]
    text = _messages(found)
    assert exit_code(found) == 0, text
    assert "BE; key of 'admin' (administrator)" in text
    assert "registry proxy requests carry a JWT from 'admin''s login" in text
    assert "an administrator's key can read every registry's credentials" in text
    assert "read works through Portainer's proxy" in text
    assert deletes == [f"/api/registries/1/v2/regent-delete-probe/manifests/{PROBE_DIGEST}"]


def test_doctor_reports_the_registry_proxy_choice(tmp_path: Path, registry: RegistryServer) -> None:
    """The API key through the proxy is an explicit, warned-about choice; no login: registries unread."""
    with FakePortainer(edition="BE", registries=[FakeRegistry(1, "local", registry.url)]) as portainer:
        secrets = Secrets.model_validate({"portainer_api_key": portainer.admin.api_keys[0]})
        found: dict[str, list[Finding]] = {}
        for choice in ("api-key", "login", "direct"):
            config = {"url": portainer.url, "registry_proxy_auth": choice, "registry_scheme": "http"}
            settings: dict[str, object] = {"portainer": config}
            runtime = _runtime(tmp_path / choice, settings, secrets)
            try:
                found[choice] = check_privileges(runtime)
            finally:
                runtime.close()
    subject = f"portainer {portainer.url}"
    opted_in = _messages(found["api-key"])
    assert "WARNING " + subject + ": the API key is sent through the registry proxy" in opted_in
    assert "X-API-Key may be forwarded to every registry" in opted_in and exit_code(found["api-key"]) == 1
    assert "read works through Portainer's proxy" in opted_in
    unread = _messages(found["login"])
    assert "no service account for the registry proxy" in unread and "registry local" not in unread
    direct = _messages(found["direct"])
    assert "the registry proxy is not used (registry_proxy_auth: direct)" in direct
    assert "registry local: read works (" in direct  # straight to the registry, no proxy


def test_a_refusing_registry_is_named_on_the_proposal(
    tmp_path: Path, no_delete_registry: RegistryServer, make_seeder: SeederFactory
) -> None:
    _push(make_seeder, no_delete_registry)
    runtime = _runtime(tmp_path, {"registries": [{"name": "nodelete", "url": no_delete_registry.url}]})
    try:
        runtime.refresh_snapshot()
        apply_findings(runtime, check_privileges(runtime))
        policy = {"repositories": ["**"], "keep_most_recent": 1, "delete_older_than_days": 90}
        outcome = runtime.toolbox.call(
            "propose_retention_cleanup", json.dumps({"policy": policy}), user="U1", conversation="c"
        )
        result = json.loads(outcome.content)
        assert result["status"] == "proposed", result
        assert "registry nodelete: the registry refuses deletes (405" in result["message"]
        (proposal,) = runtime.proposals.pending()
        plan = runtime.plans.get(proposal.plan_id)
        assert any("refuses deletes" in w for w in plan.warnings)
    finally:
        runtime.close()


def test_regent_doctor_exit_codes(
    tmp_path: Path, registry: RegistryServer, no_delete_registry: RegistryServer
) -> None:
    good = run_regent("doctor", "--registry", registry.url, state=tmp_path / "a")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OK      registry 127.0.0.1" in good.stdout and "deletes allowed" in good.stdout
    warned = run_regent("doctor", "--registry", no_delete_registry.url, "--json", state=tmp_path / "b")
    assert warned.returncode == 1, warned.stderr
    report = json.loads(warned.stdout)
    levels = [f["level"] for f in report["findings"]]
    assert report["mode"] == "cleanup" and levels == ["ok", "ok", "ok", "warning"]
    # which adapter reads it and what its API gives (#13): a plain registry is v2 with no clocks
    assert report["findings"][1]["message"].startswith("kind custom (Custom (CNCF distribution)): listing")
    assert "push clock: none; pull clock: none" in report["findings"][1]["message"]
    config = tmp_path / "regent.yml"
    config.write_text("mode: read-only\n")
    calm = run_regent(
        "doctor", "--config", str(config), "--registry", no_delete_registry.url, state=tmp_path / "c"
    )
    assert calm.returncode == 0, calm.stdout
    assert "read-only mode: delete permission is not needed" in calm.stdout
    down = run_regent("doctor", "--registry", "http://127.0.0.1:9", state=tmp_path / "d")
    assert down.returncode == 2 and "ERROR" in down.stdout


def test_be_standard_user_reads_registries_through_an_environment_it_may_use(
    tmp_path: Path, registry: RegistryServer
) -> None:
    user = FakeUser(2, "reader", role=STANDARD)
    granted = {7: FakeRegistryAccess(user_ids=frozenset({2}))}  # RegistryAccesses[7]
    with FakePortainer(
        edition="BE",
        users=[FakeUser(1, "admin"), user],
        registries=[FakeRegistry(1, "local", registry.url, accesses=granted)],
        environments=[FakeEnvironment.docker(7, "prod", socket=None, user_ids=frozenset({2}))],
    ) as portainer:
        secrets = Secrets.model_validate(
            {
                "portainer_api_key": user.api_keys[0],
                "portainer_proxy_username": "reader",
                "portainer_proxy_password": user.password,
            }
        )
        runtime = _runtime(tmp_path, {"portainer": {"url": portainer.url}}, secrets)
        try:
            found = check_privileges(runtime)
        finally:
            runtime.close()
        proxied = [path for method, path in portainer.log if path.startswith("/api/registries/1/v2")]
    assert proxied and _levels(found, "registry local")[0] == "ok", _messages(found)
    assert portainer.count("/api/endpoints/7/registries") >= 1


def test_regent_chat_shows_the_findings_before_the_prompt(
    tmp_path: Path, no_delete_registry: RegistryServer
) -> None:
    llm = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-test", "REGENT_MODEL": "fake"}
    done = run_regent(
        "chat", "--registry", no_delete_registry.url, state=tmp_path / "s", env=llm, stdin="exit\n"
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING registry 127.0.0.1" in done.stderr and "refuses deletes (405 UNSUPPORTED)" in done.stderr


def test_regent_serve_logs_the_findings_and_serves_anyway(
    tmp_path: Path, no_delete_registry: RegistryServer
) -> None:
    from tests.fakes.slack_api import FakeSlackApi

    config = tmp_path / "regent.yml"
    config.write_text(f"registries: [{{name: nodelete, url: '{no_delete_registry.url}'}}]\n")
    with FakeSlackApi() as fake:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "REGENT_STATE_DIR": str(tmp_path / "state"),
            "REGENT_CONFIG": str(config),
            "SLACK_BOT_TOKEN": "xoxb-privileges-test",
            "SLACK_SIGNING_SECRET": "signing-secret-for-test",
            "SLACK_API_URL": fake.api_url,
        }
        regent = Path(sys.executable).with_name("regent")
        process = subprocess.Popen(
            [str(regent), "serve", "--host", "127.0.0.1", "--port", "0"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []
        stream = process.stderr
        assert stream is not None
        reader = threading.Thread(target=lambda: lines.extend(iter(stream.readline, "")), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                text = "".join(lines)
                if "health on" in text and "WARNING registry nodelete" in text:
                    break
                assert process.poll() is None, text
                time.sleep(0.05)
            text = "".join(lines)
            assert "health on http://127.0.0.1:" in text
            assert "regent: WARNING registry nodelete: the registry refuses deletes (405 UNSUPPORTED)" in text
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
