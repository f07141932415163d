"""Errors a user can cause or fix.

Core code raises these; only the CLI turns them into a one-line message and an
exit code, so the library stays usable from other programs and tests.
"""

from __future__ import annotations


class PhotolibError(Exception):
    """Base for errors whose message tells the user what to do."""

    exit_code = 1


class UsageError(PhotolibError):
    """Bad arguments or references (unknown photo id, bad date...)."""

    exit_code = 2


class ConfigError(PhotolibError):
    """The config file, environment or flags are wrong; the message names the key."""

    exit_code = 2


class GeneratorNotConfiguredError(PhotolibError):
    """`imagine` needs a [generation] provider; the message says which keys to set."""


class LibraryLockedError(PhotolibError):
    """Another photolib process is writing to the same library."""


class IndexMismatchError(PhotolibError):
    """The index holds vectors of another model or dimension than the catalog."""


class ProviderError(PhotolibError):
    """A model provider failed for one request; the photo stays retryable.

    `status` is the HTTP status the endpoint answered with, None when there
    was no answer (a dropped connection) or the failure is photolib's own
    finding (a malformed body).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProviderAuthError(ProviderError):
    """The provider refused our credentials: stop the run, nothing else will work."""


class ProviderUnavailableError(ProviderError):
    """A provider cannot be built here (missing weights, package or setting)."""


class TransientProviderError(ProviderError):
    """Rate limits, 5xx and timeouts: worth retrying after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class ServerUnansweredError(TransientProviderError):
    """No inference server answered for one photo (down, timed out, overloaded): the photo stays
    pending, not failed, and the next run (`photolib enrich`) sends it again."""


class NoServerAnswersError(ProviderUnavailableError):
    """None of the configured inference servers answers: the run stops with this one line (which URL,
    what to do), keeping everything already stored. `results`: per photo of the batch in hand, what was
    answered before they stopped (as the per-photo methods return it), so it is kept too."""

    def __init__(self, message: str, results: list | None = None) -> None:
        super().__init__(message)
        self.results = results or []


class MalformedOutputError(ProviderError):
    """The model answered, but not with usable data; `raw` keeps what it said."""

    def __init__(self, message: str, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw


class UnreadablePhotoError(PhotolibError):
    """A file could not be read as a photo; the reason is recorded on the photo."""


class NotACatalogError(UsageError):
    """The library's catalog file is something else than a photolib catalog."""


class CatalogTooNewError(PhotolibError):
    """The catalog was written by a newer photolib, whose schema this one cannot read."""


class CatalogDamagedError(PhotolibError):
    """The catalog is a photolib catalog, but damaged: `photolib doctor --repair` salvages it."""


class CatalogBusyError(PhotolibError):
    """Another process holds the catalog locked longer than the busy timeout."""
