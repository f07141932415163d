"""The Library facade used directly, as another program would."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime

import pytest

from photolib.core.errors import IndexMismatchError, LibraryLockedError
from tests.support.photos import make_photo, make_trip


def test_add_search_through_the_api(make_library, trips):
    library = make_library()
    report = library.add([trips])
    assert (report.new, len(report.failed)) == (6, 0)
    hits = library.search("paris france")
    assert sorted(h.path for h in hits[:3]) == sorted(str(p) for p in (trips / "Paris weekend").iterdir())
    sydney = library.show(hits[-1].id if "Sydney" in hits[-1].path else library.search("sydney")[0].id)
    assert "winter" in sydney["tags"]  # July in the southern hemisphere


def test_interrupted_add_resumes(make_library, trips):
    class Interrupting:
        model_name, prompt_version, remote_host, describes_from_path = "interrupting-vision", "1", None, False

        def __init__(self):
            from photolib.providers.local import LocalVision
            from photolib.core.protocols import ProviderSettings

            self.inner = LocalVision(ProviderSettings(provider="local"))
            self.calls = 0

        def describe(self, photo):
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return self.inner.describe(photo)

    vision = Interrupting()
    library = make_library(vision=vision, settings={"batch_size": 2, "jobs": 1})
    with pytest.raises(KeyboardInterrupt):
        library.add([trips])
    counts = library.catalog.status_counts()
    assert counts["ok"] == 2 and counts["pending"] == 4
    calls_before = vision.calls
    report = library.add([trips])
    assert report.new == 0 and report.retried == 4
    assert library.catalog.status_counts() == {"pending": 0, "ok": 6, "failed": 0}
    assert library.index().count == 6
    assert vision.calls - calls_before == 4  # only the unfinished photos are described again


def test_second_writer_waits_then_gives_clear_message(make_library, trips, library_path):
    first = make_library()
    second = make_library(settings={"lock_timeout": 0.2})
    with first.write_lock():
        with pytest.raises(LibraryLockedError, match="another photolib process"):
            second.add([trips])
    assert second.add([trips]).new == 6


def test_lock_held_by_another_process(make_library, trips, library_path):
    library_path.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time, filelock; l = filelock.FileLock(sys.argv[1]); l.acquire(); print('held', flush=True); time.sleep(30)",
         str(library_path / ".lock")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LibraryLockedError):
            make_library(settings={"lock_timeout": 0.3}).add([trips])
    finally:
        holder.kill()
        holder.wait()


def test_changing_embedding_model_requires_reembed(make_library, trips):
    library = make_library()
    library.add([trips])

    class OtherModel:
        model_name = "other/model"

        def __init__(self, inner):
            self.inner = inner

        def embed_documents(self, texts):
            import numpy as np

            truncated = self.inner.embed_documents(texts)[:, :128]
            return truncated / np.linalg.norm(truncated, axis=1, keepdims=True)

        def embed_query(self, text):
            return self.embed_documents([text])[0]

    other = make_library(embedder=OtherModel(library.embedder))
    with pytest.raises(IndexMismatchError, match="reindex --reembed"):
        other.search("paris")
    with pytest.raises(IndexMismatchError, match="reindex --reembed"):
        other.add([trips])
    result = other.reindex(reembed=True)
    assert result | {"spaces": None} == {"vectors": 6, "model": "other/model", "dimension": 128, "reembedded": 6,
                                         "spaces": None}
    assert result["spaces"] == {"description": {"vectors": 6, "model": "other/model", "dimension": 128}}
    assert "Paris" in other.search("paris")[0].path


def test_search_during_add_sees_what_is_committed(make_library, trips, tmp_path):
    """A reader searching while `add` is half done sees exactly the batches committed so far, then the rest."""
    from photolib.core.protocols import ProviderSettings
    from photolib.providers.local import LocalVision

    class PausingOnTheLastPhoto(LocalVision):
        def __init__(self):
            super().__init__(ProviderSettings(provider="local"))
            self.calls, self.paused, self.resume = 0, threading.Event(), threading.Event()

        def describe(self, photo):
            self.calls += 1
            if self.calls == 6:
                self.paused.set()
                assert self.resume.wait(120)
            return super().describe(photo)

    make_library().add([trips])
    more = tmp_path / "more"
    make_trip(more, "Rome food tour", 6, start=datetime(2018, 10, 1, 19, 0), gps=(41.9028, 12.4964), color=(150, 40, 30))
    vision = PausingOnTheLastPhoto()
    writer = make_library(vision=vision, settings={"batch_size": 2, "jobs": 1})
    errors = []

    def add():
        try:
            writer.add([more])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            vision.resume.set()

    thread = threading.Thread(target=add)
    thread.start()
    try:
        assert vision.paused.wait(120), "the writer never reached the last photo"
        reader = make_library()
        deadline = time.monotonic() + 120
        while reader.catalog.status_counts()["ok"] < 10 and time.monotonic() < deadline:
            time.sleep(0.05)  # the two batches before the paused one are being committed
        committed = {p["id"] for p in reader.list_photos(status="ok") if "Rome" in p["path"]}
        assert len(committed) == 4 and reader.catalog.status_counts()["pending"] == 2
        rome = {hit.id for hit in reader.search("rome food tour") if "Rome" in hit.path}
        assert rome == committed and reader.index().count == 10
        assert len([h for h in reader.search("paris") if "Paris" in h.path]) == 3
    finally:
        vision.resume.set()
        thread.join()
    assert errors == []
    assert len({hit.id for hit in reader.search("rome food tour") if "Rome" in hit.path}) == 6
    assert reader.index().count == 12


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys; from typer.testing import CliRunner; from photolib.cli import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0; "
        "print(','.join(m for m in ('numpy', 'faiss', 'PIL', 'openai', 'huggingface_hub', 'tokenizers', 'safetensors') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == ""


def test_duplicate_copies_reuse_descriptions(make_library, trips, tmp_path):
    """A vision model that looks only at the pixels (as remote ones do) is not asked twice about the same bytes."""
    from photolib.core.protocols import ProviderSettings
    from photolib.providers.local import LocalVision

    class PixelsOnly(LocalVision):
        describes_from_path = False

    library = make_library(vision=PixelsOnly(ProviderSettings(provider="local")))
    library.add([trips])
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    source = next((trips / "Paris weekend").iterdir())
    (copy_dir / "again.jpg").write_bytes(source.read_bytes())
    report = library.add([copy_dir])
    assert report.new == 1 and report.described == 0


def test_new_photo_after_file_is_rewritten(make_library, tmp_path):
    root = tmp_path / "one"
    photo = make_photo(root / "a.jpg")
    library = make_library()
    library.add([root])
    make_photo(photo, color=(10, 10, 10))
    report = library.add([root])
    assert report.updated == 1 and report.described == 1


def test_import_embedded_photos_then_search_and_rescan(make_library, tmp_path):
    from photolib.pipeline.bulk import EmbeddedPhoto
    from photolib.core.records import Description

    library = make_library()
    texts = ["a red kite over the dunes", "snowy mountain summit at dawn", "a bowl of ramen in a busy bar"]
    vectors = library.embedder.embed_documents(texts)
    records = [EmbeddedPhoto(str(tmp_path / f"{i}.jpg"), Description([], text, ""), vectors[i]) for i, text in enumerate(texts)]
    assert library.import_embedded(records, library.embedder.model_name) == 3
    assert library.search("noodle soup")[0].path.endswith("2.jpg")
    assert library.import_embedded(records[:1], library.embedder.model_name) == 1  # same path: replaced, not duplicated
    assert library.catalog.status_counts()["ok"] == 3 and library.index().count == 3


def test_stats_of_a_long_lived_library_lists_what_it_repaired(make_library, trips, library_path):
    """A Library that has already added and searched holds its index; stats still says what it fixed."""
    import sqlite3

    library = make_library()
    library.add([trips])
    assert library.search("paris")
    writer = sqlite3.connect(library_path / "catalog.db", isolation_level=None)  # a vector lost behind photolib's back
    writer.execute("DELETE FROM embeddings WHERE photo_id = (SELECT min(photo_id) FROM embeddings)")
    writer.execute("UPDATE meta SET value = value + 1 WHERE key = 'revision'")
    writer.close()
    repaired = "Index held 6 vectors, catalog holds 5; rebuilt it from the catalog (5 vectors)."
    stats = library.stats()
    assert stats["repaired"] == [repaired]
    assert library.messages[-1] == repaired and stats["index_vectors"] == 5
    assert library.stats()["repaired"] == []  # repaired once, then the index adds up
