"""Walk folders and sort files into new, changed, moved, unchanged and gone.

Decisions come from stat data first (size + mtime) and a content hash only
when stat says a file is unknown or changed, so re-scanning a large unchanged
tree costs one `stat` per file and no reads.
"""

from __future__ import annotations

import os
import stat as stat_module
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from photolib.media.formats import (DEVELOPED_EXTENSIONS, RAW_EXTENSIONS, SIDECAR_EXTENSIONS, VIDEO_EXTENSIONS, extension,
                              missing_package)
from photolib.media.read import SUPPORTED_EXTENSIONS, file_hash
from photolib.core.records import FailedStep, PhotoStatus

if TYPE_CHECKING:
    from photolib.store.catalog import FileState
    from photolib.store.photo_files import SecondFile


PROGRESS_EVERY = 256
HASH_THREADS = max(2, min(8, os.cpu_count() or 1))


class FileKind(str, Enum):
    """What a file found under an added folder is, by its name."""

    PHOTO = "photo"
    RAW = "raw"
    VIDEO = "video"
    SIDECAR = "sidecar"
    UNSUPPORTED = "unsupported"


class RawMode(str, Enum):
    """`[add] raw`: a RAW beside a JPEG of the same name is part of that photo, a photo of its own, or ignored."""

    PAIR = "pair"
    SEPARATE = "separate"
    SKIP = "skip"


def classify(name: str) -> FileKind:
    ext = extension(name)
    if ext in RAW_EXTENSIONS:
        return FileKind.RAW
    if ext in SUPPORTED_EXTENSIONS:
        return FileKind.PHOTO
    if ext in VIDEO_EXTENSIONS:
        return FileKind.VIDEO
    if ext in SIDECAR_EXTENSIONS:
        return FileKind.SIDECAR
    return FileKind.UNSUPPORTED


def _ext_label(name: str) -> str:
    ext = extension(name)
    return f".{ext}" if ext else "(no extension)"


@dataclass
class Skipped:
    """Files an `add` saw and did not import, by why: nothing is left out in silence."""

    unsupported: Counter = field(default_factory=Counter)  # ".psd" -> count
    videos: Counter = field(default_factory=Counter)  # not photos: listed, never errors
    sidecars: Counter = field(default_factory=Counter)  # .xmp/.aae metadata beside photos
    raw_skipped: Counter = field(default_factory=Counter)  # [add] raw = "skip"
    needs_package: dict[str, list] = field(default_factory=dict)  # ".heic" -> [count, what to install]
    hidden_files: int = 0
    hidden_folders: int = 0  # not entered
    # Not skipped, counted here because the walk sees them: XMP sidecars of photos it found, read as
    # those photos' metadata (keywords, caption, rating), so never in the "not imported" counts.
    xmp_of_photos: int = 0

    def count(self, name: str, kind: FileKind) -> None:
        label = _ext_label(name)
        if kind is FileKind.VIDEO:
            self.videos[label] += 1
        elif kind is FileKind.SIDECAR:
            self.sidecars[label] += 1
        else:
            self.unsupported[label] += 1

    def as_dict(self) -> dict:
        def by_ext(counter: Counter) -> dict:
            ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0].startswith("("), item[0]))
            return {"count": sum(counter.values()), "extensions": dict(ordered)}

        return {
            "unsupported": by_ext(self.unsupported), "not_photos": by_ext(self.videos),
            "sidecars": by_ext(self.sidecars), "raw_skipped": by_ext(self.raw_skipped),
            "needs_package": {"count": sum(c for c, _ in self.needs_package.values()),
                              "extensions": {ext: c for ext, (c, _) in self.needs_package.items()},
                              "install": sorted({what for _, what in self.needs_package.values()})},
            "hidden": {"count": self.hidden_files + self.hidden_folders, "files": self.hidden_files,
                       "folders": self.hidden_folders},
        }


@dataclass
class FoundFile:
    path: Path
    root: Path
    size: int
    mtime_ns: int
    sidecars: tuple[Path, ...] = ()  # existing XMP sidecars (photo.jpg.xmp, photo.xmp)

    def sidecar_signature(self) -> str:
        from photolib.media.xmp import sidecar_signature

        return sidecar_signature(self.sidecars)


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
    sidecar_changed: list[int] = field(default_factory=list)  # same bytes, but the user's XMP sidecar changed
    problems: list[ScanProblem] = field(default_factory=list)
    skipped: Skipped = field(default_factory=Skipped)
    # RAW+JPEG pairs (see `photolib.pipeline.pairs`): the RAW is a second file of the JPEG's photo.
    companions: list[tuple[FoundFile, str, str | None]] = field(default_factory=list)  # (raw, shown path, hash if new)
    stale_companions: list[str] = field(default_factory=list)  # known second files no longer paired here
    repointed: list[tuple[int, FoundFile, str]] = field(default_factory=list)  # a pair's photo now shown by this file
    merged_away: list[int] = field(default_factory=list)  # RAW photos that became a second file of a pair


def walk_photos(root: Path, problems: list[ScanProblem], skipped: Skipped | None = None,
                raw: RawMode = RawMode.PAIR) -> Iterator[FoundFile]:
    """Photo files under `root` (or `root` itself), skipping hidden folders and files.

    Symlinked folders are not followed (no loops, nothing outside the tree);
    symlinked files are read, and a broken one is reported. Every file left
    out is counted in `skipped` by why.
    """
    skipped = skipped if skipped is not None else Skipped()
    if root.is_file() or root.is_symlink() and not root.is_dir():
        if _wanted(root.name, skipped, raw):
            found = _found(root, root.parent, problems)
            if found:
                from photolib.media.xmp import sidecar_candidates

                found.sidecars = tuple(p for p in sidecar_candidates(root) if p.is_file())
                yield found
        return
    def on_error(error: OSError) -> None:
        problems.append(ScanProblem(str(error.filename), f"cannot read folder: {error.strerror}", folder=True))
    for folder, dirs, files in os.walk(root, onerror=on_error):
        skipped.hidden_folders += sum(1 for d in dirs if d.startswith("."))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        sidecars = {name.lower(): name for name in files if name.lower().endswith(".xmp")}
        belonging: set[Path] = set()  # XMP sidecars of the photos found in this folder
        developed = {os.path.splitext(name)[0].lower() for name in files
                     if extension(name) in DEVELOPED_EXTENSIONS} if sidecars and raw is RawMode.PAIR else set()
        for name in sorted(files):
            if name.startswith("."):
                skipped.hidden_files += 1
                continue
            if name.lower().endswith(".xmp"):
                continue  # counted below, once it is known whether a photo here reads it
            if not _wanted(name, skipped, raw):
                continue
            path = os.path.join(folder, name)
            if not _utf8(path):
                printable = os.fsencode(path).decode("utf-8", "backslashreplace")
                problems.append(ScanProblem(printable, "file name is not valid UTF-8: rename the file to import it"))
                continue
            found = _found(Path(path), root, problems)
            if found:
                if sidecars:
                    found.sidecars = _sidecars_of(name, folder, sidecars)
                    if os.path.splitext(name)[0].lower() not in developed or extension(name) not in RAW_EXTENSIONS:
                        belonging.update(found.sidecars)  # a paired RAW's own sidecars are not read (its JPEG's are)
                yield found
        for name in sidecars.values():
            if name.startswith("."):
                continue
            if Path(folder, name) in belonging:
                skipped.xmp_of_photos += 1
            else:
                skipped.count(name, FileKind.SIDECAR)  # no photo of that name here: not read


def _wanted(name: str, skipped: Skipped, raw: RawMode) -> bool:
    """Whether a file is a photo to import; if not, it is counted by why."""
    kind = classify(name)
    if kind not in (FileKind.PHOTO, FileKind.RAW):
        skipped.count(name, kind)
        return False
    if kind is FileKind.RAW and raw is RawMode.SKIP:
        skipped.raw_skipped[_ext_label(name)] += 1
        return False
    needed = missing_package(extension(name))
    if needed:
        entry = skipped.needs_package.setdefault(_ext_label(name), [0, needed])
        entry[0] += 1
        return False
    return True


def _sidecars_of(name: str, folder: str, sidecars: dict[str, str]) -> tuple[Path, ...]:
    """`name.xmp` then `stem.xmp`, found in the folder listing already read (no extra stat per photo)."""
    wanted = [f"{name}.xmp".lower(), f"{os.path.splitext(name)[0]}.xmp".lower()]
    return tuple(Path(folder, sidecars[w]) for w in dict.fromkeys(wanted) if w in sidecars)


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
    *,
    raw: RawMode = RawMode.PAIR,
    companions_known: dict[str, "SecondFile"] | None = None,
) -> ScanPlan:
    """Compare the files under `roots` with `known` (Catalog.file_states()).

    `companions_known` holds the second files of RAW+JPEG pairs (path ->
    (photo id, size, mtime_ns, hash, photo path)); with `raw` = pair, a RAW
    beside a JPEG of the same name joins the JPEG's photo instead of being one.
    `on_file(n)` is told every `PROGRESS_EVERY` files, so progress costs nothing per file.
    """
    plan = ScanPlan()
    companions_known = companions_known or {}
    found_all: list[FoundFile] = []
    seen: set[str] = set()
    for root in roots:
        for found in walk_photos(root, plan.problems, plan.skipped, raw):
            key = str(found.path)
            if key in seen:
                continue
            seen.add(key)
            found_all.append(found)
            if on_file and len(seen) % PROGRESS_EVERY == 0:
                on_file(PROGRESS_EVERY)
    pairs = pair_raw_files(found_all) if raw is RawMode.PAIR else {}
    to_hash: list[tuple[FoundFile, "FileState | None"]] = []
    companion_files: list[FoundFile] = []
    for found in found_all:
        key = str(found.path)
        if key in pairs:
            companion = companions_known.get(key)
            if companion is not None and companion.size == found.size and companion.mtime_ns == found.mtime_ns:
                plan.companions.append((found, str(pairs[key].path), None))
            else:
                companion_files.append(found)
            continue
        state = known.get(key)
        if state is not None and state.size == found.size and state.mtime_ns == found.mtime_ns:
            unreadable = state.status == PhotoStatus.FAILED and state.failed_stage == FailedStep.READ
            if not unreadable and (state.sidecar_sig or "") != (found.sidecar_signature() if found.sidecars else ""):
                plan.sidecar_changed.append(state.id)
                continue
            (plan.unchanged_unreadable if unreadable else plan.unchanged).append(state.id)
            continue
        to_hash.append((found, state))
    digests = _hash_all([found for found, _ in to_hash] + companion_files, plan.problems)
    candidates: list[tuple[FoundFile, str]] = []
    for (found, state), digest in zip(to_hash, digests):
        if digest is None:
            continue
        if state is None:
            candidates.append((found, digest))
        elif state.hash == digest:
            plan.touched.append((state.id, found))
        else:
            plan.changed.append((state.id, found, digest))
    for found, digest in zip(companion_files, digests[len(to_hash):]):
        if digest is not None:
            plan.companions.append((found, str(pairs[str(found.path)].path), digest))
    _sort_new_and_moved(plan, candidates, hashes_known([d for _, d in candidates]), seen)
    _settle_pairs(plan, pairs, known, companions_known, seen, roots)
    return plan


def pair_raw_files(found: list[FoundFile]) -> dict[str, FoundFile]:
    """RAW path -> the developed file (JPEG, else HEIC) of the same name in the same folder."""
    preference = {ext: rank for rank, ext in enumerate(("jpg", "jpeg", "heic", "heif", "hif"))}
    developed: dict[tuple[str, str], FoundFile] = {}
    for item in found:
        ext = extension(item.path.name)
        if ext in DEVELOPED_EXTENSIONS:
            group = (str(item.path.parent), item.path.stem.lower())
            current = developed.get(group)
            if current is None or preference[ext] < preference[extension(current.path.name)]:
                developed[group] = item
    pairs = {}
    for item in found:
        if extension(item.path.name) in RAW_EXTENSIONS:
            partner = developed.get((str(item.path.parent), item.path.stem.lower()))
            if partner is not None:
                pairs[str(item.path)] = partner
    return pairs


def _settle_pairs(plan: ScanPlan, pairs: dict[str, FoundFile], known: dict[str, "FileState"],
                  companions_known: dict[str, "SecondFile"], seen: set[str], roots: list[Path]) -> None:
    """Keep a photo's id when one file of a pair comes or goes.

    A RAW that was a photo of its own and now has a JPEG beside it: its photo
    is shown by the JPEG from now on (or, when the JPEG is already a photo, the
    RAW's photo is merged into it). A RAW whose JPEG is gone: the pair's photo
    is shown by the RAW. Second files no longer paired under the scanned
    folders are forgotten as second files (a lone RAW is then a photo).
    """
    new_by_path = {str(found.path): (found, digest) for found, digest in plan.new}
    taken: set[str] = set()
    for raw_path, shown in pairs.items():
        state = known.get(raw_path)
        if state is None:
            continue
        entry = new_by_path.get(str(shown.path))
        if entry is not None and str(shown.path) not in taken:
            taken.add(str(shown.path))
            plan.repointed.append((state.id, *entry))
        else:
            plan.merged_away.append(state.id)
    claimed = {photo_id for photo_id, _ in plan.moved} | {photo_id for photo_id, _, _ in plan.repointed}
    for path, state in companions_known.items():
        if path in pairs or not _under(path, roots):
            continue
        plan.stale_companions.append(path)
        photo_id, photo_path = state.photo_id, state.photo_path
        entry = new_by_path.get(path)
        if (entry is not None and path not in taken and photo_id not in claimed
                and photo_path not in seen and not os.path.exists(photo_path)):
            taken.add(path)
            claimed.add(photo_id)
            plan.repointed.append((photo_id, *entry))
    plan.new = [(found, digest) for found, digest in plan.new if str(found.path) not in taken]


def _under(path: str, roots: list[Path]) -> bool:
    return any(path == str(root) or path.startswith(str(root).rstrip(os.sep) + os.sep) for root in roots)


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
