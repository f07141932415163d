"""A pool of Immich machine-learning servers: requests spread over the healthy ones, retried, set aside.

One `ServerPool` serves one stage's URLs (`photolib.core.config.ServerSettings`).
What it does for every request, so the providers on top of it
(`photolib.providers.immich_ml`) only say what to ask and how to read the answer:

* **spread**: each request goes to the serving server with the fewest requests
  in flight, at most `in_flight` per server; further requests wait for a free
  slot. `map` runs a batch with every slot busy;
* **retries**: a request nobody answered (connection refused or dropped, a
  timeout, HTTP 408/502/504; or 429/503: busy) is tried again on a serving server,
  after a backoff that doubles (0.5 s, 1 s, 2 s ...), up to `max_retries` more
  times; then it is `ServerUnansweredError`: the photo stays pending;
* **set aside**: a server that did not answer (busy is an answer) serves no request for a while
  (2 s, doubling up to 5 minutes while it keeps failing); then one request
  tries it again, and an answer puts it back. While no server serves, requests
  wait for that trial within their retry budget, then are unanswered;
* **answers**: HTTP 200 with a JSON body is handed back; any other status is
  that request's `ProviderError` with the server's reason (the photo fails);
  a body that is not JSON is `MalformedOutputError`.

Requests go straight to the configured URLs, never through a proxy from the
environment: a photo leaves the machine only for an address the user wrote.
Nothing here opens a socket before the first request.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, TypeVar

from photolib.core.errors import (MalformedOutputError, NoServerAnswersError, PhotolibError, ProviderError,
                                  ServerUnansweredError)

if TYPE_CHECKING:
    from photolib.core.config import ServerSettings

T = TypeVar("T")
R = TypeVar("R")

PREDICT, PING = "/predict", "/ping"
CONNECT_TIMEOUT = 5.0  # seconds to reach a server (a host that is off fails here, not after `timeout`)
PING_TIMEOUT = 5.0
FIRST_SET_ASIDE = 2.0  # seconds a server that stopped answering serves nothing (doubles while it fails)
LONGEST_SET_ASIDE = 300.0
FIRST_BACKOFF = 0.5  # seconds before the first retry of a request; doubles per retry
LONGEST_BACKOFF = 8.0
UNANSWERED_STATUSES = {408, 429, 502, 503, 504}  # the server (or a proxy before it) could not answer now
BUSY_STATUSES = {429, 503}  # ... because it is busy: retried, but the server is not set aside
MAX_REASON = 200


@dataclass
class Server:
    """One server's state in the pool."""

    url: str
    busy: int = 0  # requests in flight
    set_aside_until: float = 0.0  # monotonic time; 0: serving
    set_aside_for: float = FIRST_SET_ASIDE
    trying: bool = False  # one request is trying it again after a set-aside
    last_error: str = ""
    answered: int = 0

    @property
    def serving(self) -> bool:
        return self.set_aside_until == 0.0


class _Unanswered(Exception):
    """One attempt got no answer from one server (the pool retries it elsewhere)."""

    def __init__(self, reason: str, busy: bool = False) -> None:
        super().__init__(reason)
        self.busy = busy  # the server answered that it is busy: it is not set aside


class ServerPool:
    """The servers of one stage. Thread-safe; `close` ends its connections and threads."""

    def __init__(self, settings: "ServerSettings", what: str, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not settings.urls:
            raise ValueError("a ServerPool needs at least one URL")
        self.settings = settings
        self.what = what  # "image vectors", "OCR", "faces": named in messages
        self.servers = [Server(url) for url in settings.urls]
        self.in_flight = settings.in_flight
        self._clock, self._sleep = clock, sleep
        self._changed = threading.Condition()
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._setup = threading.Lock()

    # -- what callers see ---------------------------------------------------------------------------

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(server.url for server in self.servers)

    def serving(self) -> int:
        """How many servers serve now (not set aside)."""
        with self._changed:
            return sum(1 for server in self.servers if server.serving)

    def check(self) -> int:
        """Ping every server (`GET /ping`, concurrently); those that do not answer are set aside. Returns
        how many serve; raises `NoServerAnswersError` when none does."""
        with ThreadPoolExecutor(max_workers=len(self.servers)) as pool:
            answers = list(pool.map(self._ping, self.servers))
        with self._changed:
            for server, error in zip(self.servers, answers):
                if error is None:
                    self._mark_answered(server)
                else:
                    self._mark_unanswered(server, error)
            serving = sum(1 for server in self.servers if server.serving)
        if not serving:
            raise self.none_answers()
        return serving

    def none_answers(self) -> NoServerAnswersError:
        """The one line that stops a run: which URLs, why, and what to do."""
        reasons = "; ".join(f"{server.url}: {server.last_error or 'no answer'}" for server in self.servers)
        origin = self.settings.origin or "the url setting"
        return NoServerAnswersError(  # one line
            f"no Immich machine-learning server answers for {self.what} ({reasons}): start it (e.g. `docker compose "
            f"up -d immich-machine-learning`) or fix {origin}; what is stored is kept, and `photolib enrich` "
            "finishes the photos that waited")

    def all_set_aside(self) -> bool:
        with self._changed:
            return not any(server.serving for server in self.servers)

    def predict(self, entries: dict[str, Any], *, image: bytes | None = None, text: str | None = None) -> Any:
        """POST /predict (multipart: `entries` JSON, and `image` bytes or `text`); the decoded JSON answer.

        Raises `ServerUnansweredError` when no server answered after the retries, `ProviderError` when one
        answered with an error status, `MalformedOutputError` when its answer is not JSON."""
        parts: dict[str, Any] = {"entries": (None, json.dumps(entries, separators=(",", ":")))}  # always multipart
        if text is not None:
            parts["text"] = (None, text)
        if image is not None:
            parts["image"] = ("blob", image, "image/jpeg")  # a file part, named as Immich's own server names it
        last = "no server serves"
        retries = self.settings.max_retries
        give_up_at = self._clock() + sum(_backoff(attempt) for attempt in range(1, retries + 1))
        for attempt in range(retries + 1):
            if attempt:
                self._sleep(_backoff(attempt))
            server = self._acquire(give_up_at)
            if server is None:
                continue
            try:
                response = self._post(server, parts)
            except _Unanswered as error:
                last = f"{server.url}: {error}"
                self._release(server, None if error.busy else str(error))
                continue
            self._release(server, None)
            return self._answer(server, response)
        raise ServerUnansweredError(f"no Immich machine-learning server answered ({last}); the photo waits for the "
                                    "next run")

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> list[R | PhotolibError]:
        """`function` over `items` with every server's slots busy; per item its result or its PhotolibError,
        in input order. Other exceptions propagate (they are bugs)."""
        items = list(items)
        if not items:
            return []

        def guarded(item: T) -> R | PhotolibError:
            try:
                return function(item)
            except PhotolibError as error:
                return error

        return list(self._executor().map(guarded, items))

    def close(self) -> None:
        with self._setup:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- choosing a server ----------------------------------------------------------------------------

    def _acquire(self, give_up_at: float) -> Server | None:
        """A serving server with a free slot (the least busy; waits while all are full), or a set-aside one
        that is due to be tried again. While none serves, waits for one to be due or to come back, but not
        past `give_up_at`: None then."""
        with self._changed:
            while True:
                now = self._clock()
                waiting = [server for server in self.servers if not server.serving and not server.trying]
                due = [server for server in waiting if server.set_aside_until <= now]
                if due:  # one request tries it again
                    chosen = min(due, key=lambda server: server.set_aside_until)
                    chosen.trying = True
                    chosen.busy += 1
                    return chosen
                serving = [server for server in self.servers if server.serving]
                free = [server for server in serving if server.busy < self.in_flight]
                if free:
                    chosen = min(free, key=lambda server: server.busy)
                    chosen.busy += 1
                    return chosen
                if serving:
                    self._changed.wait(1.0)
                    continue
                trying = any(server.trying for server in self.servers)
                next_due = min((server.set_aside_until for server in waiting), default=None)
                if now >= give_up_at or (not trying and (next_due is None or next_due > give_up_at)):
                    return None
                wake = give_up_at if next_due is None else min(next_due, give_up_at)
                self._changed.wait(max(0.01, min(1.0, wake - now)))

    def _release(self, server: Server, error: str | None) -> None:
        with self._changed:
            server.busy -= 1
            if error is None:
                self._mark_answered(server)
            else:
                self._mark_unanswered(server, error)
            self._changed.notify_all()

    def _mark_answered(self, server: Server) -> None:
        server.set_aside_until, server.set_aside_for, server.trying = 0.0, FIRST_SET_ASIDE, False
        server.answered += 1

    def _mark_unanswered(self, server: Server, error: str) -> None:
        server.last_error = error
        server.trying = False
        server.set_aside_until = self._clock() + server.set_aside_for
        server.set_aside_for = min(LONGEST_SET_ASIDE, server.set_aside_for * 2)

    # -- HTTP -----------------------------------------------------------------------------------------

    def _http(self) -> Any:
        with self._setup:
            if self._client is None:
                import httpx2

                slots = self.in_flight * len(self.servers)
                self._client = httpx2.Client(
                    timeout=httpx2.Timeout(self.settings.timeout, connect=CONNECT_TIMEOUT),
                    limits=httpx2.Limits(max_connections=slots + len(self.servers), max_keepalive_connections=slots),
                    trust_env=False, follow_redirects=False)
            return self._client

    def _executor(self) -> ThreadPoolExecutor:
        with self._setup:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.in_flight * len(self.servers),
                                                thread_name_prefix="immich-ml")
            return self._pool

    def _post(self, server: Server, parts: dict[str, Any]) -> Any:
        import httpx2

        try:
            response = self._http().post(server.url + PREDICT, files=parts)
        except httpx2.TimeoutException:
            raise _Unanswered(f"no answer within {self.settings.timeout:g} s") from None
        except httpx2.TransportError as error:
            raise _Unanswered(_transport_reason(error)) from None
        if response.status_code in UNANSWERED_STATUSES:
            raise _Unanswered(f"HTTP {response.status_code}{_detail(response)}", response.status_code in BUSY_STATUSES)
        return response

    def _answer(self, server: Server, response: Any) -> Any:
        if response.status_code != 200:
            raise ProviderError(f"the Immich machine-learning server at {server.url} answered HTTP "
                                f"{response.status_code}{_detail(response)}", response.status_code)
        try:
            return response.json()
        except ValueError:
            raise MalformedOutputError(f"the Immich machine-learning server at {server.url} answered something that "
                                       "is not JSON", response.text[:MAX_REASON]) from None

    def _ping(self, server: Server) -> str | None:
        """None when the server answers `GET /ping` with "pong", else why not."""
        import httpx2

        try:
            response = self._http().get(server.url + PING, timeout=httpx2.Timeout(PING_TIMEOUT, connect=CONNECT_TIMEOUT))
        except httpx2.TimeoutException:
            return f"no answer to /ping within {PING_TIMEOUT:g} s"
        except httpx2.TransportError as error:
            return _transport_reason(error)
        if response.status_code != 200 or response.text.strip().strip('"') != "pong":
            return f"/ping answered HTTP {response.status_code}{_detail(response)}, not pong: is it an Immich " \
                   "machine-learning server?"
        return None


def _backoff(attempt: int) -> float:
    """Seconds before retry number `attempt` (1, 2, ...) of a request."""
    return min(LONGEST_BACKOFF, FIRST_BACKOFF * 2 ** (attempt - 1))


def _transport_reason(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if "refused" in text.lower():
        return "connection refused"
    return text[:MAX_REASON]


def _detail(response: Any) -> str:
    """`: <reason>` from an error answer (FastAPI's {"detail": ...}, or the text), short and on one line."""
    try:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    text = str(detail if detail is not None else response.text or "").strip()
    text = " ".join(text.split())[:MAX_REASON]
    return f": {text}" if text else ""
