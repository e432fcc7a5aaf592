"""A real CNCF distribution registry (Debian's docker-registry) on a free loopback port, for tests.

See /work/shared/reference/real-registry.md for the behaviour this relies on.
"""

from __future__ import annotations

import atexit
import base64
import datetime as dt
import http.client
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import jwt
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bot.demo.binaries import require_binary, tail_of, terminate

AuthMode = Literal["none", "htpasswd", "token"]

TOKEN_SERVICE = "regent-test-registry"
TOKEN_ISSUER = "regent-test-issuer"
HTPASSWD_REALM = "regent-test-realm"
# Only echoed in the 401 challenge: tokens are minted in-process, no token server exists.
TOKEN_REALM = "http://127.0.0.1:1/token"

_GC_SUMMARY = re.compile(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion")
_GC_ELIGIBLE = re.compile(r"(blob|manifest) eligible for deletion: (sha256:[0-9a-f]{64})")


@dataclass(frozen=True, slots=True)
class GcResult:
    """What `docker-registry garbage-collect` reported (real and dry runs print the same)."""

    dry_run: bool
    blobs_marked: int
    blobs_eligible: int
    manifests_eligible: int
    eligible_blobs: tuple[str, ...]
    eligible_manifests: tuple[str, ...]
    output: str


def parse_gc_output(output: str, *, dry_run: bool) -> GcResult:
    """Parse the stdout of `docker-registry garbage-collect`."""
    summary = _GC_SUMMARY.search(output)
    if summary is None:
        raise RuntimeError(f"unexpected garbage-collect output:\n{output[-2000:]}")
    blobs: list[str] = []
    manifests: list[str] = []
    for kind, digest in _GC_ELIGIBLE.findall(output):
        (blobs if kind == "blob" else manifests).append(digest)
    return GcResult(
        dry_run=dry_run,
        blobs_marked=int(summary.group(1)),
        blobs_eligible=int(summary.group(2)),
        manifests_eligible=int(summary.group(3)),
        eligible_blobs=tuple(blobs),
        eligible_manifests=tuple(manifests),
        output=output,
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RegistryServer:
    """docker-registry serving a temp dir on 127.0.0.1; a context manager that never outlives its test."""

    def __init__(
        self,
        *,
        auth: AuthMode = "none",
        users: dict[str, str] | None = None,
        readonly: bool = False,
        delete_enabled: bool = True,
        notifications: list[dict[str, Any]] | None = None,
        root: Path | None = None,
        binary: str | None = None,
        start_timeout: float = 10.0,
        token_realm: str = TOKEN_REALM,
        access_log: bool = False,
    ) -> None:
        self._binary = binary or require_binary("docker-registry", "docker-registry")
        self._token_realm = token_realm
        self._auth: AuthMode = auth
        self._users = dict(users or {})
        self.readonly = readonly
        self.delete_enabled = delete_enabled  # storage.delete.enabled; False: DELETE answers 405 UNSUPPORTED
        self._notifications = list(notifications or [])
        self._access_log = access_log  # one line per request in log_path: what tests count requests by
        self._start_timeout = start_timeout
        self._workdir = Path(tempfile.mkdtemp(prefix="regent-registry-"))
        self._data_dir = root if root is not None else self._workdir / "data"
        self._port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._started = False
        self._signing_key: rsa.RSAPrivateKey | None = None
        self._cert_der: bytes | None = None
        try:
            if auth == "htpasswd":
                self._write_htpasswd()
            elif auth == "token":
                self._write_token_cert()
        except BaseException:
            shutil.rmtree(self._workdir, ignore_errors=True)
            raise

    # -- properties -------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the registry part of an image reference."""
        return f"127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        """Base URL, `http://127.0.0.1:PORT`."""
        return f"http://{self.host}"

    @property
    def data_dir(self) -> Path:
        """The storage root directory (pass it as `root` to another server to reuse the data)."""
        return self._data_dir

    @property
    def pid(self) -> int | None:
        """PID of the running registry process, or None when stopped."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the registry process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """The notification endpoints (distribution's `notifications.endpoints`); change them, then
        restart(), e.g. `disabled: true` to stop notifying while keeping the port and data."""
        return self._notifications

    @property
    def config_path(self) -> Path:
        """The generated config.yml."""
        return self._workdir / "config.yml"

    @property
    def log_path(self) -> Path:
        """The registry's combined stdout/stderr."""
        return self._workdir / "registry.log"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Write the config, start the registry and wait until `/v2/` answers."""
        if self.running:
            return
        self._data_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            self._write_config()
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [self._binary, "serve", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            atexit.register(self.stop)
            try:
                self._wait_ready()
            except BaseException:
                self.stop()
                # free_port() races with other processes; a first start may move, a restart may not.
                if attempt < 2 and not self._started and "address already in use" in self.log_tail():
                    self._port = free_port()
                    continue
                raise
            self._started = True
            return

    def stop(self) -> None:
        """SIGTERM the registry by PID and wait (SIGKILL after 5 s); the data dir stays."""
        if self._process is not None:
            terminate(self._process, timeout=5)
            self._process = None
        atexit.unregister(self.stop)

    def restart(self, *, readonly: bool | None = None) -> None:
        """Stop and start again on the same port and data, optionally switching read-only mode."""
        self.stop()
        if readonly is not None:
            self.readonly = readonly
        self.start()

    def close(self) -> None:
        """Stop the registry and delete the temp dir (a caller-provided `root` is kept)."""
        self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def log_tail(self, *, lines: int = 20) -> str:
        """The last lines of the registry log, for error messages."""
        return tail_of(self.log_path, lines=lines)

    # -- storage ----------------------------------------------------------------------------------

    def garbage_collect(self, *, dry_run: bool = False, delete_untagged: bool = False) -> GcResult:
        """Run `garbage-collect` offline (stopping and restarting a running registry) and parse it."""
        # GC under a running registry leaves stale blob state behind (reference: GC pitfall 2).
        if not (self._data_dir / "docker" / "registry" / "v2" / "repositories").is_dir():
            # garbage-collect fails with "Path not found" on a store nothing was ever pushed to.
            return GcResult(dry_run, 0, 0, 0, (), (), "")
        was_running = self.running
        self.stop()
        self._write_config()
        args = [self._binary, "garbage-collect"]
        if dry_run:
            args.append("--dry-run")
        if delete_untagged:
            args.append("--delete-untagged")
        args.append(str(self.config_path))
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        finally:
            if was_running:
                self.start()
        if done.returncode != 0:
            raise RuntimeError(f"garbage-collect failed ({done.returncode}):\n{done.stderr[-2000:]}")
        return parse_gc_output(done.stdout, dry_run=dry_run)

    def blob_bytes_on_disk(self) -> int:
        """Sum of the blob `data` files (layers, configs and manifests) in the storage root."""
        blobs = self._data_dir / "docker" / "registry" / "v2" / "blobs"
        if not blobs.is_dir():
            return 0
        return sum(path.stat().st_size for path in blobs.rglob("data") if path.is_file())

    # -- token auth -------------------------------------------------------------------------------

    def mint_token(
        self, access: list[dict[str, Any]], *, expires_in: int = 300, audience: str | None = None
    ) -> str:
        """Mint an RS256 bearer token the registry trusts; the registry allows 60 s of clock leeway."""
        if self._signing_key is None or self._cert_der is None:
            raise RuntimeError("mint_token needs a RegistryServer started with auth='token'")
        now = int(time.time())
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": "regent-test",
            "aud": audience or TOKEN_SERVICE,
            "iat": now,
            "nbf": min(now, now + expires_in) - 1,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        headers = {"x5c": [base64.b64encode(self._cert_der).decode()]}
        return jwt.encode(claims, self._signing_key, algorithm="RS256", headers=headers)

    # -- internals --------------------------------------------------------------------------------

    def _write_config(self) -> None:
        # No storage.cache section: an in-memory blob descriptor cache answers HEAD 200 for blobs that
        # garbage-collect removed (reference: GC pitfall 2).
        storage: dict[str, Any] = {
            "filesystem": {"rootdirectory": str(self._data_dir.resolve())},
            "delete": {"enabled": self.delete_enabled},
            "maintenance": {
                "uploadpurging": {"enabled": False},
                "readonly": {"enabled": self.readonly},
            },
        }
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": not self._access_log}},
            "storage": storage,
            "http": {"addr": self.host, "secret": "regent-test-only-secret"},
        }
        auth = self._auth_config()
        if auth:
            config["auth"] = auth
        if self._notifications:
            config["notifications"] = {"endpoints": self._notifications}
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def _auth_config(self) -> dict[str, Any]:
        if self._auth == "htpasswd":
            return {"htpasswd": {"realm": HTPASSWD_REALM, "path": str(self._workdir / "htpasswd")}}
        if self._auth == "token":
            return {
                "token": {
                    "realm": self._token_realm,
                    "service": TOKEN_SERVICE,
                    "issuer": TOKEN_ISSUER,
                    "rootcertbundle": str(self._workdir / "token.crt"),
                }
            }
        return {}

    def _write_htpasswd(self) -> None:
        # The registry accepts bcrypt entries only; apr1/MD5 users always get 401.
        htpasswd = require_binary("htpasswd", "apache2-utils")
        lines = []
        for user, password in self._users.items():
            done = subprocess.run(
                [htpasswd, "-Bbn", user, password], capture_output=True, text=True, check=True
            )
            lines.append(done.stdout.strip())
        (self._workdir / "htpasswd").write_text("\n".join(lines) + "\n")

    def _write_token_cert(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TOKEN_ISSUER)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        (self._workdir / "token.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._signing_key = key
        self._cert_der = cert.public_bytes(serialization.Encoding.DER)

    def _wait_ready(self) -> None:
        # http.client, not httpx: an httpx.Client costs ~0.3 s CPU to build its SSL context.
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                raise RuntimeError(f"docker-registry exited ({code}) on start:\n{self.log_tail()}")
            if self._probe() in (200, 401):
                return
            time.sleep(0.01)
        raise RuntimeError(
            f"docker-registry not ready on {self.url} after {self._start_timeout} s:\n{self.log_tail()}"
        )

    def _probe(self) -> int | None:
        conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=1)
        try:
            conn.request("GET", "/v2/")
            return conn.getresponse().status
        except OSError:
            return None
        finally:
            conn.close()
