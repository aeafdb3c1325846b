"""On-disk store of trained results: keyed, atomic, locked, verified, size-capped.

An entry is the directory ``<cache_dir>/<key>/`` holding ``model.keras``, ``history.json``,
``metrics.json`` and ``meta.json``. The key is a sha256 of the config, the dataset
fingerprint and the library versions, so a changed setting, dataset or Keras release never
reuses a stale model. Entries are written into a temporary directory and renamed into
place, so a reader sees either a whole entry or none; a per-key file lock serialises the
check-cache -> train -> save sequence across processes; the least recently used entries are
evicted above the size cap.

Nothing on disk is trusted, since anyone who can write the cache directory can plant
anything there: only regular files are opened (never a link, FIFO or device; never through
a linked entry directory), each read is bounded by a size cap checked before reading, the
metadata must name the key it is stored under, the model archive's members are size-checked
before Keras sees them, Keras loads a private copy of the verified bytes with ``safe_mode``,
and lock files live in a real ``.locks`` directory inside the cache. An entry that fails any
check is discarded, as a corrupt one is. A cache that cannot be written (no space, no
inodes, read-only) never stops training: ``lock`` falls back to a lock within this process
and ``save`` raises CacheError. Locking and safe opening need a POSIX system (Linux, macOS).

This module does not import TensorFlow or Keras until a model is actually loaded or saved:
the sidebar calls ``count_entries()`` on every page, Home included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import re
import shutil
import stat
import struct
import tempfile
import threading
import time
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock

try:
    import fcntl
except ImportError:  # not a POSIX system: lock() falls back to a lock within this process
    fcntl = None

import dlcore
from dlcore import settings
from dlcore.configs import MnistConfig, RegressionConfig
from dlcore.errors import CacheError
from dlcore.memo import LruMemo
from dlcore.states import CACHEABLE_STATUSES, TrainingStatus

if TYPE_CHECKING:
    from dlcore.training import TrainResult

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
JSON_FILES = ("history.json", "metrics.json", "meta.json")
ENTRY_FILES = (MODEL_FILE, *JSON_FILES)
_CHECKSUMMED = (MODEL_FILE, "history.json", "metrics.json")  # meta.json holds their sha256
TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
LOCK_DIR = ".locks"
FORMAT_VERSION = 1
NO_DATA_SOURCE = "—"  # listed for entries written before meta.json named their data
MEMO_SIZE = 8  # loaded results kept in memory; a CNN is ~3 MB of weights

# Size caps, checked before anything is read, so that a planted file costs nothing to refuse.
# The widest CNN the configs allow (256/256/1024 filters, batch norm, Adam's two slots per
# weight) is an 86 MB .keras file; the default recipe's is 2.7 MB.
MAX_MODEL_BYTES = 128 * 2**20
# meta.json of a 100,000-row regression (its row indices) is ~1.1 MB, a 2,000-epoch history
# ~0.3 MB; parsing 4 MB of hostile JSON ("{},{},...") stays under ~100 MB of memory.
MAX_JSON_BYTES = 4 * 2**20
# Keras writes three archive members (metadata.json, config.json, model.weights.h5) whose
# directory records take ~200 bytes; the caps bound what zipfile allocates for the listing.
MAX_ARCHIVE_MEMBERS = 16
MAX_CENTRAL_DIRECTORY_BYTES = 64 * 2**10
# The widest CNN's config.json is 11 KB; a "config.json" of gigabytes is a zip bomb.
MAX_ARCHIVE_JSON_BYTES = 2**20
ARCHIVE_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what Python's zipfile writes
# What stored arrays may be: row indices and curves (bool, int, uint, float, at most 8
# bytes each). A dtype such as "V1000000000" would make one element a gigabyte.
ARRAY_KINDS = "biuf"
LOCK_POLL_SECONDS = 0.05  # a waiting lock retries this often; trainings last seconds to minutes

# Open flags for anything read from the cache: never through a link, never blocking on a
# FIFO (open returns at once; fstat then refuses anything but a regular file).
# (POSIX flags; getattr keeps the module importable where one is missing.)
_READ_FLAGS = os.O_RDONLY | sum(
    getattr(os, flag, 0) for flag in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC")
)
_DIR_FLAGS = _READ_FLAGS | getattr(os, "O_DIRECTORY", 0)
_LOCK_FLAGS = _READ_FLAGS | os.O_CREAT  # flock needs no write access to the file
_LOCK_FILE_MODE = 0o644  # as filelock made them: other users may take the lock too
# zipfile finds the end record as these constants describe (APPNOTE 4.3.16 and 4.3.15).
_END_RECORD = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_LOCATOR_SIZE = 20
_MAX_ZIP_COMMENT = 0xFFFF

_KEY_RE = re.compile(r"[0-9a-f]{64}")
CONFIG_TYPES = {"mnist": MnistConfig, "regression": RegressionConfig}

# Loaded results by key, most recently used last: a page rerun gets the same object at once.
_memo: LruMemo[TrainResult] = LruMemo(MEMO_SIZE)


@dataclass(frozen=True)
class EntryInfo:
    """What the cache knows about one stored result, for listings.

    Attributes:
        key: The 64-hex-digit cache key (also the directory name).
        kind: "mnist", "regression", or "corrupt" when the metadata cannot be read.
        summary: The config in one line ("epochs=3, batch_size=128, ...").
        size_bytes: Bytes on disk of the entry's files.
        created: Unix time the entry was written.
        last_used: Unix time the entry was last saved or loaded (drives LRU eviction).
        metrics: Test metrics stored with the model.
        status: Training status ("completed", "early_stopped").
        settings: The config's fields by name (without "kind").
        data: What the model trained on, with the settings that made the data (sample
            count, noise, non-linearity, seed); the data is not part of the config, so two
            entries with equal settings differ here. NO_DATA_SOURCE for entries written
            before it was stored.
        data_fingerprint: The fingerprint of the training data (part of the key).
    """

    key: str
    kind: str
    summary: str
    size_bytes: int
    created: float
    last_used: float
    metrics: dict[str, float]
    status: str = ""
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: str = NO_DATA_SOURCE
    data_fingerprint: str = ""


# ---------------------------------------------------------------------------------------
# Keys and paths
# ---------------------------------------------------------------------------------------


def _keras_version() -> str:
    """The installed Keras version, read from package metadata (no Keras import)."""
    try:
        return importlib.metadata.version("keras")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def key_for(config: MnistConfig | RegressionConfig, data_fingerprint: str) -> str:
    """The cache key of a training: sha256 over config, data and library versions.

    Args:
        config: The frozen training config.
        data_fingerprint: A string that changes whenever the training data changes.

    Returns:
        64 lowercase hex digits.
    """
    parts = [config.kind, config.to_json(), data_fingerprint, dlcore.__version__]
    parts.append(_keras_version())
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


def check_key(key: object) -> str:
    """Return key if it is exactly 64 lowercase hex digits, else raise CacheError.

    This is what keeps a crafted key ("../x", "/etc", "a/b") from naming a path outside
    the cache directory.
    """
    if not isinstance(key, str) or _KEY_RE.fullmatch(key) is None:
        raise CacheError(f"Invalid cache key {key!r}: expected 64 hexadecimal digits.")
    return key


def cache_location() -> Path:
    """The cache directory (from DLCORE_CACHE_DIR or the user cache); may not exist yet."""
    return settings.cache_dir()


def entry_path(key: str) -> Path:
    """Directory of the entry for key (it may not exist)."""
    return cache_location() / check_key(key)


def model_path(key: str) -> Path:
    """Path of the entry's ``.keras`` model file (it may not exist)."""
    return entry_path(key) / MODEL_FILE


def _entry_names() -> list[Path]:
    """Everything named like an entry: real directories, and links or files planted there."""
    try:
        children = list(cache_location().iterdir())
    except OSError:
        return []
    return [path for path in children if _KEY_RE.fullmatch(path.name)]


def _is_real_dir(path: Path) -> bool:
    """Whether path is a directory itself, not a link to one (lstat never follows links)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _entry_dirs() -> list[Path]:
    """Directories of complete entries; temporary and trash directories, and links, skipped."""
    return [path for path in _entry_names() if _is_real_dir(path)]


def count_entries() -> int:
    """Number of stored entries; cheap (one directory listing, no TensorFlow)."""
    return len(_entry_dirs())


# ---------------------------------------------------------------------------------------
# Locking
# ---------------------------------------------------------------------------------------


@dataclass
class _Hold:
    """A key's lock as the current thread holds it.

    Attributes:
        depth: How many nested ``lock`` contexts of this thread hold it.
        shared: Whether the cross-process file lock is held too, not only the in-process one.
        problem: Why the file lock could not be taken ("" when shared).
    """

    depth: int
    shared: bool
    problem: str = ""


_held = threading.local()  # .holds: {key: _Hold} of the locks the current thread holds
# One in-process lock per key used by this process (a few hundred bytes per key). Every
# holder takes it before the file lock, so threads exclude each other even when the file
# lock cannot be created.
_key_locks: dict[str, threading.Lock] = {}
_key_locks_guard = threading.Lock()


def _fresh_key_locks() -> None:
    """A forked child inherits these locks in whatever state the parent's other threads
    left them, and those threads do not exist in the child: start it with fresh ones."""
    global _key_locks_guard
    _key_locks_guard = threading.Lock()
    _key_locks.clear()


os.register_at_fork(after_in_child=_fresh_key_locks)


def _holds() -> dict[str, _Hold]:
    holds = getattr(_held, "holds", None)
    if holds is None:
        holds = _held.holds = {}
    return holds


def _key_lock(key: str) -> threading.Lock:
    with _key_locks_guard:
        return _key_locks.setdefault(key, threading.Lock())


def _seconds_left(deadline: float | None) -> float:
    """What threading.Lock.acquire takes as its timeout: -1 waits forever."""
    return -1 if deadline is None else max(0.0, deadline - time.monotonic())


@contextlib.contextmanager
def lock(key: str, timeout: float = -1) -> Iterator[None]:
    """Hold the cross-process lock of one key, around check-cache -> train -> save.

    The lock is a file in ``<cache_dir>/.locks/``. It is re-entrant within a thread (so
    ``save`` can take it while a job already holds it) and excludes other threads of this
    process as it excludes other processes. When the lock file cannot be created (a full
    disk, no free inodes, a read-only or foreign cache directory) the lock still excludes
    the threads of this process, a warning is logged, and ``save`` under it raises
    CacheError: a cache that cannot be written never stops a training.

    Args:
        key: The cache key.
        timeout: Seconds to wait for it; -1 waits forever.

    Raises:
        CacheError: the key is malformed.
        filelock.Timeout: the lock was not free within timeout.
    """
    check_key(key)
    held = _holds().get(key)
    if held is not None:
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
        return
    deadline = None if timeout < 0 else time.monotonic() + timeout
    key_lock = _key_lock(key)
    if not key_lock.acquire(timeout=_seconds_left(deadline)):
        raise filelock.Timeout(str(cache_location() / LOCK_DIR / f"{key}.lock"))
    try:
        with _file_lock(key, deadline) as problem:
            _holds()[key] = _Hold(depth=1, shared=not problem, problem=problem)
            try:
                yield
            finally:
                del _holds()[key]
    finally:
        key_lock.release()


@contextlib.contextmanager
def _file_lock(key: str, deadline: float | None) -> Iterator[str]:
    """Hold the key's lock file; yields "" or, when it cannot be had, the reason why."""
    fd = None
    try:
        fd = _open_lock_file(key)
    except OSError as exc:
        problem = f"cannot create its lock file ({exc})"
    else:
        try:
            problem = _flock(fd, key, deadline)
        except BaseException:
            os.close(fd)
            raise
    if problem:
        logger.warning("Cache lock %s… within this process only: %s", key[:12], problem)
    try:
        yield problem
    finally:
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock


def _flock(fd: int, key: str, deadline: float | None) -> str:
    """Take an exclusive flock on fd, polling until deadline (None: forever).

    Returns:
        "" once held, or why it cannot be held at all (a file system without locks).

    Raises:
        filelock.Timeout: another holder kept it past deadline.
    """
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return ""
        except BlockingIOError:
            left = _seconds_left(deadline)
            if left == 0:
                raise filelock.Timeout(str(cache_location() / LOCK_DIR / f"{key}.lock")) from None
            time.sleep(LOCK_POLL_SECONDS if left < 0 else min(LOCK_POLL_SECONDS, left))
        except OSError as exc:  # ENOLCK, EOPNOTSUPP: this file system cannot lock files
            return f"cannot lock its lock file ({exc})"


def _open_lock_file(key: str) -> int:
    """Open (creating it) the key's lock file in the real ``.locks`` directory.

    Something planted in its place (a link, a FIFO, a directory) is removed and the lock
    file made afresh; the link's target is never touched.

    Raises:
        OSError: it cannot be created (ENOSPC, EDQUOT, EROFS, EACCES...).
    """
    if fcntl is None:
        raise OSError(errno.ENOSYS, "no flock on this system")
    name = f"{key}.lock"
    dir_fd = _open_lock_dir()
    try:
        for _ in range(2):  # once more after removing something planted in its place
            try:
                fd = os.open(name, _LOCK_FLAGS, _LOCK_FILE_MODE, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.ENOTDIR):
                    raise
            else:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    return fd
                os.close(fd)
            _remove_planted(name, dir_fd)
        raise OSError(errno.EEXIST, "something keeps replacing the lock file", name)
    finally:
        os.close(dir_fd)


def _open_lock_dir() -> int:
    """Open ``<cache_dir>/.locks`` as a real directory, making or replacing it as needed.

    A link or file planted under that name is removed (never followed), so lock files are
    only ever created inside the cache directory.
    """
    root = cache_location()
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_DIR
    for _ in range(3):  # replace something planted, create the directory, open it
        try:
            return os.open(path, _DIR_FLAGS)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                path.mkdir()
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            logger.warning("Replacing %s: it is not a real directory", path)
            # A link or a file: unlink removes it and never follows it. A directory there
            # now was made by another process meanwhile: open it on the next round.
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                path.unlink()
    raise OSError(errno.EEXIST, "something keeps replacing the lock directory", str(path))


def _remove_planted(name: str, dir_fd: int) -> None:
    """Remove what is at name in dir_fd (a link, a FIFO, a directory), following nothing.

    A regular file is left alone: another process has just made the real lock file there.
    """
    with contextlib.suppress(FileNotFoundError):
        mode = os.lstat(name, dir_fd=dir_fd).st_mode
        if stat.S_ISDIR(mode):
            shutil.rmtree(name, dir_fd=dir_fd)
        elif not stat.S_ISREG(mode):
            os.unlink(name, dir_fd=dir_fd)


def _lock_is_free(key: str) -> bool:
    """Whether nobody (in any process) holds the key's lock right now; takes it briefly.

    Without a lock file nobody can tell about other processes: the answer is then False.
    """
    try:
        with lock(key, timeout=0):
            held = _holds()[key]
            return held.depth == 1 and held.shared
    except filelock.Timeout:
        return False


# ---------------------------------------------------------------------------------------
# Serialisation of results
# ---------------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    """Turn extras into JSON: Scalers and other dataclasses, NumPy arrays and scalars."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return {"__type__": "ndarray", "dtype": str(value.dtype), "data": value.tolist()}
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__type__": type(value).__name__, **fields}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CacheError(f"Cannot store a {type(value).__name__} in the cache metadata.")


def _decode(value: Any) -> Any:
    """Inverse of _encode; an unknown tagged type means the entry is not ours."""
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get("__type__")
    if tag is None:
        return {k: _decode(v) for k, v in value.items()}
    if tag == "ndarray":
        import numpy as np

        dtype = np.dtype(value["dtype"])
        if dtype.kind not in ARRAY_KINDS or dtype.itemsize > 8:
            raise CacheError(f"Stored array of unexpected type {dtype}.")
        return np.asarray(value["data"], dtype=dtype)
    if tag == "Scaler":
        from dlcore.data import Scaler

        fields = {k: _decode(v) for k, v in value.items() if k != "__type__"}
        return Scaler(**fields)
    raise CacheError(f"Unknown stored type {tag!r}.")


def _config_from_json(text: str) -> MnistConfig | RegressionConfig:
    """Rebuild (and so re-validate) a config from its JSON form."""
    fields = json.loads(text)
    kind = fields.pop("kind", None)
    if kind not in CONFIG_TYPES:
        raise CacheError(f"Unknown config kind {kind!r}; valid: {', '.join(CONFIG_TYPES)}")
    return CONFIG_TYPES[kind](**fields)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    """The library versions that are part of every key (see key_for)."""
    return {"dlcore": dlcore.__version__, "keras": _keras_version()}


def _meta_of(result: TrainResult, data_fingerprint: str, tmp: Path) -> dict:
    """The metadata of an entry whose other files are already written in tmp."""
    stored = [name for name in ENTRY_FILES if name != "meta.json"]
    return {
        "format": FORMAT_VERSION,
        "kind": result.config.kind,
        "config": result.config.to_json(),
        "data_fingerprint": data_fingerprint,
        "status": result.status,
        "train_seconds": float(result.train_seconds),
        "device": result.device,
        "epochs_run": int(result.epochs_run),
        "extras": _encode(result.extras),
        "data_source": result.data_source,
        "created": time.time(),
        "sha256": {name: _sha256_file(tmp / name) for name in stored},
        "sizes": {name: (tmp / name).stat().st_size for name in stored},
        "versions": _versions(),
    }


def _fsync_dir(path: Path) -> None:
    """Flush a directory's entries (new names) to disk; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_file(path: Path, payload: bytes) -> None:
    """Write bytes and flush them to disk before the entry is renamed into place."""
    _check_size(path.name, len(payload))
    with open(path, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, indent=1, sort_keys=True).encode("utf-8")


# ---------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------


def save(key: str, result: TrainResult, *, data_fingerprint: str | None = None) -> Path:
    """Store a training result atomically under key, then enforce the size cap.

    Everything is written into a temporary directory in the cache directory, flushed, and
    renamed into place under the key's lock, so a crash mid-write never leaves an entry
    that loads as valid.

    Args:
        key: The cache key (64 hex digits): key_for(result.config, data_fingerprint).
        result: The finished training result.
        data_fingerprint: The fingerprint used in the key; stored so a load can check that
            the metadata belongs to its key. Required (None raises CacheError).

    Returns:
        The entry's directory.

    Raises:
        CacheError: the key is malformed or is not the result's key, the entry could not
            be written (for example a full disk) or is larger than a load accepts, or the
            key's lock file could not be created; earlier entries are left intact.
    """
    check_key(key)
    _check_belongs(key, result.config, data_fingerprint)
    root = cache_location()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"Cannot create the cache directory {root}: {exc}") from exc
    with lock(key):
        held = _holds()[key]
        if not held.shared:
            raise CacheError(
                f"Could not save the trained model in the cache at {root}: the cache "
                f"{held.problem}. Free some disk space or point DLCORE_CACHE_DIR at "
                "another folder."
            )
        _clean_stale_temp(current_key=key)
        final = _write_and_install(root, key, result, data_fingerprint)
    _remember(key, dataclasses.replace(result, cached=True))
    _enforce_cap(keep=key)
    return final


def _check_belongs(key: str, config: MnistConfig | RegressionConfig, fingerprint: object) -> None:
    """Refuse a key that is not key_for(config, fingerprint): a load would refuse it too."""
    if not isinstance(fingerprint, str) or not fingerprint:
        raise CacheError("A cache entry needs the data fingerprint its key was made from.")
    if key_for(config, fingerprint) != key:
        raise CacheError(f"The key {key[:12]}… is not this config's and data's key.")


def _write_and_install(root: Path, key: str, result: TrainResult, fingerprint: str) -> Path:
    """Write the entry into a temporary directory and rename it into place."""
    tmp = root / f"{TMP_PREFIX}{key}-{uuid.uuid4().hex}"
    try:
        _write_entry(tmp, result, fingerprint)
        return _install(tmp, key)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, (OSError, ValueError)):
            raise CacheError(
                f"Could not save the trained model in the cache at {root}: {exc}. "
                "Free some disk space or point DLCORE_CACHE_DIR at another folder."
            ) from exc
        raise


def _write_entry(tmp: Path, result: TrainResult, data_fingerprint: str) -> None:
    """Write the four files of an entry into the (new) directory tmp."""
    tmp.mkdir()
    result.model.save(tmp / MODEL_FILE)
    with open(tmp / MODEL_FILE, "rb+") as handle:
        os.fsync(handle.fileno())  # Keras does not flush its zip file to disk itself
        _check_size(MODEL_FILE, os.fstat(handle.fileno()).st_size)
    history = {name: [float(v) for v in values] for name, values in result.history.items()}
    metrics = {name: float(value) for name, value in result.metrics.items()}
    _write_file(tmp / "history.json", _json_bytes(history))
    _write_file(tmp / "metrics.json", _json_bytes(metrics))
    _write_file(tmp / "meta.json", _json_bytes(_meta_of(result, data_fingerprint, tmp)))
    _fsync_dir(tmp)


def _check_size(name: str, size: int) -> None:
    """Refuse to store what a load would refuse as too large."""
    limit = MAX_MODEL_BYTES if name == MODEL_FILE else MAX_JSON_BYTES
    if size > limit:
        raise CacheError(f"{name} is {size:,} bytes, more than the cache's {limit:,}-byte cap.")


def _install(tmp: Path, key: str) -> Path:
    """Rename the finished temporary directory to the entry's name (replacing an old one)."""
    final = cache_location() / key
    _remove_dir(final)
    os.rename(tmp, final)
    _fsync_dir(final.parent)
    _touch(final)
    return final


def _remove_dir(path: Path) -> bool:
    """Remove a directory by first renaming it away, so nobody sees it half deleted."""
    trash = path.parent / f"{TRASH_PREFIX}{uuid.uuid4().hex}"
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return False
    _delete(trash)
    return True


def _delete(path: Path) -> None:
    """Delete a directory tree; anything else (a link, a file, a FIFO) is unlinked, never
    followed (rmtree refuses links, which would leave them behind)."""
    if _is_real_dir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _touch(path: Path) -> None:
    """Mark an entry as just used (its directory's mtime drives LRU eviction)."""
    with contextlib.suppress(OSError):
        os.utime(path, follow_symlinks=False)  # a link swapped in: touch the link only


def _clean_stale_temp(current_key: str | None = None) -> None:
    """Remove temporary directories left by killed writers, and interrupted deletions.

    A temporary directory of key K is stale when nobody holds K's lock (a writer always
    holds it), or when K is the key whose lock this thread holds right now.
    """
    for child in _children(prefixes=(TMP_PREFIX, TRASH_PREFIX)):
        if child.name.startswith(TRASH_PREFIX):
            _delete(child)
            continue
        key = child.name[len(TMP_PREFIX) : len(TMP_PREFIX) + 64]
        if _KEY_RE.fullmatch(key) and (key == current_key or _lock_is_free(key)):
            _delete(child)


def _children(prefixes: tuple[str, ...]) -> list[Path]:
    try:
        return [p for p in cache_location().iterdir() if p.name.startswith(prefixes)]
    except OSError:
        return []


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


class _NotTheEntry(Exception):
    """This machine, not the entry, kept a model from loading (no room for its private copy)."""


def load(key: str) -> TrainResult | None:
    """Load the verified result stored under key, or None when there is none.

    A result loaded before in this process is returned at once (the same object). An
    entry that fails verification (a missing, planted or oversized file, a checksum
    mismatch, bad JSON, metadata of another key, a model archive with oversized members, a
    model Keras refuses in safe mode) is discarded with a warning and None is returned, so
    the caller trains again. Refusing a planted entry reads at most the size caps and never
    waits on a FIFO.

    Raises:
        CacheError: the key is malformed (never turned into a path).
    """
    path = entry_path(key)
    remembered = _recall(key)
    if remembered is not None:
        if _is_real_dir(path):
            _touch(path)
            return remembered
        _forget(key)
    inode = _inode(path)
    if inode is None:
        return None
    try:
        result = _read_entry(key, path)
    except (MemoryError, ImportError):
        raise  # the process is in trouble, not the entry: keep it
    except _NotTheEntry as exc:
        logger.warning("Cannot load cache entry %s… now (kept): %s", key[:12], exc)
        return None
    except Exception as exc:  # any failure to verify or parse means the entry is unusable
        if _inode(path) == inode:  # else it was removed or replaced while we read it
            _discard(key, inode, exc)
        return None
    _touch(path)
    _remember(key, result)
    return result


def _inode(path: Path) -> int | None:
    """The inode of path itself (of a link, not of its target)."""
    try:
        return os.lstat(path).st_ino
    except OSError:
        return None


def _cached_status(value: object) -> TrainingStatus:
    """The stored status, which must be one that is ever cached (never stopped or diverged)."""
    status = TrainingStatus(str(value))
    if status not in CACHEABLE_STATUSES:
        raise ValueError(f"a {status} run is never cached")
    return status


def _read_entry(key: str, path: Path) -> TrainResult:
    """Verify and read every file of an entry; raises on anything unexpected."""
    with _entry_dir(path) as entry:
        meta = _read_meta(entry)
        config = _config_of(key, meta)  # before the big files: a foreign entry costs nothing
        files = {name: _read_verified(entry, name, meta) for name in _CHECKSUMMED[::-1]}
    return _result_of(meta, config, files, _cached_status(meta["status"]), cached=True)


def _result_of(meta: dict, config, files: dict[str, bytes], status, *, cached: bool):
    """The TrainResult of verified entry files (the model is loaded last, once all passed)."""
    from dlcore.training import TrainResult

    history = json.loads(files["history.json"])
    metrics = json.loads(files["metrics.json"])
    archive = files[MODEL_FILE]
    _check_archive(archive)
    fields = {  # every cheap check before Keras loads the model, the one costly step
        "config": config,
        "history": {name: list(values) for name, values in history.items()},
        "metrics": dict(metrics),
        "status": status,
        "train_seconds": float(meta["train_seconds"]),
        "device": str(meta["device"]),
        "epochs_run": int(meta["epochs_run"]),
        "extras": _decode(meta["extras"]),
        "data_source": str(meta.get("data_source", "")),  # older entries did not store it
    }
    return TrainResult(model=_load_model(archive), cached=cached, **fields)


# --- Runs that are not cached, carried between processes ----------------------------------


def pack_run(key: str, result: TrainResult, data_fingerprint: str) -> bytes:
    """A result that is never cached (a stopped run) as bytes: an entry's files in one zip.

    With the Celery backend a stopped run's model is on the worker that trained it; this
    is how it travels to the app replicas (through Redis), written exactly as a cache
    entry is and checked as strictly when unpacked.

    Raises:
        CacheError: the key is not the result's key, or the result is too large to carry.
    """
    _check_belongs(key, result.config, data_fingerprint)
    with tempfile.TemporaryDirectory(prefix="dlcore-run-") as scratch:
        entry = Path(scratch) / "entry"
        try:
            _write_entry(entry, result, data_fingerprint)
        except (OSError, ValueError) as exc:
            raise CacheError(f"Could not pack the trained model: {exc}") from exc
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_STORED) as archive:
            for name in ENTRY_FILES:
                archive.write(entry / name, name)
    return packed.getvalue()


def unpack_run(key: str, packed: bytes) -> TrainResult:
    """The result pack_run packed for key, verified as a cache entry is (the key recomputed
    from its metadata, sizes, checksums, the model archive, Keras' safe mode); a stopped or
    diverged status is accepted here, never in the cache.

    Raises:
        CacheError: the bytes are not such a pack, or not key's.
    """
    try:
        files = _unzip_entry(packed)
        meta = json.loads(files["meta.json"])
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            raise CacheError("unknown entry format")
        config = _config_of(key, meta)
        for name in _CHECKSUMMED:
            if hashlib.sha256(files[name]).hexdigest() != meta["sha256"][name]:
                raise CacheError(f"{name} does not match its checksum")
        return _result_of(meta, config, files, TrainingStatus(meta["status"]), cached=False)
    except (CacheError, _NotTheEntry) as exc:
        raise CacheError(f"The stopped run's model cannot be used: {exc}") from exc
    except (KeyError, TypeError, ValueError, zipfile.BadZipFile, OSError) as exc:
        raise CacheError(f"The stopped run's model cannot be used: {exc!r}") from exc


def _unzip_entry(packed: bytes) -> dict[str, bytes]:
    """The entry's files from a pack, each within the size a cache entry may have."""
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        if sorted(archive.namelist()) != sorted(ENTRY_FILES):
            raise CacheError("the pack does not hold exactly an entry's files")
        files = {}
        for name in ENTRY_FILES:
            limit = MAX_MODEL_BYTES if name == MODEL_FILE else MAX_JSON_BYTES
            if archive.getinfo(name).file_size > limit:
                raise CacheError(f"{name} is larger than the cache's cap")
            files[name] = archive.read(name)
    return files


@contextlib.contextmanager
def _entry_dir(path: Path) -> Iterator[int]:
    """Open an entry's directory, refusing a link (its files are then opened relative to
    this descriptor, so a directory swapped in meanwhile is never read)."""
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        planted = "a symbolic link" if os.path.islink(path) else "not a directory"
        raise CacheError(f"the entry is {planted}") from exc
    try:
        yield fd
    finally:
        os.close(fd)


def _read_regular(entry: int, name: str, limit: int, size: object = None) -> bytes:
    """Read a regular file of an entry: no link, no FIFO or device, at most limit bytes.

    Args:
        entry: Descriptor of the entry's directory.
        name: The file's name in it.
        limit: Largest size accepted, checked before reading.
        size: The size recorded at save time, when there is one.
    """
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=entry)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CacheError(f"{name} is a symbolic link") from exc
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CacheError(f"{name} is not a regular file")
        if info.st_size > limit:
            raise CacheError(f"{name} is {info.st_size:,} bytes, over the {limit:,}-byte cap")
        if size is not None and info.st_size != size:
            raise CacheError(f"{name} is {info.st_size:,} bytes, not the {size} recorded")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            # read(n) allocates n bytes up front: ask for the size checked, plus one byte to
            # notice a file that grows meanwhile.
            payload = handle.read(info.st_size + 1)
    finally:
        os.close(fd)
    if len(payload) > info.st_size:
        raise CacheError(f"{name} grew while it was read")
    return payload


def _read_meta(entry: int) -> dict:
    meta = json.loads(_read_regular(entry, "meta.json", MAX_JSON_BYTES))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise CacheError("unknown entry format")
    return meta


def _config_of(key: str, meta: dict) -> MnistConfig | RegressionConfig:
    """The entry's config, if its metadata recomputes to key; else CacheError.

    A missing or null fingerprint, another key's fingerprint or config, or other library
    versions all mean the entry is not the result this key names.
    """
    fingerprint = meta.get("data_fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise CacheError("the metadata has no data fingerprint")
    if meta.get("versions") != _versions():
        raise CacheError(f"the entry was written by other versions {meta.get('versions')!r}")
    config = _config_from_json(meta["config"])
    if key_for(config, fingerprint) != key:
        raise CacheError("the metadata does not belong to this key")
    return config


def _read_verified(entry: int, name: str, meta: dict) -> bytes:
    """Read one file of an entry and check it against its size and sha256 in meta.json."""
    limit = MAX_MODEL_BYTES if name == MODEL_FILE else MAX_JSON_BYTES
    payload = _read_regular(entry, name, limit, size=meta.get("sizes", {}).get(name))
    if hashlib.sha256(payload).hexdigest() != meta["sha256"][name]:
        raise CacheError(f"{name} does not match its checksum (truncated or modified)")
    return payload


def _check_archive(archive: bytes) -> None:
    """Refuse a model archive whose members could not be unpacked cheaply (a zip bomb).

    Only the archive's directory is read: sizes as declared, which zipfile then enforces
    when Keras reads a member (it stops at the declared size and checks the CRC).
    """
    if _central_directory_size(archive) > MAX_CENTRAL_DIRECTORY_BYTES:
        raise CacheError("model.keras has an oversized archive directory")
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        members = opened.infolist()
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise CacheError(f"model.keras has {len(members)} archive members")
    for member in members:
        limit = MAX_ARCHIVE_JSON_BYTES if member.filename.endswith(".json") else MAX_MODEL_BYTES
        if member.file_size > limit or member.compress_type not in ARCHIVE_COMPRESSIONS:
            raise CacheError(
                f"model.keras member {member.filename!r} unpacks to {member.file_size:,} "
                f"bytes (cap {limit:,}) with compression {member.compress_type}"
            )
    if sum(member.file_size for member in members) > MAX_MODEL_BYTES:
        raise CacheError("model.keras unpacks to more than the model size cap")


def _central_directory_size(archive: bytes) -> int:
    """The directory size the archive's end record declares, found as zipfile finds it."""
    start = len(archive) - _END_RECORD.size
    if start < 0:
        raise CacheError("model.keras is not a zip archive")
    if archive[start : start + 4] != _END_SIGNATURE or archive[-2:] != b"\0\0":
        floor = max(0, len(archive) - _MAX_ZIP_COMMENT - 1 - _END_RECORD.size)
        start = archive.rfind(_END_SIGNATURE, floor)
    if start < 0:
        raise CacheError("model.keras is not a zip archive")
    locator = start - _ZIP64_LOCATOR_SIZE
    if locator >= 0 and archive[locator : locator + 4] == _ZIP64_LOCATOR:
        raise CacheError("model.keras is a zip64 archive, which this cache never writes")
    return _END_RECORD.unpack_from(archive, start)[5]


def _load_model(archive: bytes):
    """Load a verified model archive, with Keras safe_mode on (no arbitrary code).

    Keras reads a private copy of the bytes that were verified, not the cache's file,
    which anyone who can write the cache directory could swap (for a FIFO, a bigger
    archive) between the checks and the load.

    Raises:
        _NotTheEntry: the private copy cannot be written (a full temporary directory).
    """
    import keras

    try:
        scratch = tempfile.TemporaryDirectory(prefix="dlcore-model-")  # mode 0700
    except OSError as exc:
        raise _NotTheEntry(f"no private copy of the model: {exc}") from exc
    with scratch:
        copy = Path(scratch.name) / MODEL_FILE
        try:
            copy.write_bytes(archive)
        except OSError as exc:
            raise _NotTheEntry(f"no private copy of the model: {exc}") from exc
        return keras.saving.load_model(copy, safe_mode=True)


def _discard(key: str, inode: int, reason: Exception) -> None:
    """Warn about and remove a corrupt entry, unless another writer is replacing it."""
    message = f"Discarding corrupt cache entry {key[:12]}… ({type(reason).__name__}: {reason})"
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    logger.warning(message)
    path = entry_path(key)
    try:
        with lock(key, timeout=0):
            if _inode(path) == inode:  # still the entry we read, not a fresh one
                _remove_dir(path)
    except (filelock.Timeout, OSError):
        pass  # a writer holds the lock and will replace the entry anyway


# ---------------------------------------------------------------------------------------
# In-process memo of loaded results
# ---------------------------------------------------------------------------------------


def _remember(key: str, result: TrainResult) -> None:
    _memo.put(key, result)


def _recall(key: str) -> TrainResult | None:
    return _memo.get(key)


def _forget(key: str | None = None) -> None:
    """Drop one remembered result, or all of them when key is None."""
    if key is None:
        _memo.clear()
    else:
        _memo.pop(key)


# ---------------------------------------------------------------------------------------
# Listing, size cap and clearing
# ---------------------------------------------------------------------------------------


def _dir_size(path: Path) -> int:
    total = 0
    with contextlib.suppress(OSError), os.scandir(path) as scan:
        for item in scan:
            with contextlib.suppress(OSError):
                total += item.stat(follow_symlinks=False).st_size
    return total


def total_bytes() -> int:
    """Bytes on disk of all stored entries."""
    return sum(_dir_size(path) for path in _entry_dirs())


def _info(path: Path) -> EntryInfo:
    """Describe one entry from its metadata; unreadable metadata shows as "corrupt".

    The files are read as a load reads them (regular files only, size-capped), so a FIFO
    or a huge file planted in an entry never stalls a listing; nothing is verified here.
    """
    last_used = os.lstat(path).st_mtime
    try:
        with _entry_dir(path) as entry:
            meta = json.loads(_read_regular(entry, "meta.json", MAX_JSON_BYTES))
            metrics = json.loads(_read_regular(entry, "metrics.json", MAX_JSON_BYTES))
        return _describe(path, meta, metrics, last_used)
    except (OSError, ValueError, LookupError, TypeError, RecursionError, CacheError):
        return EntryInfo(
            path.name, "corrupt", "unreadable entry", _dir_size(path), last_used, last_used, {}
        )


def _describe(path: Path, meta: dict, metrics: dict, last_used: float) -> EntryInfo:
    """An EntryInfo from unverified metadata; TypeError or ValueError when it is malformed."""
    config = json.loads(meta["config"])
    if not isinstance(config, dict) or not isinstance(metrics, dict):
        raise TypeError("the metadata is not made of objects")
    settings = {name: value for name, value in config.items() if name != "kind"}
    summary = ", ".join(f"{name}={value}" for name, value in settings.items())
    return EntryInfo(
        key=path.name,
        kind=str(meta.get("kind", config.get("kind", "?"))),
        summary=summary,
        size_bytes=_dir_size(path),
        created=float(meta.get("created", last_used)),
        last_used=last_used,
        metrics={str(name): float(value) for name, value in metrics.items()},
        status=str(meta.get("status", "")),
        settings=settings,
        data=str(meta.get("data_source") or NO_DATA_SOURCE),
        data_fingerprint=str(meta.get("data_fingerprint", "")),
    )


def list_entries() -> list[EntryInfo]:
    """Every stored entry, most recently used first."""
    infos = []
    for path in _entry_dirs():
        with contextlib.suppress(OSError):  # removed while we listed
            infos.append(_info(path))
    return sorted(infos, key=lambda info: info.last_used, reverse=True)


def _enforce_cap(keep: str) -> None:
    """Evict least-recently-used entries until the cache fits settings.cache_max_bytes()."""
    cap = settings.cache_max_bytes()
    sized = []
    for path in _entry_dirs():
        with contextlib.suppress(OSError):
            sized.append((path.stat().st_mtime, _dir_size(path), path))
    total = sum(size for _, size, _ in sized)
    for _, size, path in sorted(sized, key=lambda item: item[0]):
        if total <= cap:
            break
        if path.name != keep and _remove_dir(path):
            _forget(path.name)
            logger.info("Evicted cache entry %s (%d bytes) to fit the cap", path.name, size)
            total -= size


def clear() -> int:
    """Remove every entry (and leftover temporary files); returns how many entries.

    Links or files planted under an entry's name go too (they are not counted).
    """
    _forget()
    removed = sum(_remove_dir(path) for path in _entry_dirs())
    for planted in _entry_names():
        _remove_dir(planted)
    _clean_stale_temp()
    return removed
