"""Retries with backoff, and one vocabulary for the errors of both clients.

Both the `openai` and `huggingface_hub` clients raise their own exception
types; `classify` maps them onto photolib's: an auth failure stops the run
with the name of the env var to fix, rate limits, 5xx, timeouts and dropped
connections are retried with exponential backoff and full jitter (honouring
`Retry-After`), anything else fails the one photo. Messages are scrubbed of
the API key, whatever the server echoed back.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable, TypeVar

from photolib.errors import ProviderAuthError, ProviderError, TransientProviderError

T = TypeVar("T")
MAX_MESSAGE = 300


def call_with_retries(fn: Callable[[], T], *, max_retries: int = 5, base_delay: float = 0.5,
                      max_delay: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> T:
    """Call `fn`, retrying `TransientProviderError` up to `max_retries` times."""
    attempt = 0
    while True:
        try:
            return fn()
        except TransientProviderError as error:
            if attempt >= max_retries:
                raise ProviderError(f"{error} (gave up after {attempt + 1} attempts)") from None
            backoff = random.uniform(0, min(max_delay, base_delay * 2 ** attempt))
            wait = min(max_delay, error.retry_after) if error.retry_after is not None else backoff
            sleep(wait)
            attempt += 1


def classify(error: Exception, *, key_env: str | None, secret: str | None) -> ProviderError:
    """A photolib error for an exception raised by either client."""
    status = _status(error)
    text = scrub(_short(error), secret)
    if type(error).__name__ == "OfflineModeIsEnabled":
        return ProviderError("HF_HUB_OFFLINE is set, so huggingface_hub refuses all requests: unset it to use this provider")
    if status in (401, 403):
        variable = key_env or "the API key variable"
        return ProviderAuthError(f"authentication failed (HTTP {status}): set {variable} to a valid key")
    if status == 429 or (status is not None and status >= 500):
        return TransientProviderError(f"HTTP {status}: {text}", retry_after=_retry_after(error))
    if status is not None:
        return ProviderError(f"HTTP {status}: {text}")
    if _is_transport_error(error):
        return TransientProviderError(f"{type(error).__name__}: {text}")
    return ProviderError(f"{type(error).__name__}: {text}")


def scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def _status(error: Exception) -> int | None:
    status = getattr(error, "status_code", None)
    if status is None:
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _retry_after(error: Exception) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        value = float(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None
    return max(0.0, value)


def _is_transport_error(error: Exception) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    transient = {"APIConnectionError", "APITimeoutError", "TransportError", "TimeoutException", "ConnectError",
                 "ReadTimeout", "InferenceTimeoutError", "RemoteProtocolError", "TimeoutError", "ConnectionError",
                 "ReadError", "WriteError", "NetworkError"}
    return bool(names & transient)


def _short(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text[:MAX_MESSAGE] or type(error).__name__


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
