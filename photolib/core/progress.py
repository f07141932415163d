"""How long-running library calls report progress without printing.

The core calls these hooks; the CLI passes an object that drives a Rich
progress bar, tests pass nothing (or a recorder).
"""

from __future__ import annotations

from typing import Callable, Protocol


class Progress(Protocol):
    def start(self, total: int | None, description: str) -> None: ...

    def advance(self, count: int = 1, **counters: int) -> None: ...

    def finish(self) -> None: ...

    def line(self, description: str, total: int | None) -> "Progress":
        """One more progress line shown with the others (one per running pipeline stage);
        `finish` of the owner ends them all."""
        ...


class NoProgress:
    def start(self, total: int | None, description: str) -> None:
        pass

    def advance(self, count: int = 1, **counters: int) -> None:
        pass

    def finish(self) -> None:
        pass

    def line(self, description: str, total: int | None) -> "Progress":
        return self


Notify = Callable[[str], None]


def ignore(message: str) -> None:
    """Default `notify`: library messages go nowhere unless a caller listens."""
