"""Retries with backoff, and one vocabulary for the errors of both clients.

Both the `openai` and `huggingface_hub` clients raise their own exception
types; `classify` maps them onto photolib's: an auth failure stops the run
with the name of the env var to fix, rate limits, 5xx, timeouts and dropped
connections are retried with exponential backoff and full jitter (honouring
`Retry-After`, in seconds or as an HTTP date, plus a little jitter so parallel
workers do not all come back at once), anything else fails the one photo.
A server that asks for a longer wait than `MAX_RETRY_AFTER` fails the photo
with that reason instead of stalling the run. Messages are scrubbed of the API
key (and of any truncated piece of it) before they are shortened.
"""

from __future__ import annotations

import random
import re
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, TypeVar

from photolib.core.errors import ProviderAuthError, ProviderError, TransientProviderError

T = TypeVar("T")
MAX_MESSAGE = 300
MAX_RETRY_AFTER = 60.0  # longest single wait photolib accepts from a server
MIN_SECRET_PIECE = 8  # a run of at least this many leading key characters counts as the key


def call_with_retries(fn: Callable[[], T], *, max_retries: int = 5, base_delay: float = 0.5,
                      max_delay: float = 30.0, max_retry_after: float = MAX_RETRY_AFTER,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """Call `fn`, retrying `TransientProviderError` up to `max_retries` times."""
    attempt = 0
    while True:
        try:
            return fn()
        except TransientProviderError as error:
            if error.retry_after is not None and error.retry_after > max_retry_after:
                raise ProviderError(
                    f"{error} (the server asked to wait {error.retry_after:.0f} s before retrying, longer than the "
                    f"{max_retry_after:.0f} s photolib waits: run the command again later)", error.status) from None
            if attempt >= max_retries:
                raise ProviderError(f"{error} (gave up after {attempt + 1} attempt{'s' if attempt else ''})",
                                    error.status) from None
            if error.retry_after is not None:
                wait = error.retry_after + random.uniform(0, 0.1 + 0.2 * error.retry_after)
            else:
                wait = random.uniform(0, min(max_delay, base_delay * 2 ** attempt))
            sleep(wait)
            attempt += 1


def classify(error: Exception, *, key_env: str | None, secret: str | None) -> ProviderError:
    """A photolib error for an exception raised by either client."""
    status = _status(error)
    text = _short(scrub(_describe(error, with_cause=status is None), secret), secret)
    if type(error).__name__ == "OfflineModeIsEnabled":
        return ProviderError("HF_HUB_OFFLINE is set, so huggingface_hub refuses all requests: unset it to use this provider")
    if status in (401, 403):
        variable = key_env or "the API key variable"
        return ProviderAuthError(f"authentication failed (HTTP {status}): set {variable} to a valid key", status)
    if status == 429 or (status is not None and status >= 500):
        return TransientProviderError(f"HTTP {status}: {text}", retry_after=_retry_after(error), status=status)
    if status is not None:
        return ProviderError(f"HTTP {status}: {text}", status)
    if _is_transport_error(error):
        return TransientProviderError(f"{type(error).__name__}: {text}")
    return ProviderError(f"{type(error).__name__}: {text}")


def scrub(text: str, secret: str | None) -> str:
    """`text` without the key, nor any piece of it of `MIN_SECRET_PIECE`+ leading characters (an echo cut short)."""
    if not secret:
        return text
    text = text.replace(secret, "***")
    if len(secret) < MIN_SECRET_PIECE:
        return text
    prefix = re.escape(secret[:MIN_SECRET_PIECE])
    rest = "".join(f"(?:{re.escape(ch)}" for ch in secret[MIN_SECRET_PIECE:]) + ")?" * (len(secret) - MIN_SECRET_PIECE)
    return re.sub(prefix + rest, "***", text)


def _status(error: Exception) -> int | None:
    status = getattr(error, "status_code", None)
    if status is None:
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _retry_after(error: Exception) -> float | None:
    """Seconds the server asked us to wait: `Retry-After` as a number or as an HTTP date."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after")
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _is_transport_error(error: Exception) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    transient = {"APIConnectionError", "APITimeoutError", "TransportError", "TimeoutException", "ConnectError",
                 "ReadTimeout", "InferenceTimeoutError", "RemoteProtocolError", "TimeoutError", "ConnectionError",
                 "ReadError", "WriteError", "NetworkError"}
    return bool(names & transient)


def _describe(error: BaseException, with_cause: bool) -> str:
    """The error's message, followed by its root cause's when that says more ("Connection refused")."""
    text = " ".join(str(error).split())
    if not with_cause:
        return text or type(error).__name__
    cause, seen = error, {id(error)}
    while True:
        nxt = cause.__cause__ or cause.__context__
        if nxt is None or id(nxt) in seen or len(seen) > 8:
            break
        seen.add(id(nxt))
        cause = nxt
    if cause is not error:
        detail = re.sub(r"^\[Errno -?\d+\]\s*", "", " ".join(str(cause).split()))
        if detail and detail not in text:
            text = f"{text.rstrip('.')}: {detail}" if text else detail
    return text or type(error).__name__


def _short(text: str, secret: str | None) -> str:
    """At most MAX_MESSAGE characters; re-scrubbed, so no key piece survives at the cut."""
    if len(text) <= MAX_MESSAGE:
        return text
    return scrub(text[:MAX_MESSAGE], secret) + "…"


def remote_call(fn: Callable[[], T], settings: Any, *, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run one client call with classification and the configured retries."""
    def attempt() -> T:
        try:
            return fn()
        except ProviderError:
            raise
        except Exception as error:  # noqa: BLE001 - every client error becomes a photolib error
            raise classify(error, key_env=settings.api_key_env, secret=settings.api_key) from None

    return call_with_retries(attempt, max_retries=int(settings.options.get("max_retries", 5)),
                             sleep=sleep)
