"""Walk folders and sort files into new, changed, moved, unchanged and gone.

Decisions come from stat data first (size + mtime) and a content hash only
when stat says a file is unknown or changed, so re-scanning a large unchanged
tree costs one `stat` per file and no reads.
"""

from __future__ import annotations

import os
import stat as stat_module
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from photolib.media import SUPPORTED_EXTENSIONS, file_hash
from photolib.models import PhotoStatus, Stage

if TYPE_CHECKING:
    from photolib.catalog import FileState


PROGRESS_EVERY = 256
HASH_THREADS = max(2, min(8, os.cpu_count() or 1))


@dataclass
class FoundFile:
    path: Path
    root: Path
    size: int
    mtime_ns: int


@dataclass
class ScanProblem:
    path: str
    reason: str
    folder: bool = False  # reported on every run until fixed, never stored as a photo


@dataclass
class ScanPlan:
    """What `add` has to do; ids refer to catalog rows."""

    new: list[tuple[FoundFile, str]] = field(default_factory=list)  # (file, hash)
    changed: list[tuple[int, FoundFile, str]] = field(default_factory=list)  # content differs
    touched: list[tuple[int, FoundFile]] = field(default_factory=list)  # stat differs, same bytes
    moved: list[tuple[int, FoundFile]] = field(default_factory=list)  # known bytes at a new path
    unchanged: list[int] = field(default_factory=list)
    unchanged_unreadable: list[int] = field(default_factory=list)  # same bytes that could not be read before
    problems: list[ScanProblem] = field(default_factory=list)


def walk_photos(root: Path, problems: list[ScanProblem]) -> Iterator[FoundFile]:
    """Photo files under `root` (or `root` itself), skipping hidden folders and files.

    Symlinked folders are not followed (no loops, nothing outside the tree);
    symlinked files are read, and a broken one is reported.
    """
    if root.is_file() or root.is_symlink() and not root.is_dir():
        found = _found(root, root.parent, problems)
        if found:
            yield found
        return
    def on_error(error: OSError) -> None:
        problems.append(ScanProblem(str(error.filename), f"cannot read folder: {error.strerror}", folder=True))
    for folder, dirs, files in os.walk(root, onerror=on_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or os.path.splitext(name)[1].lower().lstrip(".") not in SUPPORTED_EXTENSIONS:
                continue
            path = os.path.join(folder, name)
            if not _utf8(path):
                printable = os.fsencode(path).decode("utf-8", "backslashreplace")
                problems.append(ScanProblem(printable, "file name is not valid UTF-8: rename the file to import it"))
                continue
            found = _found(Path(path), root, problems)
            if found:
                yield found


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _found(path: Path, root: Path, problems: list[ScanProblem]) -> FoundFile | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        problems.append(ScanProblem(str(path), "broken symbolic link or vanished file"))
        return None
    except OSError as error:
        problems.append(ScanProblem(str(path), f"cannot stat file: {error.strerror}"))
        return None
    if not stat_module.S_ISREG(stat.st_mode):
        problems.append(ScanProblem(str(path), "not a regular file (a pipe, device or socket): nothing to import"))
        return None
    return FoundFile(path=path, root=root, size=stat.st_size, mtime_ns=stat.st_mtime_ns)


def plan_scan(
    roots: list[Path],
    known: dict[str, "FileState"],
    hashes_known: Callable[[list[str]], dict[str, list[tuple[int, str]]]],
    on_file: Callable[[int], None] | None = None,
) -> ScanPlan:
    """Compare the files under `roots` with `known` (Catalog.file_states()).

    `on_file(n)` is told every `PROGRESS_EVERY` files, so progress costs nothing per file.
    """
    plan = ScanPlan()
    to_hash: list[tuple[FoundFile, "FileState | None"]] = []
    seen: set[str] = set()
    for root in roots:
        for found in walk_photos(root, plan.problems):
            key = str(found.path)
            if key in seen:
                continue
            seen.add(key)
            if on_file and len(seen) % PROGRESS_EVERY == 0:
                on_file(PROGRESS_EVERY)
            state = known.get(key)
            if state is not None and state.size == found.size and state.mtime_ns == found.mtime_ns:
                unreadable = state.status == PhotoStatus.FAILED and state.failed_stage == Stage.READ
                (plan.unchanged_unreadable if unreadable else plan.unchanged).append(state.id)
                continue
            to_hash.append((found, state))
    candidates: list[tuple[FoundFile, str]] = []
    for (found, state), digest in zip(to_hash, _hash_all([found for found, _ in to_hash], plan.problems)):
        if digest is None:
            continue
        if state is None:
            candidates.append((found, digest))
        elif state.hash == digest:
            plan.touched.append((state.id, found))
        else:
            plan.changed.append((state.id, found, digest))
    _sort_new_and_moved(plan, candidates, hashes_known([d for _, d in candidates]), seen)
    return plan


def _hash_all(files: list[FoundFile], problems: list[ScanProblem]) -> list[str | None]:
    """Content hashes in input order, on every core (hashlib and file reads release the GIL)."""
    if len(files) < 2:
        results = [_hash_or_error(found) for found in files]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
            results = list(pool.map(_hash_or_error, files))
    for found, (_, error) in zip(files, results):
        if error:
            problems.append(ScanProblem(str(found.path), error))
    return [digest for digest, _ in results]


def _hash_or_error(found: FoundFile) -> tuple[str | None, str | None]:
    try:
        return file_hash(found.path), None
    except OSError as error:
        return None, f"cannot read file: {error.strerror or error}"


def _sort_new_and_moved(
    plan: ScanPlan, candidates: list[tuple[FoundFile, str]],
    by_hash: dict[str, list[tuple[int, str]]], seen: set[str],
) -> None:
    """A known hash whose old path is gone is a move; a copy of a known file is a new photo
    (it reuses the cached description, so it costs no model call); the very same file reached
    through another path (a symlinked folder) is the photo already known."""
    claimed: set[int] = set()
    for found, digest in candidates:
        owners = by_hash.get(digest, [])
        same_file = [pid for pid, path in owners if _same_file(path, found.path)]
        if same_file:
            plan.unchanged.append(same_file[0])
            continue
        gone = [pid for pid, path in owners if pid not in claimed and path not in seen and not os.path.exists(path)]
        if gone and found.size > 0:
            claimed.add(gone[0])
            plan.moved.append((gone[0], found))
        else:
            plan.new.append((found, digest))


def _same_file(known: str, found: Path) -> bool:
    try:
        return os.path.samefile(known, found)
    except OSError:
        return False
