"""Local HTTP servers that speak the OpenAI and Hugging Face inference protocols.

The real `openai` and `huggingface_hub` clients are pointed at these with
`base_url`. Each server records every request (path, headers, JSON body, the
host it was addressed to) so a test can check what photolib sent, and answers
realistically by default; a test scripts failures per route with
`server.script(route, Reply(...), ...)`.

Routes, shaped like the real services (the paths huggingface_hub posts to are
the ones its `hf-inference` provider helper builds):
  POST /v1/chat/completions        OpenAI chat; also TGI / vLLM at an endpoint's root
  POST /v1/embeddings              OpenAI embeddings
  POST /v1/images/generations      OpenAI images. GPT Image models (gpt-image-*) answer
                                   b64_json only and, like the real API, refuse any
                                   parameter they do not take with a 400 "Unknown
                                   parameter"; other models honour response_format
                                   (or answer a url when answer_with_url is set)
  POST /  and  POST /embed         TEI / Inference Endpoint root: feature extraction
  POST /hf-inference/models/<id>/pipeline/feature-extraction
                                   the router's feature-extraction path
  POST /hf-inference/models/<id>/v1/chat/completions
                                   chat with base_url = .../hf-inference/models/<id>
  POST /hf-inference/models/<id>   the router's text-to-image path (raw PNG bytes)
  GET  /files/<name>.png           images served for url answers
A request sent through the server as an HTTP proxy ("POST http://host/path")
is recorded with that host and served by path, so a test can stand in for
api.openai.com without the network.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import numpy as np

DESCRIPTION = {
    "tags": ["beach", "sunset", "sea", "people", "golden light"],
    "caption": "Two people walking on a beach at sunset",
    "description": "Two people walk along the shore as the sun sets over the sea. The sky is orange and pink.",
}


@dataclass
class Reply:
    """One scripted answer: status, body (dict -> JSON, str/bytes as is), headers, delay before answering."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: bool = False  # announce the full length, send half, close


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    host: str = ""  # the host the client addressed (Host header, or the proxy request's URL)
    at: float = 0.0  # wall-clock time the request arrived (time.time())


HF_ROUTER = "/hf-inference/models/"
# What OpenAI's images endpoint takes for GPT Image models; anything else is a 400 there.
GPT_IMAGE_PARAMETERS = {"prompt", "model", "n", "size", "quality", "background", "moderation", "output_compression",
                        "output_format", "partial_images", "stream", "user", "safety_identifier", "complexity",
                        "frame_count", "frame_duration_ms", "svg"}


def chat_reply(content: str) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": "fake",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}


def text_vector(text: str, dimension: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dimension)
    return (vector / np.linalg.norm(vector)).round(6).tolist()


def png_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 120, 60)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


class FakeModelServer:
    def __init__(self, dimension: int = 64) -> None:
        self.dimension = dimension
        self.requests: list[Request] = []
        self.answer_with_url = False
        self.latency = 0.0  # seconds added to every answer (benchmarks)
        self.chat_content = json.dumps(DESCRIPTION)
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FakeModelServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def script(self, route: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[route].extend(replies)

    def clear_scripts(self) -> None:
        with self._lock:
            self._scripts.clear()

    def calls(self, route: str) -> list[Request]:
        return [r for r in self.requests if r.path == route]

    def _next_script(self, route: str) -> Reply | None:
        with self._lock:
            queue = self._scripts.get(route)
            return queue.popleft() if queue else None

    # -- default answers ------------------------------------------------------

    def default_reply(self, path: str, body: Any) -> Reply:
        if path.endswith("/chat/completions"):
            return Reply(body=chat_reply(self.chat_content))
        if path == "/v1/embeddings":
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            dimension = int(body.get("dimensions") or self.dimension)
            data = [{"object": "embedding", "index": i, "embedding": text_vector(t, dimension)}
                    for i, t in enumerate(texts)]
            return Reply(body={"object": "list", "data": data, "model": body.get("model"),
                               "usage": {"prompt_tokens": 1, "total_tokens": 1}})
        if path in ("/", "/embed") or (path.startswith(HF_ROUTER) and path.endswith("/pipeline/feature-extraction")):
            texts = body["inputs"] if isinstance(body["inputs"], list) else [body["inputs"]]
            dimension = int(body.get("dimensions") or self.dimension)
            return Reply(body=[text_vector(t, dimension) for t in texts])
        if path == "/v1/images/generations":
            return self._image_reply(body)
        if path.startswith(HF_ROUTER) or path.startswith("/files/"):
            return Reply(body=png_bytes(), headers={"Content-Type": "image/png"})
        return Reply(status=404, body={"error": {"message": f"no route {path}"}})

    def _image_reply(self, body: dict[str, Any]) -> Reply:
        if str(body.get("model", "")).startswith("gpt-image"):
            unknown = sorted(set(body) - GPT_IMAGE_PARAMETERS)
            if unknown:
                return Reply(400, {"error": {"message": f"Unknown parameter: '{unknown[0]}'.", "type": "invalid_request_error",
                                             "param": unknown[0], "code": "unknown_parameter"}})
        elif self.answer_with_url or body.get("response_format") == "url":
            return Reply(body={"created": 1, "data": [{"url": f"{self.url}/files/generated.png"}]})
        return Reply(body={"created": 1, "data": [{"b64_json": base64.b64encode(png_bytes()).decode()}]})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                self._serve(body)

            def _serve(self, body: Any) -> None:
                target = urlparse(self.path)
                path = target.path or "/"
                headers = {k.lower(): v for k, v in self.headers.items()}
                host = target.netloc or headers.get("host", "")
                server.requests.append(Request(self.command, path, headers, body, host, time.time()))
                reply = server._next_script(path) or server.default_reply(path, body)
                if reply.delay or server.latency:
                    time.sleep(reply.delay + server.latency)
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                payload = reply.body
                headers = dict(reply.headers)
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload).encode()
                    headers.setdefault("Content-Type", "application/json")
                elif isinstance(payload, str):
                    payload = payload.encode()
                    headers.setdefault("Content-Type", "application/json")
                payload = payload or b""
                try:
                    self.send_response(reply.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2] if reply.truncate else payload)
                    if reply.truncate:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
