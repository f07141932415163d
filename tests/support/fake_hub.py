"""A local server speaking enough of the Hugging Face Hub protocol for `snapshot_download`.

The real huggingface_hub client talks to it (endpoint pointed here): repo
info, the recursive tree listing, and `resolve` downloads with HEAD, ETag,
X-Repo-Commit and byte ranges. `cut_after` makes the first download of a file
break off after that many bytes, so resuming can be tested.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.commit = hashlib.sha1(b"photolib fake hub").hexdigest()
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, headers)
        self.cut_after: dict[str, int] = {}  # file path -> bytes sent before the first download breaks off
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add_folder(self, repo_id: str, folder: Path, extra: dict[str, bytes] | None = None) -> None:
        files = {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}
        self.repos[repo_id] = {**files, **(extra or {})}

    def downloads(self) -> list[str]:
        """Files fetched with GET (each attempt), in order."""
        return [path.split("/resolve/", 1)[1].split("/", 1)[1] for method, path, _ in self.requests
                if method == "GET" and "/resolve/" in path]

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _serve(self, head: bool) -> None:
                hub.requests.append((self.command, self.path, dict(self.headers)))
                path = self.path.split("?", 1)[0]
                if match := re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/([^/]+)", path):
                    return self._repo_info(match.group(1))
                if match := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(/.*)?", path):
                    return self._tree(match.group(1))
                if match := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
                    return self._file(match.group(1), match.group(3), head)
                self._json({"error": "not found"}, 404)

            def _repo(self, repo_id: str) -> dict[str, bytes] | None:
                files = hub.repos.get(repo_id)
                if files is None:
                    self._json({"error": "Repository not found"}, 404, {"X-Error-Code": "RepoNotFound"})
                return files

            def _repo_info(self, repo_id: str) -> None:
                files = self._repo(repo_id)
                if files is not None:
                    self._json({"id": repo_id, "modelId": repo_id, "sha": hub.commit, "private": False,
                                "siblings": [{"rfilename": name} for name in files], "tags": []})

            def _tree(self, repo_id: str) -> None:
                files = self._repo(repo_id)
                if files is None:
                    return
                folders = sorted({str(Path(name).parent) for name in files} - {"."})
                entries: list[dict[str, Any]] = [{"type": "directory", "oid": _oid(name.encode()), "size": 0, "path": name}
                                                 for name in folders]
                entries += [{"type": "file", "oid": _oid(data), "size": len(data), "path": name} for name, data in files.items()]
                self._json(entries)

            def _file(self, repo_id: str, name: str, head: bool) -> None:
                files = self._repo(repo_id)
                if files is None:
                    return
                if name not in files:
                    return self._json({"error": "Entry not found"}, 404, {"X-Error-Code": "EntryNotFound"})
                data = files[name]
                start = 0
                if match := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "")):
                    start = int(match.group(1))
                body = data[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", f'"{_oid(data)}"')
                self.send_header("X-Repo-Commit", hub.commit)
                self.send_header("Accept-Ranges", "bytes")
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if head:
                    return
                cut = hub.cut_after.pop(name, None)
                if cut is not None:  # break off mid-file, once
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

            def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        return Handler


def _oid(data: bytes) -> str:
    """Git's blob id, as the Hub reports for files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
