"""kill -9 in the middle of every writing command: the catalog stays intact and the next command finishes the job.

Each trial starts a real `photolib` process and SIGKILLs it a chosen time after it took the library's write
lock, so the kill lands while it writes, not during interpreter start-up. Kill times are spread evenly over
the measured lock-holding time of an unkilled run of the same command. Only a run that really died of the
signal (returncode -9) counts as a trial; one that finished first is checked for a complete job and the
same kill time is tried again on fresh work. `add` and `reindex --reembed` also get one aimed kill, right
after their first batch is committed, so a half-done import or re-embedding is always among the trials.

The work is sized to span the window: 18 photos committed 2 at a time for `add` (local providers, and
remote ones answering with latency), a library of 1 018 photos for the others, a change of embedding model
to a remote one with latency for `reindex --reembed` (so every vector is really recomputed), and a deleted
folder for `prune`.

After every kill: `PRAGMA integrity_check` is ok, no path is duplicated, no vector is orphaned, and either
the index stamp matches the catalog (revision and vector count) or the next command repairs it (a
rebuild says so) and saves one that matches. At the end, the command run again and `add` finish the job.
Automatic snapshots and `doctor --repair` get the same treatment: a kill of the detached process writing a snapshot leaves
only whole snapshots listed, and a kill during a repair leaves the damaged catalog byte for byte or the
repaired one, whole, with the damaged file kept aside.

Counts of trials, and of what each kill left behind, are printed at the end of the pytest run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from tests.support.fake_servers import FakeModelServer
from tests.support.photos import make_trip
from tests.reliability.conftest import TRIALS
from tests.reliability.helpers import (REBUILT, ROOT, Run, catalog_query, check_catalog, child_env, gone,
                                       index_matches_catalog, photolib, photolib_argv, run_photolib, settle,
                                       snapshot_child, snapshot_process)

TRIPS = [("Harbour", (53.55, 9.99)), ("Forest", (48.0, 8.2)), ("Desert", (31.6, -8.0))]
PHOTOS = 18
BATCH = 2  # photos per transaction: 9 commits during one `add`
SYNTHETIC = 1000  # extra photos (already described and embedded) whose files are gone
TRIALS_PER_COMMAND = 3  # random kill moments per command in the default run (add, reembed: plus one aimed)
SLOW_TRIALS = 15
LOCAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# What `final_state` finds in a sound library: the catalog passes its integrity check, no path twice, no vector
# without its photo, every space's index in step with the catalog, no index file its stamp does not name.
SOUND = {"integrity": ["ok"], "duplicated paths": [], "vectors without a photo": 0, "index matches catalog": True,
         "orphaned index files": []}


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crash")
    (root / "config.toml").write_text(f"[add]\nbatch_size = {BATCH}\n")
    return root


@pytest.fixture(scope="module")
def pictures(workspace) -> Path:
    root = workspace / "pics"
    for n, (name, gps) in enumerate(TRIPS):
        make_trip(root, name, PHOTOS // 3, start=datetime(2022, 3 + n, 1, 10), gps=gps, color=(40 + 60 * n, 120, 90))
    return root


@pytest.fixture(scope="module")
def local_env(workspace) -> dict:
    return {"PHOTOLIB_CONFIG": str(workspace / "config.toml")}


@pytest.fixture(scope="module")
def add_duration(workspace, pictures, local_env) -> float:
    """Seconds an unkilled local `add` of the pictures holds the write lock; its library becomes the template."""
    run = run_photolib(workspace / "measured-add", ["add", str(pictures)], env=local_env, logs=workspace / "logs")
    assert run.returncode == 0, run.stderr
    settle(workspace / "measured-add")  # its snapshot, taken in the background, is part of the template
    assert run.locked_for is not None
    return run.locked_for


@pytest.fixture(scope="module")
def template(workspace, add_duration, local_env) -> Path:
    """The 18 real photos plus 1 000 imported ones (described, embedded, files gone): the starting library."""
    from photolib.pipeline.bulk import EmbeddedPhoto
    from photolib.core.config import load_settings
    from photolib.app.library import Library
    from photolib.core.records import Description

    library_path = workspace / "template"
    shutil.copytree(workspace / "measured-add", library_path)
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((40, 384)).astype(np.float32)

    def imported():
        for i in range(SYNTHETIC):
            vector = centres[i % 40] + 0.35 * rng.standard_normal(384).astype(np.float32)
            yield EmbeddedPhoto(str(workspace / "gone" / f"trip {i % 40}" / f"{i:05d}.jpg"),
                                Description([f"trip {i % 40}", "archive"], f"archive photo of trip {i % 40}",
                                            f"An old photo, number {i}, from trip {i % 40}."),
                                vector / np.linalg.norm(vector))

    library = Library(load_settings(config_path=Path(local_env["PHOTOLIB_CONFIG"]), library_path=library_path))
    try:
        assert library.import_embedded(imported(), LOCAL_MODEL) == SYNTHETIC
    finally:
        library.close()
    assert index_matches_catalog(library_path)
    return library_path


def fresh_copy(template: Path, library: Path) -> None:
    if library.exists():
        settle(library)
    shutil.rmtree(library, ignore_errors=True)
    shutil.copytree(template, library)


# -- the kill loop ----------------------------------------------------------------------


@dataclass
class Outcome:
    """What a kill loop saw, for the test to assert: one entry per kill (the aimed one included) saying what
    the checks after it found, and the library once the command (or `add`) was run again to the end."""
    after_kills: list[str] = field(default_factory=list)
    final: dict = field(default_factory=dict)
    next_add: dict | None = None  # `prune`: the library after `add` imported the restored folder again
    unkilled: tuple | None = None  # other writers: the library_state an unkilled run left


def kill_loop(name: str, library: Path, args: list[str], *, env: dict, duration: float, trials: int, seed: int,
              logs: Path, progress, reset, after_kill, after_finish) -> int:
    """Kill `args` `trials` times, at moments spread over `duration` (the measured length of an unkilled run).

    `progress()` is the share of the work found committed (0 to 1). Trials follow one another on the same
    library, so each run also resumes what the last one left; when the work is done, `reset()` puts it back.
    A run that finishes before its kill is not a trial: `after_finish(run)` checks it did the whole job and
    the same kill moment is tried again on fresh work. Returns how many kills left the work partly committed.
    """
    rng = random.Random(seed)
    slots = list(range(trials))
    rng.shuffle(slots)
    kills = misses = partial = 0
    earlier = 1.0
    while kills < trials:
        if progress() >= 1:
            reset()
        before = progress()
        delay = (slots[kills] + rng.random()) / trials * duration * 0.95 * earlier  # the end is process exit
        run = run_photolib(library, args, env=env, kill_after=delay, logs=logs / f"{kills}-{misses}")
        if not run.killed:
            assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
            after_finish(run)
            misses += 1
            if before == 0:  # even a whole run took less than measured: aim earlier
                earlier *= 0.7
            assert misses <= 2 * trials + 2, f"{name}: {misses} runs finished before the kill"
            continue
        assert run.returncode == -9
        kills += 1
        TRIALS[f"kill -9 during {name}"] += 1
        after_kill(run)
        partial += before < progress() < 1
    return partial


def check_index(library: Path, env: dict, name: str) -> str:
    """The index matches the catalog; or the next command repairs it, saying so if it has to rebuild it
    (a stale index is caught up with the catalog's recorded changes, which needs no message), and saves
    one that matches. Returns which of these it found.

    The next command is `similar <id>`: it needs the index but not the embedding model, so it is quick.
    """
    if index_matches_catalog(library):
        TRIALS[f"kill -9 during {name}: index matched the catalog"] += 1
        return "index matched"
    photo_id = catalog_query(library, "SELECT min(photo_id) FROM embeddings")[0][0]
    result = photolib(library, "similar", str(photo_id), "--json", env=env)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    json.loads(result.stdout)
    if not index_matches_catalog(library):  # `similar` used one space; `stats` opens every space's index
        result = photolib(library, "stats", "--json", env=env)
        assert "Traceback" not in result.stderr, result.stderr
    assert index_matches_catalog(library), f"the next command left a stale index: {result.stderr}"
    how = "rebuilt it, with a message" if REBUILT in result.stderr else "caught it up"
    TRIALS[f"kill -9 during {name}: index stale, the next command {how}"] += 1
    return f"index stale, the next command {how}"


def orphaned_index_files(library: Path) -> list[str]:
    """Data files in the index folder that its stamp does not name. After a successful save there are none:
    what a killed save left behind (a half-written or unreferenced vectors/delta file) is cleaned up, not
    kept forever."""
    stamp = json.loads((library / "index" / "description" / "stamp.json").read_text(encoding="utf-8"))
    named = {stamp.get("file"), stamp.get("delta")}
    data = {entry.name for entry in (library / "index" / "description").iterdir() if entry.name.startswith(("vectors-", "delta-"))}
    return sorted(data - named)


def final_state(library: Path, **more) -> dict:
    """The library as the user finds it after the last, unkilled run, read by a fresh process: the keys of
    SOUND, the photos by status, and `more`."""
    return {"integrity": [row[0] for row in catalog_query(library, "PRAGMA integrity_check")],
            "duplicated paths": catalog_query(library, "SELECT path FROM photos GROUP BY path HAVING count(*) > 1"),
            "vectors without a photo": catalog_query(library, "SELECT count(*) FROM embeddings WHERE photo_id "
                                                              "NOT IN (SELECT id FROM photos)")[0][0],
            "index matches catalog": index_matches_catalog(library),
            "orphaned index files": orphaned_index_files(library),
            "photos": dict(catalog_query(library, "SELECT status, count(*) FROM photos GROUP BY status")), **more}


def ok_real_photos(library: Path) -> int:
    rows = catalog_query(library, "SELECT count(*) FROM photos WHERE status = 'ok' AND vision_model != 'imported'")
    return rows[0][0] if rows else 0


def add_again(library: Path, pictures: Path, env: dict) -> dict:
    """Run `add` to the end and return the library it leaves (`final_state`, with the real photos ok and the
    description vectors counted): the test asserts it finished the job."""
    result = photolib(library, "add", str(pictures), "--json", env=env)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    vectors = catalog_query(library, "SELECT count(*) FROM embeddings WHERE space = 'description'")[0][0]
    return final_state(library, **{"real photos ok": ok_real_photos(library), "description vectors": vectors})


# -- add ---------------------------------------------------------------------------------


def add_kill_loop(name, library, pictures, env, duration, trials, seed, logs) -> Outcome:
    """Kill `add` once right after its first batch, then `trials` times at random moments; each kill is checked
    at once (catalog sound, index in step or repaired). Returns what the checks found and the library after one
    more `add`."""
    outcome = Outcome()

    def after_kill(run: Run) -> None:
        if (library / "catalog.db").exists():
            check_catalog(library)
        outcome.after_kills.append(check_index(library, env, name))

    def after_finish(run: Run) -> None:
        assert check_catalog(library) == {"ok": PHOTOS} and index_matches_catalog(library)

    # First an aimed kill: right after a fresh run committed its first batch, with work still pending.
    run = run_photolib(library, ["add", str(pictures)], env=env, kill_when=lambda: ok_real_photos(library) >= BATCH,
                       logs=logs / "aimed")
    assert run.killed, f"the add finished before it could be killed after its first batch: {run.stderr}"
    assert BATCH <= ok_real_photos(library) < PHOTOS, "the import was not committed batch by batch"
    TRIALS[f"kill -9 during {name}"] += 1
    after_kill(run)
    # Then kills at random moments; each run resumes what the killed one left.
    partial = kill_loop(name, library, ["add", str(pictures)], env=env, duration=duration, trials=trials, seed=seed,
                        logs=logs, progress=lambda: ok_real_photos(library) / PHOTOS,
                        reset=lambda: (settle(library), shutil.rmtree(library)), after_kill=after_kill, after_finish=after_finish)
    TRIALS[f"kill -9 during {name}: after some batches were committed, before the last"] += partial + 1
    outcome.final = add_again(library, pictures, env)
    return outcome


def test_kill_during_local_add(tmp_path, pictures, local_env, add_duration):
    outcome = add_kill_loop("add", tmp_path / "library", pictures, local_env, add_duration, TRIALS_PER_COMMAND, 1,
                            tmp_path / "logs")
    assert len(outcome.after_kills) == 1 + TRIALS_PER_COMMAND, outcome.after_kills  # every kill was checked
    assert outcome.final == {**SOUND, "photos": {"ok": PHOTOS}, "real photos ok": PHOTOS,
                             "description vectors": PHOTOS}  # the next `add` finished the job


@pytest.mark.slow
def test_kill_during_local_add_many_times(tmp_path, pictures, local_env, add_duration):
    outcome = add_kill_loop("add (slow)", tmp_path / "library", pictures, local_env, add_duration, 40, 3,
                            tmp_path / "logs")
    assert len(outcome.after_kills) == 1 + 40, outcome.after_kills
    assert outcome.final == {**SOUND, "photos": {"ok": PHOTOS}, "real photos ok": PHOTOS,
                             "description vectors": PHOTOS}


@contextmanager
def model_server(latency: float):
    """A local OpenAI-protocol server answering every request after `latency` seconds (and no later: its
    replies are sent without Nagle's delay, which would add ~40 ms per request)."""
    with FakeModelServer(dimension=32) as server:
        server.httpd.RequestHandlerClass.disable_nagle_algorithm = True
        server.latency = latency
        yield server


def remote_config(path: Path, server: FakeModelServer, *, vision: bool, embedding_batch: int = 64) -> dict:
    text = f"[add]\nbatch_size = {BATCH}\njobs = 4\n"
    if vision:
        text += f'[vision]\nprovider = "openai"\nbase_url = "{server.url}/v1"\nmax_retries = 1\n'
    text += (f'[embedding]\nprovider = "openai"\nbase_url = "{server.url}/v1"\nmodel = "fake-embed-32"\n'
             f"max_retries = 1\nbatch_size = {embedding_batch}\n")
    path.write_text(text)
    return {"PHOTOLIB_CONFIG": str(path), "OPENAI_API_KEY": "sk-test"}


def remote_add_kill_loop(tmp_path, pictures, trials, seed, name) -> Outcome:
    with model_server(latency=0.04) as server:  # the kill window is the model calls, as in real use
        env = remote_config(tmp_path / "remote.toml", server, vision=True)
        measured = run_photolib(tmp_path / "measured", ["add", str(pictures)], env=env, logs=tmp_path / "measured-logs")
        assert measured.returncode == 0, measured.stderr
        return add_kill_loop(name, tmp_path / "library", pictures, env, measured.locked_for, trials, seed,
                             tmp_path / "logs")


def test_kill_during_remote_add(tmp_path, pictures):
    outcome = remote_add_kill_loop(tmp_path, pictures, TRIALS_PER_COMMAND - 1, 4, "add (remote providers)")
    assert len(outcome.after_kills) == 1 + TRIALS_PER_COMMAND - 1, outcome.after_kills  # every kill was checked
    assert outcome.final == {**SOUND, "photos": {"ok": PHOTOS}, "real photos ok": PHOTOS,
                             "description vectors": PHOTOS}  # the next `add` finished the job


@pytest.mark.slow
def test_kill_during_remote_add_many_times(tmp_path, pictures):
    outcome = remote_add_kill_loop(tmp_path, pictures, 2 * SLOW_TRIALS, 5, "add (remote providers, slow)")
    assert len(outcome.after_kills) == 1 + 2 * SLOW_TRIALS, outcome.after_kills
    assert outcome.final == {**SOUND, "photos": {"ok": PHOTOS}, "real photos ok": PHOTOS,
                             "description vectors": PHOTOS}


# -- reindex, albums --save, prune ---------------------------------------------------------


def albums_saved(library: Path) -> tuple[int, int]:
    rows = catalog_query(library, "SELECT (SELECT count(*) FROM albums), (SELECT count(*) FROM album_photos), "
                                  "(SELECT count(*) FROM album_photos WHERE album_id NOT IN (SELECT id FROM albums))")
    albums, members, orphans = rows[0]
    assert orphans == 0
    return albums, members


def library_state(library: Path) -> tuple:
    return albums_saved(library), catalog_query(library, "SELECT count(*) FROM photos")[0][0]


@pytest.fixture
def deleted_trip(pictures):
    """The user deleted one trip's folder; `restore()` brings it back (and teardown does, for the other tests)."""
    name, kept = TRIPS[-1][0], pictures.parent / "deleted-trip"
    shutil.move(pictures / name, kept)

    def restore() -> None:
        if kept.exists():
            shutil.move(kept, pictures / name)

    yield restore
    restore()


def other_writer(command, name, tmp_path, template, pictures, env, trials, seed, request) -> Outcome:
    """Kill `command` on a copy of the template library; after each kill, the catalog holds the state from
    before the command or the one after it (one transaction), never a mix. Returns what the checks after
    each kill found, the state an unkilled run left, and the library after the command was run again (and,
    for `prune`, after `add` imported the restored folder)."""
    restore = request.getfixturevalue("deleted_trip") if command[0] == "prune" else None
    library = tmp_path / "library"
    fresh_copy(template, library)
    before = library_state(library)
    measured = run_photolib(library, command, env=env, logs=tmp_path / "measured")
    assert measured.returncode == 0 and measured.locked_for is not None, measured.stderr
    after = library_state(library)
    if command[0] == "albums":
        assert before[0] == (0, 0) and after[0][0] > 0
    if command[0] == "prune":
        assert before[1] == PHOTOS + SYNTHETIC and after[1] == PHOTOS - PHOTOS // 3
    fresh_copy(template, library)
    outcome = Outcome(unkilled=after)

    def after_kill(run: Run) -> None:
        check_catalog(library)
        state = library_state(library)
        assert state in (before, after), "a half-done transaction"
        side = "no change to tell apart"
        if before != after:
            side = ("after" if state == after else "before") + " its commit"
            TRIALS[f"kill -9 during {name}: {side}"] += 1
        outcome.after_kills.append(f"{side}, {check_index(library, env, name)}")

    def after_finish(run: Run) -> None:
        assert library_state(library) == after and index_matches_catalog(library)

    kill_loop(name, library, command, env=env, duration=measured.locked_for, trials=trials, seed=seed,
              logs=tmp_path / "logs", progress=lambda: float(before != after and library_state(library) == after),
              reset=lambda: fresh_copy(template, library), after_kill=after_kill, after_finish=after_finish)
    finish = photolib(library, *command, env=env)  # the same command, run again, finishes the job
    assert finish.returncode == 0 and "Traceback" not in finish.stderr, finish.stderr
    outcome.final = final_state(library, **{"library state": library_state(library)})
    if restore:
        restore()  # the folder is back: `add` imports it again (descriptions come from the cache)
        outcome.next_add = add_again(library, pictures, env)
    return outcome


@pytest.mark.parametrize("command", [["reindex"], ["albums", "--save"], ["prune"]])
def test_kill_during_other_writers(tmp_path, template, pictures, local_env, command, request):
    outcome = other_writer(command, " ".join(command), tmp_path, template, pictures, local_env, TRIALS_PER_COMMAND,
                           2, request)
    assert len(outcome.after_kills) == TRIALS_PER_COMMAND, outcome.after_kills  # every kill was checked
    # run again, the command leaves what an unkilled run left (albums, photos), every photo ok
    assert outcome.final == {**SOUND, "photos": {"ok": outcome.unkilled[1]}, "library state": outcome.unkilled}
    if command == ["prune"]:  # and `add` imports the restored folder again: every photo ok
        assert outcome.next_add == {**SOUND, "photos": {"ok": PHOTOS}, "real photos ok": PHOTOS,
                                    "description vectors": PHOTOS}


@pytest.mark.slow
@pytest.mark.parametrize("command", [["reindex"], ["albums", "--save"], ["prune"]])
def test_kill_during_other_writers_many_times(tmp_path, template, pictures, local_env, command, request):
    outcome = other_writer(command, " ".join(command) + " (slow)", tmp_path, template, pictures, local_env,
                           SLOW_TRIALS, 6, request)
    assert len(outcome.after_kills) == SLOW_TRIALS, outcome.after_kills
    assert outcome.final == {**SOUND, "photos": {"ok": outcome.unkilled[1]}, "library state": outcome.unkilled}
    if command == ["prune"]:
        assert outcome.next_add == {**SOUND, "photos": {"ok": PHOTOS}, "real photos ok": PHOTOS,
                                    "description vectors": PHOTOS}


# -- reindex --reembed ----------------------------------------------------------------------


def reembed_kill_loop(tmp_path, template, trials, seed, name) -> Outcome:
    """Switch to a remote embedding model, then kill `reindex --reembed` while it recomputes every vector.

    Killed part-way, the catalog holds old and new vectors: commands then say to run `reindex --reembed`
    (never search with the wrong model), and running it again resumes. Returns what the checks after each
    kill found and the library after it was run again to the end.
    """
    library = tmp_path / "library"
    total = PHOTOS + SYNTHETIC
    outcome = Outcome()
    with model_server(latency=0.05) as server:
        env = remote_config(tmp_path / "reembed.toml", server, vision=False, embedding_batch=128)
        fresh_copy(template, library)
        measured = run_photolib(library, ["reindex", "--reembed"], env=env, logs=tmp_path / "measured")
        assert measured.returncode == 0, measured.stderr
        fresh_copy(template, library)

        def models() -> dict:
            return dict(catalog_query(library, "SELECT model, count(*) FROM embeddings WHERE space = 'description' "
                                               "GROUP BY model"))

        def after_kill(run: Run) -> None:
            check_catalog(library)
            assert sum(models().values()) == total, "a photo lost its vector"
            stale = not index_matches_catalog(library)
            if not stale and "fake-embed-32" not in models():
                # killed before its first commit: the library is as it was before the run
                outcome.after_kills.append("killed before its first commit")
                return
            result = photolib(library, "search", "harbour", "--json", env=env)
            assert "Traceback" not in result.stderr
            if result.returncode == 0:  # re-embedding had finished: the index is the new model's
                assert set(models()) == {"fake-embed-32"} and index_matches_catalog(library)
                assert REBUILT in result.stderr or not stale, result.stderr  # old-model index: rebuilt, said so
                outcome.after_kills.append("re-embedding had finished: search works")
            else:  # old or mixed vectors: reported, never searched with the wrong model
                assert result.returncode == 1 and "reindex --reembed" in result.stderr, result.stderr
                outcome.after_kills.append("old or mixed vectors: search asks for `reindex --reembed`")

        def after_finish(run: Run) -> None:
            assert models() == {"fake-embed-32": total} and index_matches_catalog(library)

        # An aimed kill first: as soon as some vectors are the new model's and some still the old one's.
        run = run_photolib(library, ["reindex", "--reembed"], env=env, logs=tmp_path / "logs" / "aimed",
                           kill_when=lambda: 0 < models().get("fake-embed-32", 0) < total)
        assert run.killed and len(models()) == 2, "re-embedding was not committed batch by batch"
        TRIALS[f"kill -9 during {name}"] += 1
        after_kill(run)
        partial = kill_loop(name, library, ["reindex", "--reembed"], env=env, duration=measured.locked_for,
                            trials=trials, seed=seed, logs=tmp_path / "logs",
                            progress=lambda: models().get("fake-embed-32", 0) / total,
                            reset=lambda: fresh_copy(template, library), after_kill=after_kill,
                            after_finish=after_finish)
        TRIALS[f"kill -9 during {name}: left old and new vectors mixed"] += partial + 1
        finish = photolib(library, "reindex", "--reembed", "--json", env=env)
        assert finish.returncode == 0 and "Traceback" not in finish.stderr, finish.stderr
        outcome.final = final_state(library, **{"description vectors by model": models()})
    return outcome


def test_kill_during_reembed(tmp_path, template):
    outcome = reembed_kill_loop(tmp_path, template, TRIALS_PER_COMMAND - 1, 8, "reindex --reembed")
    assert len(outcome.after_kills) == 1 + TRIALS_PER_COMMAND - 1, outcome.after_kills  # every kill was checked
    # run again, re-embedding finished: every photo ok, every vector the new model's, the index in step
    assert outcome.final == {**SOUND, "photos": {"ok": PHOTOS + SYNTHETIC},
                             "description vectors by model": {"fake-embed-32": PHOTOS + SYNTHETIC}}


@pytest.mark.slow
def test_kill_during_reembed_many_times(tmp_path, template):
    outcome = reembed_kill_loop(tmp_path, template, SLOW_TRIALS, 9, "reindex --reembed (slow)")
    assert len(outcome.after_kills) == 1 + SLOW_TRIALS, outcome.after_kills
    assert outcome.final == {**SOUND, "photos": {"ok": PHOTOS + SYNTHETIC},
                             "description vectors by model": {"fake-embed-32": PHOTOS + SYNTHETIC}}


# -- the image space: kill -9 while the image stage embeds pixels ---------------------------------


def image_stage_done(library: Path) -> int:
    rows = catalog_query(library, "SELECT count(*) FROM stage_state WHERE stage = 'image' AND status = 'done'")
    return rows[0][0] if rows else 0


def test_kill_during_the_image_stage(tmp_path, pictures):
    """`add` with an image model: killed after the first pass, while the image stage commits batch by batch.
    Every finished stage is kept (descriptions and the image vectors committed so far), both spaces' indexes
    match the catalog or are repaired, and the next `add` embeds only the photos the image stage has not done."""
    from tests.support.onnx_models import build_tiny_clip

    model = build_tiny_clip(tmp_path / "tiny-clip")
    config = tmp_path / "image.toml"
    config.write_text(f'[add]\nbatch_size = {BATCH}\n[image]\nmodel = "test/tiny-clip"\nmodel_path = "{model}"\n')
    env = {"PHOTOLIB_CONFIG": str(config)}
    library, name = tmp_path / "library", "add (image stage)"
    measured = run_photolib(tmp_path / "measured", ["add", str(pictures)], env=env, logs=tmp_path / "measured-logs")
    assert measured.returncode == 0, measured.stderr
    assert image_stage_done(tmp_path / "measured") == PHOTOS

    def after_kill(run: Run) -> None:
        if (library / "catalog.db").exists():
            check_catalog(library)
            vectors = catalog_query(library, "SELECT count(*) FROM embeddings WHERE space = 'image'")[0][0]
            assert vectors == image_stage_done(library), "an image vector without its stage state, or the reverse"
        check_index(library, env, name)

    def after_finish(run: Run) -> None:
        assert image_stage_done(library) == PHOTOS and index_matches_catalog(library)

    run = run_photolib(library, ["add", str(pictures)], env=env, logs=tmp_path / "logs" / "aimed",
                       kill_when=lambda: image_stage_done(library) >= BATCH)
    assert run.killed, f"the add finished before its image stage could be killed: {run.stderr}"
    assert ok_real_photos(library) == PHOTOS, "the first pass had not finished before the image stage began"
    assert BATCH <= image_stage_done(library) < PHOTOS, "the image stage was not committed batch by batch"
    TRIALS[f"kill -9 during {name}"] += 1
    after_kill(run)
    kill_loop(name, library, ["add", str(pictures)], env=env, duration=measured.locked_for,
              trials=TRIALS_PER_COMMAND - 1, seed=11, logs=tmp_path / "logs",
              progress=lambda: image_stage_done(library) / PHOTOS, reset=lambda: shutil.rmtree(library),
              after_kill=after_kill, after_finish=after_finish)
    result = photolib(library, "add", str(pictures), "--json", env=env)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert image_stage_done(library) == PHOTOS and index_matches_catalog(library)
    again = json.loads(photolib(library, "add", str(pictures), "--json", env=env).stdout)
    assert {name: (stage["done"], stage["failed"]) for name, stage in again["stages"].items()} == {
        "thumbnails": (0, 0), "image": (0, 0)}


# -- automatic snapshots and doctor --repair ------------------------------------------------


def sound_photo_count(catalog: Path) -> int | None:
    """Photos in a catalog file that passes quick_check (read apart, so nothing is written beside it)."""
    from photolib.store import damage

    if damage.quick_check(catalog) != "ok":
        return None
    import sqlite3

    connection = sqlite3.connect(f"file:{catalog}?immutable=1", uri=True)
    try:
        return connection.execute("SELECT count(*) FROM photos").fetchone()[0]
    finally:
        connection.close()


def kill_snapshot(library: Path, *, env: dict, logs: Path, kill_after: float | None = None,
                  kill_when=None) -> tuple[bool, float]:
    """Run `albums --save` (snapshot due: it leaves one to its detached process), then SIGKILL that process
    `kill_after` seconds after it is seen, or as soon as `kill_when()` is true.

    Returns whether it was killed before it ended, and for how long it was seen running.
    """
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "stderr", "w+") as err:
        command = subprocess.Popen(photolib_argv(library, "albums", "--save"), stdout=subprocess.DEVNULL, stderr=err,
                                   env=child_env(env), cwd=ROOT)
        pid = None
        while pid is None and command.poll() is None:  # started by the command, which may outlive it
            pid = snapshot_child(command.pid)
            time.sleep(0.001)
        pid = pid or snapshot_process(library)
        seen = time.monotonic()
        killed = False
        while pid is not None and not gone(pid):
            if (kill_after is not None and time.monotonic() - seen >= kill_after) or (kill_when is not None
                                                                                        and kill_when()):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed = True
                except ProcessLookupError:
                    pass
                break
            time.sleep(0.001)
        ran_for = time.monotonic() - seen
        assert command.wait(120) == 0, err.seek(0) or err.read()
    settle(library, 60)  # the lock is free once the process is gone (killed or not)
    return killed, ran_for


def snapshot_kill_loop(tmp_path, template, local_env, trials, seed, name) -> Outcome:
    """Kill the detached process that takes the snapshot after `albums --save` (interval 0, so every run
    leaves one): the snapshots listed are always whole (never a half-written one), at most `snapshot_keep`,
    and the next one cleans up. Returns what each kill left and the snapshots after one more, unkilled."""
    from photolib.store.snapshots import list_snapshots

    config = tmp_path / "snapshots.toml"
    config.write_text(Path(local_env["PHOTOLIB_CONFIG"]).read_text() + "[library]\nsnapshot_interval = 0\n"
                      "snapshot_keep = 2\n")
    env = {"PHOTOLIB_CONFIG": str(config)}
    library = tmp_path / "library"
    fresh_copy(template, library)
    before = [s.name for s in list_snapshots(library)]
    killed, duration = kill_snapshot(library, env=env, logs=tmp_path / "measured")
    assert not killed
    assert [s.name for s in list_snapshots(library)][1:] == before[:1]  # one more, the oldest rotated out
    fresh_copy(template, library)
    outcome = Outcome()

    def partial() -> bool:
        return any(p.name.startswith(".partial-") for p in (library / "snapshots").glob(".partial-*"))

    def after_kill() -> None:
        check_catalog(library)
        snapshots = list_snapshots(library)
        assert len(snapshots) <= 2
        for snapshot in snapshots:
            # the template's own snapshot (its first add), or one of this command's
            assert sound_photo_count(snapshot.path) in (PHOTOS, PHOTOS + SYNTHETIC), f"{snapshot.name} is not whole"
        left = "a partial snapshot was left (not listed)" if partial() else "no partial snapshot left"
        TRIALS[f"kill -9 during {name}: {left}"] += 1
        outcome.after_kills.append(left)

    def after_finish() -> None:
        assert not partial() and list_snapshots(library)

    # Aimed: the moment its temporary snapshot file appears (a few milliseconds: tried until caught).
    for attempt in range(10):
        killed, _ = kill_snapshot(library, env=env, kill_when=partial, logs=tmp_path / "logs" / f"aimed-{attempt}")
        if killed and partial():
            break
        after_finish()
    assert killed and partial(), "the snapshot was never caught with its temporary file in 10 runs"
    TRIALS[f"kill -9 during {name}"] += 1
    after_kill()
    rng = random.Random(seed)
    kills = misses = 0
    while kills < trials:  # spread over the time an unkilled snapshot process was seen running
        delay = (kills + rng.random()) / trials * duration * 0.95
        killed, _ = kill_snapshot(library, env=env, kill_after=delay, logs=tmp_path / "logs" / f"{kills}-{misses}")
        if not killed:
            after_finish()
            misses += 1
            assert misses <= 2 * trials + 2, f"{name}: {misses} snapshots finished before the kill"
            duration *= 0.7  # this snapshot ran faster than the measured one (the machine's load changed): aim earlier
            continue
        kills += 1
        TRIALS[f"kill -9 during {name}"] += 1
        after_kill()
    time.sleep(1.05)  # a new snapshot name (they are to the second)
    finish = photolib(library, "albums", "--save", env=env)
    settle(library)
    assert finish.returncode == 0, finish.stderr
    outcome.final = {"partial snapshot left": partial(), "snapshots listed": len(list_snapshots(library))}
    return outcome


def test_kill_during_snapshot(tmp_path, template, local_env):
    outcome = snapshot_kill_loop(tmp_path, template, local_env, TRIALS_PER_COMMAND, 11, "automatic snapshot")
    assert len(outcome.after_kills) == 1 + TRIALS_PER_COMMAND, outcome.after_kills  # every kill was checked
    # the next snapshot cleaned up what the killed ones left, and `snapshot_keep` (2) are listed
    assert outcome.final == {"partial snapshot left": False, "snapshots listed": 2}


@pytest.mark.slow
def test_kill_during_snapshot_many_times(tmp_path, template, local_env):
    outcome = snapshot_kill_loop(tmp_path, template, local_env, SLOW_TRIALS, 12, "automatic snapshot (slow)")
    assert len(outcome.after_kills) == 1 + SLOW_TRIALS, outcome.after_kills
    assert outcome.final == {"partial snapshot left": False, "snapshots listed": 2}


def damaged_copy(template: Path, library: Path) -> bytes:
    """The template with 4 KB of random bytes over a page in the middle of its catalog; returns those bytes."""
    fresh_copy(template, library)
    catalog = library / "catalog.db"
    offset = (catalog.stat().st_size // 2) // 4096 * 4096
    with open(catalog, "r+b") as handle:
        handle.seek(offset)
        handle.write(random.Random(13).randbytes(4096))
    return catalog.read_bytes()


def repair_kill_loop(tmp_path, template, local_env, trials, seed, name) -> Outcome:
    """Kill `doctor --repair`: the catalog is then the damaged file, byte for byte, or the repaired one, whole;
    the damaged file is in `aside/` from the first moment it could be replaced; running it again finishes.
    Returns which catalog each kill left and the library after it was run again."""
    library = tmp_path / "library"
    damaged = damaged_copy(template, library)
    measured = run_photolib(library, ["doctor", "--repair", "--json"], env=local_env, logs=tmp_path / "measured")
    assert measured.returncode == 0, measured.stderr
    recovered = json.loads(measured.stdout)["photos"]
    assert recovered >= PHOTOS + SYNTHETIC - 20
    damaged_copy(template, library)
    outcome = Outcome()

    def state() -> str:
        data = (library / "catalog.db").read_bytes()
        if data == damaged:
            return "damaged"
        assert sound_photo_count(library / "catalog.db") == recovered, "neither the damaged nor the repaired catalog"
        assert any(kept.read_bytes() == damaged for kept in (library / "aside").glob("catalog-*-damaged.db"))
        return "repaired"

    def after_kill(run: Run) -> None:
        left = f"left the {state()} catalog"
        TRIALS[f"kill -9 during {name}: {left}"] += 1
        outcome.after_kills.append(left)

    def after_finish(run: Run) -> None:
        assert state() == "repaired"

    kill_loop(name, library, ["doctor", "--repair"], env=local_env, duration=measured.locked_for, trials=trials,
              seed=seed, logs=tmp_path / "logs", progress=lambda: float(state() == "repaired"),
              reset=lambda: damaged_copy(template, library), after_kill=after_kill, after_finish=after_finish)
    finish = photolib(library, "doctor", "--repair", env=local_env)
    assert finish.returncode == 0 and "Traceback" not in finish.stderr, finish.stderr
    repaired = state()
    doctor = photolib(library, "doctor", "--json", env=local_env)
    assert doctor.returncode == 0, doctor.stderr
    outcome.final = {"catalog": repaired, "doctor's integrity check": json.loads(doctor.stdout)["integrity"],
                     "index matches catalog": index_matches_catalog(library)}
    return outcome


def test_kill_during_repair(tmp_path, template, local_env):
    outcome = repair_kill_loop(tmp_path, template, local_env, TRIALS_PER_COMMAND, 14, "doctor --repair")
    assert len(outcome.after_kills) == TRIALS_PER_COMMAND, outcome.after_kills  # every kill was checked
    # run again, the repair finished: the repaired catalog, sound, its index in step
    assert outcome.final == {"catalog": "repaired", "doctor's integrity check": ["ok"], "index matches catalog": True}


@pytest.mark.slow
def test_kill_during_repair_many_times(tmp_path, template, local_env):
    outcome = repair_kill_loop(tmp_path, template, local_env, SLOW_TRIALS, 15, "doctor --repair (slow)")
    assert len(outcome.after_kills) == SLOW_TRIALS, outcome.after_kills
    assert outcome.final == {"catalog": "repaired", "doctor's integrity check": ["ok"], "index matches catalog": True}
