"""Files written so that a crash or a kill leaves the old version or the new one, never half of one.

Every writer of a file that someone reads back (the index and its stamp, XMP sidecars,
thumbnails, HTML pages, caches, CSV lists, restored catalogs) goes through `atomic_file`:
a temporary file in the same folder (so the rename stays on one file system), optionally
fsynced, then renamed over the target. `fsync=False` is for caches that are cheap to
remake (thumbnails, pages), where the rename alone already keeps readers from half files.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator


def absolute(path: str | os.PathLike) -> Path:
    """Absolute path without resolving symlinks: the path the user wrote is the one stored and named."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", *, fsync: bool = True, keep_mode: bool = False,
                file_mode: int | None = None, prefix: str | None = None, suffix: str = ".tmp",
                **open_args: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing; on leaving the block it replaces `path`.

    `keep_mode`: the new file gets the permissions of the one it replaces (a user's sidecar);
    `file_mode`: explicit permissions. If the block raises, the temporary file is removed and
    `path` is untouched.
    """
    path = Path(path)
    handle, temp = tempfile.mkstemp(prefix=prefix if prefix is not None else f".{path.name}.", suffix=suffix,
                                    dir=path.parent)
    try:
        with os.fdopen(handle, mode, **open_args) as out:
            yield out
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        if keep_mode and path.exists():
            os.chmod(temp, path.stat().st_mode & 0o777)
        elif file_mode is not None:
            os.chmod(temp, file_mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str, **options: Any) -> None:
    """Write `data` (bytes, or text as UTF-8) to `path` through `atomic_file`."""
    if isinstance(data, str):
        with atomic_file(path, "w", encoding="utf-8", **options) as out:
            out.write(data)
    else:
        with atomic_file(path, "wb", **options) as out:
            out.write(data)


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a file already written (a copy made by another API) to the disk."""
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def fsync_folder(folder: str | os.PathLike) -> None:
    """Make a rename in `folder` durable; a file system that cannot sync folders is left as it is."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
