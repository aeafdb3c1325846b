"""A cache that trusts nothing on disk: what someone with write access to it can plant.

Each test tampers with a real entry the way such a person could (a FIFO, a sparse file, a
zip bomb, metadata of another key, links in ``.locks``, no room for a lock file) and checks
that the cache refuses it cheaply, discards it as it discards a corrupt entry, and never
hangs: anything that could block runs on a thread of its own, joined with a timeout, so a
regression fails the test instead of stalling the suite. Costs are measured on that thread
(CPU with ``time.thread_time()``, allocations with tracemalloc), never by wall clock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import types
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import filelock
import pytest

import dlcore
from dlcore import cache
from dlcore.errors import CacheError
from tests.support.results import FINGERPRINT, load_from_disk, make_result, saved

REPO = Path(__file__).resolve().parents[1]
HANG_SECONDS = 60  # far above any refusal (milliseconds), far below the suite's timeout
MAX_REFUSAL_CPU_SECONDS = 1.0  # the bound for refusing one planted entry
MAX_REFUSAL_BYTES = 200 * 2**20  # the bound (the zip bomb took 2.1 GB)
SPARSE_SIZE = 64 * 2**30  # the reported sparse model.keras: 64 GiB, no block on disk
BOMB_SIZE = 256 * 2**20  # a config.json member that deflates to ~1 MB, as in the report


@pytest.fixture(autouse=True)
def _every_test_has_its_own_cache(cache_dir):
    """The ``cache_dir`` fixture (tests/conftest.py) for every test here."""


# ---------------------------------------------------------------------------------------
# Helpers: bounded runs and an attacker's edits
# ---------------------------------------------------------------------------------------


class Measured:
    """What one bounded call did: its value, CPU seconds and peak traced allocation."""

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.cpu_seconds = 0.0
        self.peak_bytes = 0


def run_bounded(call: Callable[[], Any], fifos: tuple[Path, ...] = ()) -> Measured:
    """Run call on a thread of its own; fail (not hang) if it is still running after
    HANG_SECONDS, first opening the FIFOs it may be blocked on so that the thread ends."""
    measured = Measured()

    def target() -> None:
        start = time.thread_time()
        try:
            measured.value = call()
        except BaseException as exc:  # handed to the test below
            measured.error = exc
        measured.cpu_seconds = time.thread_time() - start

    tracemalloc.start()
    try:
        thread = threading.Thread(target=target, name="bounded-cache-call", daemon=True)
        thread.start()
        thread.join(HANG_SECONDS)
        measured.peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if thread.is_alive():
        for fifo in fifos:
            _release_reader(fifo)
        pytest.fail(f"the cache call was still blocked after {HANG_SECONDS} s")
    if measured.error is not None:
        raise measured.error
    return measured


def _release_reader(fifo: Path) -> None:
    """Open a FIFO's write end and close it: a reader blocked on it gets end-of-file."""
    with contextlib.suppress(OSError):  # no reader waiting (or gone): nothing to release
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def assert_cheap(measured: Measured) -> None:
    assert measured.cpu_seconds <= MAX_REFUSAL_CPU_SECONDS, measured.cpu_seconds
    assert measured.peak_bytes <= MAX_REFUSAL_BYTES, measured.peak_bytes


def edit_meta(entry: Path, **changes: Any) -> None:
    """Rewrite meta.json with some fields changed (None deletes nothing: it stores null)."""
    meta = json.loads((entry / "meta.json").read_text())
    meta.update(changes)
    (entry / "meta.json").write_text(json.dumps(meta))


def replant(entry: Path, name: str, payload: bytes) -> None:
    """Replace one file and record its new sha256 and size, as an attacker with write
    access can: the checksums alone then prove nothing."""
    (entry / name).write_bytes(payload)
    meta = json.loads((entry / "meta.json").read_text())
    meta["sha256"][name] = hashlib.sha256(payload).hexdigest()
    meta.setdefault("sizes", {})[name] = len(payload)
    (entry / "meta.json").write_text(json.dumps(meta))


def plant_fifo(path: Path) -> Path:
    path.unlink()
    os.mkfifo(path)
    return path


def refused_and_discarded(key: str, fifos: tuple[Path, ...] = ()) -> Measured:
    """Load key from disk on a bounded thread: None, a discard warning, and no entry left."""
    cache._forget()
    with pytest.warns(RuntimeWarning, match="Discarding corrupt cache entry"):
        measured = run_bounded(lambda: cache.load(key), fifos)
    assert measured.value is None
    assert not os.path.lexists(cache.entry_path(key))
    assert cache.count_entries() == 0
    return measured


def _members(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return {name: opened.read(name) for name in opened.namelist()}


# ---------------------------------------------------------------------------------------
# FIFOs and other files that are not regular files
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["meta.json", "history.json", "model.keras"])
def test_a_fifo_in_an_entry_is_refused_without_waiting(name):
    key, _ = saved()
    fifo = plant_fifo(cache.entry_path(key) / name)
    assert_cheap(refused_and_discarded(key, fifos=(fifo,)))
    saved()  # the key can be stored again
    assert load_from_disk(key) is not None


def test_an_entry_that_is_a_fifo_is_refused_and_removed(cache_dir):
    key = cache.key_for(make_result().config, FINGERPRINT)
    cache_dir.mkdir()
    os.mkfifo(cache_dir / key)
    assert cache.count_entries() == 0 and cache.list_entries() == []
    refused_and_discarded(key, fifos=(cache_dir / key,))


def test_listing_shows_an_entry_with_a_fifo_as_corrupt_without_waiting(capsys):
    from dlcore.__main__ import main

    key_a, _ = saved(seed=1)
    key_b, _ = saved(seed=2)
    fifos = (
        plant_fifo(cache.entry_path(key_a) / "meta.json"),
        plant_fifo(cache.entry_path(key_b) / "metrics.json"),
    )

    listed = run_bounded(cache.list_entries, fifos).value
    assert {(info.key, info.kind) for info in listed} == {(key_a, "corrupt"), (key_b, "corrupt")}
    capsys.readouterr()
    assert run_bounded(lambda: main(["cache", "list", "--json"]), fifos).value == 0
    shown = json.loads(capsys.readouterr().out)
    assert sorted(entry["kind"] for entry in shown) == ["corrupt", "corrupt"]
    assert run_bounded(lambda: main(["cache", "list"]), fifos).value == 0
    assert "2 cached model(s)" in capsys.readouterr().out
    assert cache.count_entries() == 2  # listing discards nothing
    assert run_bounded(cache.clear, fifos).value == 2


def test_a_directory_in_place_of_a_file_is_refused():
    key, _ = saved()
    model = cache.entry_path(key) / "model.keras"
    model.unlink()
    model.mkdir()
    refused_and_discarded(key)


# ---------------------------------------------------------------------------------------
# Sizes: a sparse file, oversized JSON, declared archive sizes
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("recorded", ["save time size", "sparse size", "no size"])
def test_a_sparse_64_gib_model_is_refused_without_reading_it(recorded):
    """The reported case: every load raised MemoryError and the entry was kept."""
    key, _ = saved()
    entry = cache.entry_path(key)
    os.truncate(entry / "model.keras", SPARSE_SIZE)
    meta = json.loads((entry / "meta.json").read_text())
    if recorded == "sparse size":  # the metadata agrees: the size cap refuses it
        meta.setdefault("sizes", {})["model.keras"] = SPARSE_SIZE
    elif recorded == "no size":  # as written before sizes were recorded
        meta.pop("sizes", None)
    (entry / "meta.json").write_text(json.dumps(meta))

    measured = refused_and_discarded(key)  # raises MemoryError if it tried to read it
    assert_cheap(measured)


def test_an_oversized_meta_json_is_refused_before_parsing():
    key, _ = saved()
    meta = cache.entry_path(key) / "meta.json"
    with open(meta, "ab") as handle:
        handle.truncate(2**30)  # a gigabyte of trailing NULs: sparse, and never read
    assert_cheap(refused_and_discarded(key))


def test_an_array_of_gigabyte_elements_is_refused(no_keras_load):
    """A dtype such as V1000000000 would make one stored row index a gigabyte."""
    key, _ = saved()
    entry = cache.entry_path(key)
    meta = json.loads((entry / "meta.json").read_text())
    meta["extras"]["train_idx"]["dtype"] = "V1000000000"
    (entry / "meta.json").write_text(json.dumps(meta))
    assert_cheap(refused_and_discarded(key))
    assert no_keras_load == []  # refused before the one costly step


def rebuilt(archive: bytes, members: dict[str, bytes | int]) -> bytes:
    """The archive with members added or replaced; an int is that many spaces, streamed
    through DEFLATE at level 1 (256 MiB of them pack into ~1 MB in ~0.4 s)."""
    chunk = b" " * 2**20
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as bombed:
        for name, data in {**_members(archive), **members}.items():
            if isinstance(data, bytes):
                bombed.writestr(name, data)
                continue
            with bombed.open(name, "w") as handle:
                for _ in range(data // len(chunk)):
                    handle.write(chunk)
    return out.getvalue()


@pytest.fixture
def no_keras_load(monkeypatch):
    """Records every model that reaches Keras (none should, for a refused archive)."""
    loads = []
    original = cache._load_model

    def recording(archive):
        loads.append(archive)
        return original(archive)

    monkeypatch.setattr(cache, "_load_model", recording)
    return loads


BOMBS = {
    # The reported case: config.json of 2.1 GB in a 1.5 MB model.keras (here 256 MiB).
    "config.json bomb": {"config.json": BOMB_SIZE},
    "weights over the size cap": {"model.weights.h5": cache.MAX_MODEL_BYTES + 2**20},
    "members over the total cap": {"a.bin": 80 * 2**20, "b.bin": 80 * 2**20},
    "too many members": {f"asset-{i}.txt": b"x" for i in range(cache.MAX_ARCHIVE_MEMBERS)},
    # 5,000 directory records: refused before zipfile builds a ZipInfo for each of them.
    "oversized directory": {f"asset-{i:05}.txt": b"" for i in range(5000)},
}


@pytest.mark.parametrize("members", BOMBS.values(), ids=BOMBS.keys())
def test_an_archive_whose_members_unpack_too_large_is_refused_before_keras(members, no_keras_load):
    key, _ = saved()
    entry = cache.entry_path(key)
    bomb = rebuilt((entry / "model.keras").read_bytes(), members)
    assert len(bomb) < 2 * 2**20  # small on disk: only the declared sizes give it away
    replant(entry, "model.keras", bomb)

    assert_cheap(refused_and_discarded(key))
    assert no_keras_load == []


def test_a_bzip2_member_is_refused():
    """Keras and Python's zipfile write stored or deflated members, nothing else."""
    key, _ = saved()
    entry = cache.entry_path(key)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_BZIP2) as other:
        for name, data in _members((entry / "model.keras").read_bytes()).items():
            other.writestr(name, data)
    replant(entry, "model.keras", out.getvalue())
    refused_and_discarded(key)


def test_a_genuine_entry_passes_the_checks_without_allocating_the_caps():
    """The checks refuse bombs, not what Keras writes; and a bounded read allocates what
    the file holds, not the cap (read(n) allocates n bytes before reading)."""
    key, _ = saved()
    archive = (cache.entry_path(key) / "model.keras").read_bytes()
    cache._check_archive(archive)
    cache._forget()
    measured = run_bounded(lambda: cache.load(key))
    assert measured.value is not None
    assert measured.peak_bytes < cache.MAX_JSON_BYTES  # the files are ~30 KB here


def test_a_model_swapped_after_the_checks_is_not_what_keras_reads(monkeypatch):
    """Keras loads a private copy of the verified bytes: a FIFO swapped in for model.keras
    between the checks and the load neither blocks the load nor changes what it loads."""
    key, original = saved()
    model = cache.entry_path(key) / "model.keras"
    check = cache._check_archive

    def check_then_swap(archive: bytes) -> None:
        check(archive)
        plant_fifo(model)

    monkeypatch.setattr(cache, "_check_archive", check_then_swap)
    cache._forget()
    loaded = run_bounded(lambda: cache.load(key), fifos=(model,)).value
    assert loaded is not None and loaded.metrics == original.metrics


def test_no_room_for_the_private_copy_keeps_the_entry(monkeypatch, caplog):
    key, _ = saved()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, "dlcore.cache"):
        patch.setattr(cache.tempfile, "TemporaryDirectory", no_space)
        assert load_from_disk(key) is None
    assert "No space left on device" in caplog.text
    assert cache.entry_path(key).is_dir()  # the machine is short of space, not the entry bad
    assert load_from_disk(key) is not None


def test_save_refuses_a_model_over_the_size_cap(monkeypatch, cache_dir):
    """What a load would refuse is never stored (it would be trained again on every load)."""
    monkeypatch.setattr(cache, "MAX_MODEL_BYTES", 1024)
    result = make_result()
    with pytest.raises(CacheError, match="model.keras is .* bytes"):
        cache.save(cache.key_for(result.config, FINGERPRINT), result, data_fingerprint=FINGERPRINT)
    assert cache.count_entries() == 0 and list(cache_dir.glob(".tmp-*")) == []


# ---------------------------------------------------------------------------------------
# Metadata that belongs to another key
# ---------------------------------------------------------------------------------------


def test_a_null_fingerprint_is_refused():
    key, _ = saved()
    edit_meta(cache.entry_path(key), data_fingerprint=None)
    refused_and_discarded(key)


def test_a_missing_fingerprint_is_refused():
    key, _ = saved()
    entry = cache.entry_path(key)
    meta = json.loads((entry / "meta.json").read_text())
    del meta["data_fingerprint"]
    (entry / "meta.json").write_text(json.dumps(meta))
    refused_and_discarded(key)


def test_a_fingerprint_of_other_data_is_refused():
    key, _ = saved()
    edit_meta(cache.entry_path(key), data_fingerprint="e" * 64)
    refused_and_discarded(key)


def test_other_library_versions_are_refused():
    key, _ = saved()
    edit_meta(cache.entry_path(key), versions={"dlcore": dlcore.__version__, "keras": "0.1"})
    refused_and_discarded(key)


def test_an_entry_copied_under_another_key_with_a_null_fingerprint_is_refused(cache_dir):
    """The reported case: a whole valid entry, its fingerprint nulled, under key B."""
    import shutil

    key_a, _ = saved(seed=1)
    other = make_result(seed=2)
    key_b = cache.key_for(other.config, FINGERPRINT)
    shutil.copytree(cache.entry_path(key_a), cache_dir / key_b)
    edit_meta(cache_dir / key_b, data_fingerprint=None)

    cache._forget()
    with pytest.warns(RuntimeWarning, match="Discarding"):
        assert run_bounded(lambda: cache.load(key_b)).value is None
    assert not (cache_dir / key_b).exists()
    assert load_from_disk(key_a) is not None  # the original is untouched


def test_save_refuses_a_key_that_is_not_the_results():
    result = make_result()
    with pytest.raises(CacheError, match="fingerprint"):
        cache.save(cache.key_for(result.config, FINGERPRINT), result)
    with pytest.raises(CacheError, match="not this config"):
        cache.save(cache.key_for(result.config, "e" * 64), result, data_fingerprint=FINGERPRINT)
    assert cache.count_entries() == 0


# ---------------------------------------------------------------------------------------
# Locks
# ---------------------------------------------------------------------------------------

OTHER_PROCESS_PROBE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    import filelock
    from dlcore import cache
    try:
        with cache.lock({key!r}, timeout=0):
            print("acquired")
    except filelock.Timeout:
        print("busy")
    """
)


def _other_process_takes(key: str, cache_dir: Path) -> str:
    probe = OTHER_PROCESS_PROBE.format(repo=str(REPO), key=key)
    env = {**os.environ, "DLCORE_CACHE_DIR": str(cache_dir)}
    run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, timeout=120)
    return run.stdout.decode().strip()


def test_a_locks_link_is_replaced_not_followed(tmp_path, cache_dir):
    target = tmp_path / "elsewhere"
    target.mkdir()
    cache_dir.mkdir()
    (cache_dir / ".locks").symlink_to(target, target_is_directory=True)
    key, _ = saved()  # save takes the key's lock

    with cache.lock(key):
        assert list(target.iterdir()) == []  # nothing was ever created at the link's target
        locks = cache_dir / ".locks"
        assert locks.is_dir() and not locks.is_symlink()
        assert (locks / f"{key}.lock").is_file()
        assert _other_process_takes(key, cache_dir) == "busy"  # and it still locks


@pytest.mark.parametrize("planted", ["file", "fifo"])
def test_a_locks_file_or_fifo_is_replaced_by_a_directory(planted, cache_dir):
    cache_dir.mkdir()
    locks = cache_dir / ".locks"
    if planted == "fifo":
        os.mkfifo(locks)
    else:
        locks.write_text("not a directory")
    key = "b" * 64

    def take_and_release() -> None:
        with cache.lock(key, timeout=5):
            assert locks.is_dir() and (locks / f"{key}.lock").is_file()

    run_bounded(take_and_release, fifos=(locks,))


@pytest.mark.parametrize("planted", ["link to a file", "link to nowhere", "fifo", "directory"])
def test_a_planted_lock_file_is_replaced_and_its_target_untouched(planted, tmp_path, cache_dir):
    key = "c" * 64
    victim = tmp_path / "victim.txt"
    lock_file = cache_dir / ".locks" / f"{key}.lock"
    lock_file.parent.mkdir(parents=True)
    if planted == "link to a file":
        victim.write_text("precious")
        lock_file.symlink_to(victim)
    elif planted == "link to nowhere":
        lock_file.symlink_to(victim)
    elif planted == "fifo":
        os.mkfifo(lock_file)
    else:
        (lock_file / "inside").mkdir(parents=True)

    def take_and_release() -> None:
        with cache.lock(key, timeout=5):
            assert lock_file.is_file() and not lock_file.is_symlink()

    run_bounded(take_and_release, fifos=(lock_file,))
    if planted == "link to a file":
        assert victim.read_text() == "precious"
    else:
        assert not victim.exists()


LOCK_FILE_ERRORS = [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES]


@pytest.fixture(params=LOCK_FILE_ERRORS, ids=errno.errorcode.get)
def no_lock_file(request, monkeypatch):
    """Lock files cannot be created (no space or inodes, over quota, read-only, foreign)."""
    code = request.param

    def cannot_create(key):
        raise OSError(code, os.strerror(code), f"{key}.lock")

    monkeypatch.setattr(cache, "_open_lock_file", cannot_create)
    return os.strerror(code)


def test_without_a_lock_file_the_lock_still_works_within_the_process(no_lock_file, caplog):
    key = cache.key_for(make_result().config, FINGERPRINT)
    with caplog.at_level(logging.WARNING, "dlcore.cache"), cache.lock(key):
        with cache.lock(key):  # re-entrant, as save under a job's lock needs
            pass
        other = run_bounded(lambda: _try_lock(key))
        assert other.value == "busy"  # other threads of this process are still excluded
    assert no_lock_file in caplog.text and "within this process only" in caplog.text
    assert run_bounded(lambda: _try_lock(key)).value == "acquired"


def _try_lock(key: str) -> str:
    try:
        with cache.lock(key, timeout=0):
            return "acquired"
    except filelock.Timeout:
        return "busy"


def test_without_a_lock_file_training_goes_on_and_save_raises_cache_error(no_lock_file):
    """What a job does: lock, look in the cache, train, save. Only the save fails."""
    config = make_result().config
    key = cache.key_for(config, FINGERPRINT)
    with cache.lock(key):
        assert cache.load(key) is None
        trained = make_result()  # training happens here, under the lock
        with pytest.raises(CacheError, match=no_lock_file):
            cache.save(key, trained, data_fingerprint=FINGERPRINT)
    assert trained.model is not None and not trained.cached
    assert cache.count_entries() == 0 and cache.load(key) is None


def test_a_file_system_without_file_locks_does_not_stop_the_lock(monkeypatch, caplog):
    """flock fails with ENOLCK on some network file systems: the same fallback applies."""

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    fake = types.SimpleNamespace(flock=no_locks, LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB)
    monkeypatch.setattr(cache, "fcntl", fake)
    result = make_result()
    key = cache.key_for(result.config, FINGERPRINT)
    with caplog.at_level(logging.WARNING, "dlcore.cache"), cache.lock(key):
        assert run_bounded(lambda: _try_lock(key)).value == "busy"
        with pytest.raises(CacheError, match="No locks available"):
            cache.save(key, result, data_fingerprint=FINGERPRINT)
    assert "within this process only" in caplog.text


def test_a_cache_directory_that_cannot_be_made_does_not_stop_the_lock(monkeypatch, tmp_path):
    """A read-only parent: even the cache directory cannot be created."""
    monkeypatch.setenv("DLCORE_CACHE_DIR", str(tmp_path / "cache"))

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(cache.Path, "mkdir", read_only)
    with cache.lock("d" * 64):
        pass
    result = make_result()
    with pytest.raises(CacheError, match="Read-only file system"):
        cache.save(cache.key_for(result.config, FINGERPRINT), result, data_fingerprint=FINGERPRINT)
