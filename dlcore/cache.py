"""On-disk store of trained results: keyed, atomic, locked, verified, size-capped.

An entry is the directory ``<cache_dir>/<key>/`` holding ``model.keras``, ``history.json``,
``metrics.json`` and ``meta.json``. The key is a sha256 of the config, the dataset
fingerprint and the library versions, so a changed setting, dataset or Keras release never
reuses a stale model. Entries are written into a temporary directory and renamed into
place, so a reader sees either a whole entry or none; a per-key file lock serialises the
check-cache -> train -> save sequence across processes; every load verifies checksums and
uses Keras ``safe_mode``; the least recently used entries are evicted above the size cap.

This module does not import TensorFlow or Keras until a model is actually loaded or saved:
the sidebar calls ``count_entries()`` on every page, Home included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock

import dlcore
from dlcore import settings
from dlcore.configs import MnistConfig, RegressionConfig
from dlcore.errors import CacheError

if TYPE_CHECKING:
    from dlcore.training import TrainResult

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
JSON_FILES = ("history.json", "metrics.json", "meta.json")
ENTRY_FILES = (MODEL_FILE, *JSON_FILES)
TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
LOCK_DIR = ".locks"
FORMAT_VERSION = 1
MEMO_SIZE = 8  # loaded results kept in memory; a CNN is ~3 MB of weights

_KEY_RE = re.compile(r"[0-9a-f]{64}")
CONFIG_TYPES = {"mnist": MnistConfig, "regression": RegressionConfig}

# Loaded results by key, most recently used last: a page rerun gets the same object at once.
_memo: OrderedDict[str, TrainResult] = OrderedDict()
_memo_lock = threading.Lock()


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
    """

    key: str
    kind: str
    summary: str
    size_bytes: int
    created: float
    last_used: float
    metrics: dict[str, float]
    status: str = ""


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


def _entry_dirs() -> list[Path]:
    """Directories of complete entries; temporary and trash directories are skipped."""
    try:
        children = list(cache_location().iterdir())
    except OSError:
        return []
    return [p for p in children if _KEY_RE.fullmatch(p.name) and p.is_dir()]


def count_entries() -> int:
    """Number of stored entries; cheap (one directory listing, no TensorFlow)."""
    return len(_entry_dirs())


# ---------------------------------------------------------------------------------------
# Locking
# ---------------------------------------------------------------------------------------


_held = threading.local()  # keys whose lock the current thread holds, with a depth


@contextlib.contextmanager
def lock(key: str, timeout: float = -1) -> Iterator[None]:
    """Hold the cross-process lock of one key, around check-cache -> train -> save.

    The lock is a file in ``<cache_dir>/.locks/``. It is re-entrant within a thread (so
    ``save`` can take it while a job already holds it) and excludes other threads of this
    process as it excludes other processes.

    Args:
        key: The cache key.
        timeout: Seconds to wait for it; -1 waits forever.

    Raises:
        filelock.Timeout: the lock was not free within timeout.
    """
    depth = getattr(_held, "depth", None)
    if depth is None:
        depth = _held.depth = {}
    if depth.get(key, 0) > 0:
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    lock_dir = cache_location() / LOCK_DIR
    lock_dir.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(lock_dir / f"{check_key(key)}.lock"), timeout=timeout):
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0


def _lock_is_free(key: str) -> bool:
    """Whether nobody (in any process) holds the key's lock right now; takes it briefly."""
    try:
        with lock(key, timeout=0):
            return getattr(_held, "depth", {}).get(key, 0) == 1
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

        return np.asarray(value["data"], dtype=np.dtype(value["dtype"]))
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


def _meta_of(result: TrainResult, data_fingerprint: str, checksums: dict[str, str]) -> dict:
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
        "created": time.time(),
        "sha256": checksums,
        "versions": {"dlcore": dlcore.__version__, "keras": _keras_version()},
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
        key: The cache key (64 hex digits), normally from key_for().
        result: The finished training result.
        data_fingerprint: The fingerprint used in the key; stored so a load can check that
            the metadata belongs to its key.

    Returns:
        The entry's directory.

    Raises:
        CacheError: the key is malformed, or the entry could not be written (for example
            a full disk); earlier entries are left intact.
    """
    check_key(key)
    root = cache_location()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"Cannot create the cache directory {root}: {exc}") from exc
    with lock(key):
        _clean_stale_temp(current_key=key)
        tmp = root / f"{TMP_PREFIX}{key}-{uuid.uuid4().hex}"
        try:
            _write_entry(tmp, result, data_fingerprint)
            final = _install(tmp, key)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, (OSError, ValueError)):
                raise CacheError(
                    f"Could not save the trained model in the cache at {root}: {exc}. "
                    "Free some disk space or point DLCORE_CACHE_DIR at another folder."
                ) from exc
            raise
    _remember(key, dataclasses.replace(result, cached=True))
    _enforce_cap(keep=key)
    return final


def _write_entry(tmp: Path, result: TrainResult, data_fingerprint: str | None) -> None:
    """Write the four files of an entry into the (new) directory tmp."""
    tmp.mkdir()
    result.model.save(tmp / MODEL_FILE)
    with open(tmp / MODEL_FILE, "rb+") as handle:
        os.fsync(handle.fileno())  # Keras does not flush its zip file to disk itself
    history = {name: [float(v) for v in values] for name, values in result.history.items()}
    metrics = {name: float(value) for name, value in result.metrics.items()}
    _write_file(tmp / "history.json", _json_bytes(history))
    _write_file(tmp / "metrics.json", _json_bytes(metrics))
    checksums = {name: _sha256_file(tmp / name) for name in ENTRY_FILES if name != "meta.json"}
    meta = _meta_of(result, data_fingerprint, checksums)
    _write_file(tmp / "meta.json", _json_bytes(meta))
    _fsync_dir(tmp)


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
    """Delete a directory tree; a symbolic link is unlinked, never followed (rmtree refuses
    links, which would leave them behind)."""
    if path.is_symlink():
        with contextlib.suppress(OSError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _touch(path: Path) -> None:
    """Mark an entry as just used (its directory's mtime drives LRU eviction)."""
    with contextlib.suppress(OSError):
        os.utime(path)


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


def load(key: str) -> TrainResult | None:
    """Load the verified result stored under key, or None when there is none.

    A result loaded before in this process is returned at once (the same object). An
    entry that fails verification (missing file, checksum mismatch, bad JSON, a model
    Keras refuses in safe mode) is discarded with a warning and None is returned, so the
    caller trains again.

    Raises:
        CacheError: the key is malformed (never turned into a path).
    """
    path = entry_path(key)
    remembered = _recall(key)
    if remembered is not None:
        if path.is_dir():
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
    except Exception as exc:  # any failure to verify or parse means the entry is unusable
        if _inode(path) == inode:  # else it was removed or replaced while we read it
            _discard(key, inode, exc)
        return None
    _touch(path)
    _remember(key, result)
    return result


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _read_entry(key: str, path: Path) -> TrainResult:
    """Verify and read every file of an entry; raises on anything unexpected."""
    from dlcore.training import TrainResult

    if path.is_symlink() or any((path / name).is_symlink() for name in ENTRY_FILES):
        raise CacheError("the entry contains a symbolic link")
    meta = json.loads(_read_file(path / "meta.json"))
    if meta.get("format") != FORMAT_VERSION:
        raise CacheError(f"unknown entry format {meta.get('format')!r}")
    checksums = meta["sha256"]
    history = json.loads(_read_verified(path, "history.json", checksums))
    metrics = json.loads(_read_verified(path, "metrics.json", checksums))
    _read_verified(path, MODEL_FILE, checksums)
    config = _config_from_json(meta["config"])
    fingerprint = meta.get("data_fingerprint")
    if fingerprint is not None and key_for(config, fingerprint) != key:
        raise CacheError("the metadata does not belong to this key")
    return TrainResult(
        config=config,
        model=_load_model(path / MODEL_FILE),
        history={name: list(values) for name, values in history.items()},
        metrics=dict(metrics),
        status=str(meta["status"]),
        train_seconds=float(meta["train_seconds"]),
        device=str(meta["device"]),
        epochs_run=int(meta["epochs_run"]),
        extras=_decode(meta["extras"]),
        cached=True,
    )


def _read_file(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _read_verified(path: Path, name: str, checksums: dict[str, str]) -> bytes:
    """Read one file of an entry and check it against the sha256 in meta.json."""
    payload = _read_file(path / name)
    if hashlib.sha256(payload).hexdigest() != checksums[name]:
        raise CacheError(f"{name} does not match its checksum (truncated or modified)")
    return payload


def _load_model(path: Path):
    """Load a model file this cache wrote, with Keras safe_mode on (no arbitrary code)."""
    import keras

    return keras.saving.load_model(path, safe_mode=True)


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
    with _memo_lock:
        _memo[key] = result
        _memo.move_to_end(key)
        while len(_memo) > MEMO_SIZE:
            _memo.popitem(last=False)


def _recall(key: str) -> TrainResult | None:
    with _memo_lock:
        result = _memo.get(key)
        if result is not None:
            _memo.move_to_end(key)
        return result


def _forget(key: str | None = None) -> None:
    """Drop one remembered result, or all of them when key is None."""
    with _memo_lock:
        if key is None:
            _memo.clear()
        else:
            _memo.pop(key, None)


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
    """Describe one entry from its metadata; unreadable metadata shows as "corrupt"."""
    stat = path.stat()
    try:
        meta = json.loads(_read_file(path / "meta.json"))
        config = json.loads(meta["config"])
        metrics = json.loads(_read_file(path / "metrics.json"))
    except (OSError, ValueError, KeyError, TypeError):
        return EntryInfo(
            path.name,
            "corrupt",
            "unreadable entry",
            _dir_size(path),
            stat.st_mtime,
            stat.st_mtime,
            {},
        )
    summary = ", ".join(f"{name}={value}" for name, value in config.items() if name != "kind")
    return EntryInfo(
        key=path.name,
        kind=str(meta.get("kind", config.get("kind", "?"))),
        summary=summary,
        size_bytes=_dir_size(path),
        created=float(meta.get("created", stat.st_mtime)),
        last_used=stat.st_mtime,
        metrics=metrics,
        status=str(meta.get("status", "")),
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
    """Remove every entry (and leftover temporary files); returns how many entries."""
    _forget()
    removed = sum(_remove_dir(path) for path in _entry_dirs())
    _clean_stale_temp()
    return removed
