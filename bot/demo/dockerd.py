"""A private Debian dockerd (own socket, data-root, exec-root, containerd namespace) for tests.

See /work/shared/reference/real-registry.md section 6. Talks to the Engine API over the unix socket with
httpx; only what tests need (pull, create, start, stop, remove, list).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from bot.demo.binaries import require_binary, tail_of, terminate
from bot.errors import EngineError

API_VERSION = "v1.41"


def split_reference(reference: str) -> tuple[str, str]:
    """Split `host:port/repo:tag` or `host:port/repo@sha256:…` into (name, tag or digest)."""
    if "@" in reference:
        name, _, digest = reference.partition("@")
        return name, digest
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, "latest"


class DockerDaemon:
    """dockerd in the foreground on a private socket; a context manager that leaves nothing behind."""

    def __init__(
        self,
        *,
        insecure_registries: list[str] | None = None,
        binary: str | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        self._binary = binary or require_binary("dockerd", "docker.io")
        self._insecure = list(insecure_registries or [])
        self._start_timeout = start_timeout
        # Short on purpose: unix socket paths (containerd's too, under exec-root) max out at 108 bytes.
        self._root = Path(tempfile.mkdtemp(prefix="rd", dir="/tmp"))
        self._namespace = f"regent-{uuid.uuid4().hex[:10]}"
        self._process: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None

    @property
    def socket_path(self) -> Path:
        """The daemon's API socket."""
        return self._root / "d.sock"

    @property
    def docker_host(self) -> str:
        """`unix://<socket>`, for DOCKER_HOST or a Portainer endpoint URL."""
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        """PID of dockerd while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def log_path(self) -> Path:
        """dockerd's combined stdout/stderr."""
        return self._root / "dockerd.log"

    @property
    def client(self) -> httpx.Client:
        """An httpx client on the socket whose base URL is `http://docker/v1.41`."""
        if self._client is None:
            raise RuntimeError("DockerDaemon is not started")
        return self._client

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start dockerd (which starts its own containerd) and wait for `/_ping`."""
        if self._process is not None:
            return
        for needed, package in (("containerd", "containerd"), ("runc", "runc")):
            require_binary(needed, package)
        config = self._root / "daemon.json"
        config.write_text("{}\n")  # so /etc/docker/daemon.json cannot leak in
        args = [
            self._binary,
            f"--host=unix://{self.socket_path}",
            f"--config-file={config}",
            f"--data-root={self._root / 'data'}",
            f"--exec-root={self._root / 'x'}",
            f"--pidfile={self._root / 'd.pid'}",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            f"--containerd-namespace={self._namespace}",
            f"--containerd-plugins-namespace={self._namespace}-plugins",
            # Raising limits fails without CAP_SYS_RESOURCE (reference section 6).
            "--default-ulimit=nofile=1024:1024",
        ]
        args += [f"--insecure-registry={registry}" for registry in self._insecure]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        atexit.register(self.stop)
        transport = httpx.HTTPTransport(uds=str(self.socket_path), verify=False)
        self._client = httpx.Client(transport=transport, base_url=f"http://docker/{API_VERSION}", timeout=60)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Remove every container, SIGTERM dockerd, kill stragglers and delete the temp dir."""
        if self._process is not None:
            if self._process.poll() is None:
                self._remove_all_containers()
            terminate(self._process, timeout=20)
            self._process = None
        if self._client is not None:
            self._client.close()
            self._client = None
        self._kill_stragglers()
        self._unmount_all()
        shutil.rmtree(self._root, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, *, lines: int = 30) -> str:
        """The last lines of the dockerd log, for error messages."""
        return tail_of(self.log_path, lines=lines)

    # -- Engine API -------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """GET /info."""
        return self._json("GET", "/info")  # type: ignore[no-any-return]

    def pull(self, reference: str) -> None:
        """Pull an image; reads the progress stream to the end and raises on an error line."""
        name, tag = split_reference(reference)
        with self.client.stream(
            "POST", "/images/create", params={"fromImage": name, "tag": tag}, timeout=120
        ) as response:
            if response.status_code != 200:
                response.read()
                raise EngineError(f"pull {reference} -> {response.status_code}: {response.text[:500]}")
            for line in response.iter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                if "error" in event:
                    raise EngineError(f"pull {reference}: {event['error']}")

    def create_container(
        self,
        image: str,
        *,
        name: str,
        cmd: list[str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> str:
        """Create (not start) a container without network; returns its id."""
        body: dict[str, Any] = {"Image": image, "HostConfig": {"NetworkMode": "none"}}
        if cmd is not None:
            body["Cmd"] = cmd
        if labels:
            body["Labels"] = labels
        created = self._json("POST", "/containers/create", params={"name": name}, json=body)
        container_id: str = created["Id"]
        return container_id

    def start_container(self, container_id: str) -> None:
        """Start a created container."""
        self._call("POST", f"/containers/{container_id}/start")

    def stop_container(self, container_id: str, *, timeout: int = 0) -> None:
        """Stop a running container, killing it after `timeout` seconds."""
        self._call("POST", f"/containers/{container_id}/stop", params={"t": timeout})

    def run(self, image: str, *, name: str, cmd: list[str] | None = None) -> str:
        """Create and start a container; returns its id."""
        container_id = self.create_container(image, name=name, cmd=cmd)
        self.start_container(container_id)
        return container_id

    def remove_container(self, container_id: str) -> None:
        """Remove a container, killing it if it runs."""
        self._call("DELETE", f"/containers/{container_id}", params={"force": "1", "v": "1"})

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        """GET /containers/{id}/json."""
        return self._json("GET", f"/containers/{container_id}/json")  # type: ignore[no-any-return]

    def containers(self, *, all: bool = True) -> list[dict[str, Any]]:
        """GET /containers/json (all states by default)."""
        params = {"all": "1"} if all else {}
        return self._json("GET", "/containers/json", params=params)  # type: ignore[no-any-return]

    def images(self) -> list[dict[str, Any]]:
        """GET /images/json."""
        return self._json("GET", "/images/json")  # type: ignore[no-any-return]

    # -- internals --------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, path, **kwargs)
        # 304: already started/stopped, which is what the caller wanted.
        if response.status_code >= 400:
            raise EngineError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, path, **kwargs).json()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                raise RuntimeError(f"dockerd exited ({code}) on start:\n{self.log_tail()}")
            try:
                if self.client.get("/_ping", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"dockerd not ready after {self._start_timeout} s:\n{self.log_tail()}")

    def _remove_all_containers(self) -> None:
        try:
            for container in self.containers(all=True):
                self.remove_container(container["Id"])
        except (httpx.HTTPError, EngineError):
            pass  # the daemon is going away anyway; stragglers are killed below

    def _kill_stragglers(self) -> None:
        # containerd and shims whose command line names our temp dir; matched by PID, nothing broader.
        marker = str(self._root).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline or self._namespace.encode() in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)

    def _unmount_all(self) -> None:
        # overlay/shm mounts under data-root would make rmtree fail; deepest first.
        prefix = str(self._root) + "/"
        try:
            mounts = Path("/proc/self/mounts").read_text().splitlines()
        except OSError:
            return
        points = [line.split()[1] for line in mounts if len(line.split()) > 1]
        for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
