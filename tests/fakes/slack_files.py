"""Slack's external file upload flow on top of the fake Web API (tests/fakes/slack_api.py).

- `files.getUploadURLExternal(filename, length)` answers a file id and an upload URL on this server;
- a POST of the raw bytes to that URL stores them (the length must match what was announced);
- `files.completeUploadExternal(files=[{id, title}], channel_id, thread_ts)` fails with
  `file_not_found` / `file_upload_not_completed` unless every id was announced and uploaded, and
  otherwise shares the files.
Arguments sent as a query string (slack_sdk sends these methods' params that way) are recorded too.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.slack_api import Call, FakeSlackApi, FakeSlackState, _handler_for


@dataclass
class UploadedFile:
    """One file going through the flow."""

    id: str
    filename: str
    length: int
    alt_txt: str = ""
    data: bytes | None = None
    title: str = ""
    channel: str | None = None
    thread_ts: str | None = None


@dataclass
class FilesState:
    """Files by id, in announcement order."""

    files: dict[str, UploadedFile] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0


class FakeSlackFilesApi(FakeSlackApi):
    """The fake Web API plus the external upload flow; `uploads` holds every file."""

    def __init__(self) -> None:
        super().__init__()
        self.files = FilesState()
        # Same server and state; only the request handler grows the upload flow.
        self._server.RequestHandlerClass = _files_handler(self.state, self.files)

    @property
    def uploads(self) -> list[UploadedFile]:
        """Every announced file, oldest first."""
        with self.files.lock:
            return list(self.files.files.values())


def _files_handler(state: FakeSlackState, files: FilesState) -> type:
    base = _handler_for(state)

    class Handler(base):  # type: ignore[valid-type, misc]
        def do_POST(self) -> None:
            path = urlsplit(self.path)
            if path.path.startswith("/upload/"):
                self._upload(path.path.removeprefix("/upload/"))
                return
            method = path.path.removeprefix("/api/")
            if method not in ("files.getUploadURLExternal", "files.completeUploadExternal"):
                super().do_POST()
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            args = {**dict(parse_qsl(path.query, keep_blank_values=True)), **body}
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer xox"):
                reply: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
            elif method == "files.getUploadURLExternal":
                reply = _announce(files, args, base_url=f"http://127.0.0.1:{self.server.server_address[1]}")
            else:
                reply = _complete(files, args)
            with state.cond:
                state.calls.append(Call(method, args, auth, time.monotonic(), bool(reply["ok"])))
                state.cond.notify_all()
            self.send_body(200, json.dumps(reply).encode(), {"Content-Type": "application/json"})

        def _upload(self, file_id: str) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with files.lock:
                item = files.files.get(file_id)
                ok = item is not None and item.data is None and len(data) == item.length
                if ok and item is not None:
                    item.data = data
            with state.cond:
                state.calls.append(
                    Call("upload", {"file_id": file_id, "bytes": len(data)}, "", time.monotonic(), ok)
                )
                state.cond.notify_all()
            self.send_body(200 if ok else 400, b"OK - %d" % len(data) if ok else b"bad upload")

    return Handler


def _announce(files: FilesState, args: dict[str, str], *, base_url: str) -> dict[str, Any]:
    filename, length = args.get("filename", ""), args.get("length", "")
    if not filename or not length.isdigit() or int(length) <= 0:
        return {"ok": False, "error": "invalid_arguments"}
    with files.lock:
        files.counter += 1
        file_id = f"F0FAKE{files.counter:05d}"
        files.files[file_id] = UploadedFile(file_id, filename, int(length), alt_txt=args.get("alt_txt", ""))
    return {"ok": True, "upload_url": f"{base_url}/upload/{file_id}", "file_id": file_id}


def _complete(files: FilesState, args: dict[str, str]) -> dict[str, Any]:
    try:
        wanted = json.loads(args.get("files", "[]"))
    except ValueError:
        return {"ok": False, "error": "invalid_arguments"}
    shared = []
    with files.lock:
        for entry in wanted:
            item = files.files.get(str(entry.get("id")))
            if item is None:
                return {"ok": False, "error": "file_not_found"}
            if item.data is None:
                return {"ok": False, "error": "file_upload_not_completed"}
            item.title = str(entry.get("title") or item.filename)
            item.channel = args.get("channel_id") or None
            item.thread_ts = args.get("thread_ts") or None
            shared.append({"id": item.id, "name": item.filename, "title": item.title, "size": item.length})
    return {"ok": True, "files": shared}
