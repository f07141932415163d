"""A local server that speaks exactly Immich's machine-learning protocol (`immich_ml/main.py`).

    with ImmichMLServer({"tiny-clip": build_tiny_clip(tmp_path / "tiny")}) as server:
        config: [image] url = server.url, model = "tiny-clip"

Routes, as the real FastAPI app has them:
  GET  /ping     -> "pong" (text/plain)
  GET  /         -> {"message": "Immich ML"}
  POST /predict  multipart/form-data, parsed by python-multipart (the parser FastAPI's forms use):
                 `entries` (a form field, JSON), and `image` (a file part) or `text` (a form field).
                 A missing `entries` is FastAPI's 422 with its validation detail; entries that are not
                 `{task: {type: {"modelName": ..., "options": {...}}}}` are 422 "Invalid request format.";
                 neither image nor text is 400; an unknown model or an image that does not decode is 500
                 "Internal Server Error" (an unhandled exception there).

Tasks:
  clip visual / textual  the models given to the server, in Immich's layout (the tests' tiny ONNX models),
                         run the way Immich's OpenClipVisualEncoder / OpenClipTextualEncoder run them:
                         resize the shortest side with the configured interpolation, centre crop, normalise;
                         tokenize, pad to the context length. The vector goes back as a JSON string.
  ocr                    made up: a photo whose mean colour is one of `OCR_LINES`' colours holds those lines
                         (text, 8 box floats 0-1, box and text scores), in Immich's answer shape.
  facial-recognition     made up: a photo whose mean colour is not grey holds one face in its middle, with a
                         512-d unit embedding per colour (so photos of one colour are one person).

Every request is recorded (`server.predictions`: entries, the image's format, size and EXIF, the text);
`server.script(Reply(...), None, ...)` answers the next /predict requests with scripted replies instead
(None: that one is answered normally; `Reply(drop=True)` closes the connection without an answer); `server.latency` adds seconds to every
answer (benchmarks). `server.stop()` closes the listening socket (a server that went away).
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tests.support.onnx_models import COLOURS, GREY

FACE_DIMENSION = 512
OCR_LINES: dict[str, list[tuple[str, float]]] = {  # colour -> (line, text score): what the made-up OCR "reads"
    "red": [("STOP HERE", 0.97), ("x", 0.99), ("faint words", 0.4)],
    "yellow": [("TAXI 42", 0.93)],
}


@dataclass
class Reply:
    """A scripted answer to one /predict request."""

    status: int = 200
    body: Any = None  # dict/list -> JSON, str/bytes as they are
    delay: float = 0.0
    drop: bool = False  # close the connection without answering
    truncate: bool = False  # announce the full length, send half, close


@dataclass
class Prediction:
    """What one /predict request carried."""

    entries: Any
    image_format: str | None = None
    image_size: tuple[int, int] | None = None
    image_exif: bytes = b""
    image_bytes: int = 0
    image_filename: str | None = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    at: float = 0.0


class _Clip:
    """One CLIP model folder run as Immich runs it (onnxruntime, its preprocess_cfg, its tokenizer)."""

    def __init__(self, folder: Path) -> None:
        import onnxruntime as ort
        from PIL import Image
        from tokenizers import Tokenizer

        self.visual = ort.InferenceSession(str(folder / "visual" / "model.onnx"), providers=["CPUExecutionProvider"])
        self.textual = ort.InferenceSession(str(folder / "textual" / "model.onnx"), providers=["CPUExecutionProvider"])
        cfg = json.loads((folder / "visual" / "preprocess_cfg.json").read_text())
        config = json.loads((folder / "config.json").read_text())
        size = cfg["size"]
        self.size = int(size[0] if isinstance(size, list) else size)
        self.resample = {m.name.lower(): m for m in Image.Resampling}[cfg.get("interpolation", "bicubic")]
        self.mean = np.asarray(cfg["mean"], dtype=np.float32)
        self.std = np.asarray(cfg["std"], dtype=np.float32)
        self.context_length = int(config.get("text_cfg", {}).get("context_length", 77))
        pad = json.loads((folder / "textual" / "tokenizer_config.json").read_text())["pad_token"]
        self.tokenizer = Tokenizer.from_file(str(folder / "textual" / "tokenizer.json"))
        self.tokenizer.enable_padding(length=self.context_length, pad_token=pad, pad_id=self.tokenizer.token_to_id(pad))
        self.tokenizer.enable_truncation(max_length=self.context_length)
        first = self.textual.get_inputs()[0]
        self.text_input, self.text_dtype = first.name, (np.int64 if first.type == "tensor(int64)" else np.int32)

    def image_vector(self, image: Any) -> list[float]:
        width, height = image.size
        if width < height:
            image = image.resize((self.size, int(height / width * self.size)), resample=self.resample)
        else:
            image = image.resize((int(width / height * self.size), self.size), resample=self.resample)
        left, top = int((image.width - self.size) / 2), int((image.height - self.size) / 2)
        image = image.crop((left, top, left + self.size, top + self.size))
        pixels = (np.asarray(image, dtype=np.float32) / 255.0 - self.mean) / self.std
        tensor = np.expand_dims(pixels.transpose(2, 0, 1), 0).astype(np.float32)
        return self.visual.run(None, {self.visual.get_inputs()[0].name: tensor})[0][0].tolist()

    def text_vector(self, text: str) -> list[float]:
        ids = np.asarray([self.tokenizer.encode(text).ids], dtype=self.text_dtype)
        return self.textual.run(None, {self.text_input: ids})[0][0].tolist()


def colour_of(image: Any) -> str | None:
    """The name of the COLOURS entry nearest the image's mean colour (None: grey or nothing near)."""
    mean = np.asarray(image, dtype=np.float32).reshape(-1, 3).mean(axis=0)
    names = [*COLOURS, None]
    centres = np.asarray([*COLOURS.values(), GREY], dtype=np.float32)
    distances = np.linalg.norm(centres - mean, axis=1)
    nearest = int(np.argmin(distances))
    return names[nearest] if distances[nearest] < 60 else None


def face_embedding(colour: str) -> list[float]:
    seed = sum(ord(c) * 31 ** i for i, c in enumerate(colour)) % 2 ** 32
    vector = np.random.default_rng(seed).standard_normal(FACE_DIMENSION).astype(np.float32) * 3.0  # not unit
    return vector.tolist()


class ImmichMLServer:
    def __init__(self, clip_models: dict[str, Path] | None = None, *, ocr_models: tuple[str, ...] = ("PP-OCRv5_mobile",),
                 face_models: tuple[str, ...] = ("buffalo_l",)) -> None:
        self.clip = {name: _Clip(Path(folder)) for name, folder in (clip_models or {}).items()}
        self.ocr_models, self.face_models = set(ocr_models), set(face_models)
        self.predictions: list[Prediction] = []
        self.pings = 0
        self.latency = 0.0
        self.active = 0  # /predict requests being answered now
        self.most_active = 0  # the most at once (requests in flight, as this server saw them)
        self.ocr_for: Callable[[Any], list[tuple[str, float]]] = lambda image: OCR_LINES.get(colour_of(image) or "", [])
        self._scripts: deque[Reply] = deque()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 64
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._running = False

    def __enter__(self) -> "ImmichMLServer":
        self._thread.start()
        self._running = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop answering and close the listening socket: from now on, connections are refused."""
        if self._running:
            self.httpd.shutdown()
            self._running = False
        self.httpd.server_close()

    def script(self, *replies: Reply | None) -> None:
        """Answer the next /predict requests with these replies, in order (None: answer that one normally)."""
        with self._lock:
            self._scripts.extend(replies)

    def _next_script(self) -> Reply | None:
        with self._lock:
            return self._scripts.popleft() if self._scripts else None

    # -- /predict, as immich_ml/main.py does it ------------------------------------------------------

    def predict(self, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        import python_multipart
        from PIL import Image

        fields: dict[str, bytes] = {}
        files: dict[str, tuple[str | None, bytes]] = {}
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):  # Starlette decodes
            from urllib.parse import parse_qsl

            fields = {name: value.encode() for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True)}
            body = b""
        try:
            if body:
                python_multipart.parse_form(
                    {"Content-Type": headers.get("content-type", "").encode(), "Content-Length": str(len(body)).encode()},
                    io.BytesIO(body),
                    lambda part: fields.__setitem__(part.field_name.decode(), part.value or b""),
                    lambda part: files.__setitem__(part.field_name.decode(), (
                        part.file_name.decode() if part.file_name else None, _file_bytes(part))))
        except Exception as error:  # noqa: BLE001 - FastAPI answers a body it cannot parse with 400
            return 400, {"detail": f"There was an error parsing the body: {error}"}
        record = Prediction(entries=None, headers=headers, at=time.time())
        self.predictions.append(record)
        if "entries" not in fields:
            return 422, {"detail": [{"type": "missing", "loc": ["body", "entries"], "msg": "Field required",
                                     "input": None}]}
        try:
            entries = json.loads(fields["entries"])
            record.entries = entries
            parsed = [(task, kind, entry["modelName"], entry.get("options", {}))
                      for task, kinds in entries.items() for kind, entry in kinds.items()]
        except (ValueError, KeyError, AttributeError, TypeError):
            return 422, {"detail": "Invalid request format."}
        if "image" in fields:  # a form string where a file belongs: FastAPI's File() refuses it
            return 422, {"detail": [{"type": "value_error", "loc": ["body", "image"],
                                     "msg": "Expected UploadFile, received: <class 'str'>"}]}
        if "image" in files:
            record.image_filename, data = files["image"]
            record.image_bytes = len(data)
            try:
                image = Image.open(io.BytesIO(data))
                image.load()
            except Exception:  # noqa: BLE001 - decode_pil raising: an unhandled exception, a plain 500
                return 500, "Internal Server Error"
            record.image_format, record.image_size = image.format, image.size
            record.image_exif = image.info.get("exif", b"")
            payload: Any = image if image.mode == "RGB" else image.convert("RGB")
        elif "text" in fields:
            payload = fields["text"].decode("utf-8")
            record.text = payload
        else:
            return 400, {"detail": "Either image or text must be provided"}
        response: dict[str, Any] = {}
        for task, kind, model, options in parsed:
            answer = self._run(task, kind, model, options, payload)
            if answer is None:
                return 500, "Internal Server Error"  # an unknown model: get_model_class raises
            if task == "ocr" and kind == "detection" or task == "facial-recognition" and kind == "detection":
                continue  # the recognition entry answers for the pair, as Immich's dependent models do
            response[task] = answer
        if not isinstance(payload, str):
            response["imageHeight"], response["imageWidth"] = payload.height, payload.width
        return 200, response

    def _run(self, task: str, kind: str, model: str, options: dict[str, Any], payload: Any) -> Any:
        if task == "clip":
            clip = self.clip.get(model)
            if clip is None or (kind == "visual") == isinstance(payload, str):
                return None
            return json.dumps(clip.image_vector(payload) if kind == "visual" else clip.text_vector(payload))
        if task == "ocr" and model in self.ocr_models and not isinstance(payload, str):
            return self._ocr(payload, float(options.get("minScore", 0.0))) if kind == "recognition" else {}
        if task == "facial-recognition" and model in self.face_models and not isinstance(payload, str):
            return self._faces(payload, float(options.get("minScore", 0.7))) if kind == "recognition" else []
        return None

    def _ocr(self, image: Any, min_score: float) -> dict[str, Any]:
        lines = [(text, score) for text, score in self.ocr_for(image) if score >= min_score]
        boxes: list[float] = []
        for index, _line in enumerate(lines):
            top, bottom = 0.1 + 0.2 * index, 0.2 + 0.2 * index
            boxes += [0.1, top, 0.8, top, 0.8, bottom, 0.1, bottom]  # four corners, clockwise from top left
        return {"text": [text for text, _ in lines], "box": boxes, "boxScore": [0.9] * len(lines),
                "textScore": [score for _, score in lines]}

    def _faces(self, image: Any, min_score: float) -> list[dict[str, Any]]:
        colour = colour_of(image)
        score = 0.92
        if colour is None or score < min_score:
            return []
        width, height = image.size
        return [{"boundingBox": {"x1": 0.3 * width, "y1": 0.2 * height, "x2": 0.7 * width, "y2": 0.7 * height},
                 "embedding": json.dumps(face_embedding(colour)), "score": score}]

    # -- HTTP ----------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/ping":
                    server.pings += 1
                    self._send(200, "pong", "text/plain; charset=utf-8")
                elif self.path == "/":
                    self._send(200, {"message": "Immich ML"})
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path != "/predict":
                    self._send(404, {"detail": "Not Found"})
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                with server._lock:
                    server.active += 1
                    server.most_active = max(server.most_active, server.active)
                try:
                    self._predict(headers, body)
                finally:
                    with server._lock:
                        server.active -= 1

            def _predict(self, headers: dict[str, str], body: bytes) -> None:
                reply = server._next_script()
                if reply is not None and reply.drop:
                    server.predictions.append(Prediction(entries="(dropped)", headers=headers, at=time.time()))
                    self.close_connection = True
                    self.connection.close()
                    return
                if reply is not None:
                    server.predictions.append(Prediction(entries="(scripted)", headers=headers, at=time.time()))
                    status, answer = reply.status, reply.body
                else:
                    status, answer = server.predict(headers, body)
                if server.latency or (reply and reply.delay):
                    time.sleep(server.latency + (reply.delay if reply else 0.0))
                self._send(status, answer, truncate=bool(reply and reply.truncate))

            def _send(self, status: int, body: Any, content_type: str | None = None, truncate: bool = False) -> None:
                if isinstance(body, (dict, list)):
                    payload, content_type = json.dumps(body).encode(), content_type or "application/json"
                elif isinstance(body, str):
                    payload = body.encode()
                    content_type = content_type or ("application/json" if body[:1] in "[{" else "text/plain; charset=utf-8")
                else:
                    payload, content_type = body or b"", content_type or "application/octet-stream"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2] if truncate else payload)
                    if truncate:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def _file_bytes(part: Any) -> bytes:
    handle = part.file_object
    handle.seek(0)
    return handle.read()


def serve(argv: list[str] | None = None) -> None:
    """`python -m tests.support.immich_server --model NAME=FOLDER [--latency S]`: serve until killed, in its own
    process (benchmarks: the client's process then shares no GIL with the servers). Prints its URL."""
    import argparse

    parser = argparse.ArgumentParser(description=serve.__doc__)
    parser.add_argument("--model", action="append", default=[], metavar="NAME=FOLDER")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args(argv)
    models = dict(item.split("=", 1) for item in args.model)
    with ImmichMLServer({name: Path(folder) for name, folder in models.items()}) as server:
        server.latency = args.latency
        print(server.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    serve()
