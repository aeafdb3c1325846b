"""The result cache: atomic, locked, verified, size-capped, and safe against crafted keys."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import dlcore
from dlcore import cache
from dlcore.configs import RegressionConfig
from dlcore.data import Scaler
from dlcore.errors import CacheError
from tests.support.results import FINGERPRINT, load_from_disk, make_result, saved

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _every_test_has_its_own_cache(cache_dir):
    """The ``cache_dir`` fixture (tests/conftest.py) for every test here."""


def test_round_trip_restores_model_history_metrics_and_extras():
    key, original = saved(seed=3)
    loaded = load_from_disk(key)

    assert loaded is not None and loaded.cached and not original.cached
    assert loaded.config == original.config
    assert loaded.history == original.history
    assert loaded.metrics == original.metrics
    assert (loaded.status, loaded.epochs_run, loaded.device) == ("completed", 2, "CPU · test")
    assert loaded.extras["x_scaler"] == Scaler("minmax", 30.0, 220.0)
    np.testing.assert_array_equal(loaded.extras["train_idx"], [0, 2, 3])
    x = np.array([[0.0], [1.0], [2.5]], dtype="float32")
    np.testing.assert_allclose(loaded.model.predict_on_batch(x), original.model.predict_on_batch(x))


def test_second_load_in_process_is_the_same_object():
    key, _ = saved()
    first = load_from_disk(key)
    assert cache.load(key) is first


def test_key_depends_on_config_data_and_library_versions(monkeypatch):
    config = RegressionConfig(epochs=2)
    key = cache.key_for(config, FINGERPRINT)
    assert len(key) == 64 and int(key, 16) >= 0
    assert cache.key_for(RegressionConfig(epochs=2), FINGERPRINT) == key
    assert cache.key_for(config.replace(epochs=3), FINGERPRINT) != key
    assert cache.key_for(config, "e" * 64) != key
    with monkeypatch.context() as patch:
        patch.setattr(cache, "_keras_version", lambda: "9.9.9")
        assert cache.key_for(config, FINGERPRINT) != key
    with monkeypatch.context() as patch:
        patch.setattr(dlcore, "__version__", "99.0")
        assert cache.key_for(config, FINGERPRINT) != key


BAD_KEYS = [
    "../x",
    "/etc/passwd",
    "../" + "a" * 61,
    "a" * 63,
    "a" * 65,
    "g" * 64,
    "A" * 64,
    "a" * 63 + "/",
    "",
    None,
    123,
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_crafted_keys_are_refused(key, cache_dir):
    with pytest.raises(CacheError):
        cache.load(key)
    with pytest.raises(CacheError):
        cache.save(key, make_result())
    with pytest.raises(CacheError):
        cache.entry_path(key)
    assert not (cache_dir.parent / "x").exists()
    assert cache.count_entries() == 0


def _truncate_model(entry: Path) -> None:
    model = entry / "model.keras"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])


def _edit_meta_config(entry: Path) -> None:
    meta = json.loads((entry / "meta.json").read_text())
    meta["config"] = meta["config"].replace('"epochs": 2', '"epochs": 7')
    (entry / "meta.json").write_text(json.dumps(meta))


def _garble_meta(entry: Path) -> None:
    (entry / "meta.json").write_text('{"format": 1, "sha256": ')


def _edit_metrics(entry: Path) -> None:
    (entry / "metrics.json").write_text(json.dumps({"test_mse": 0.0, "test_r2": 1.0}))


def _delete_history(entry: Path) -> None:
    (entry / "history.json").unlink()


@pytest.mark.parametrize(
    "corrupt", [_truncate_model, _edit_meta_config, _garble_meta, _edit_metrics, _delete_history]
)
def test_corrupt_entry_is_discarded_with_a_warning(corrupt):
    key, _ = saved()
    corrupt(cache.entry_path(key))
    with pytest.warns(RuntimeWarning, match="Discarding corrupt cache entry"):
        assert load_from_disk(key) is None
    assert not cache.entry_path(key).exists()
    assert cache.count_entries() == 0
    saved()  # and the key can be stored again
    assert load_from_disk(key) is not None


def test_model_that_safe_mode_refuses_is_discarded():
    """A Lambda layer carries Python bytecode: safe_mode must refuse to run it."""
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Dense(1)]
    )
    key, _ = saved(model=model)
    with pytest.warns(RuntimeWarning, match="Discarding"):
        assert load_from_disk(key) is None


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {repo!r})
    from dlcore import cache
    from tests.support.results import make_result, FINGERPRINT

    original = cache._write_file
    def write_then_die(path, payload):
        if path.name == "metrics.json":  # model and history are already on disk
            os.kill(os.getpid(), signal.SIGKILL)
        original(path, payload)
    cache._write_file = write_then_die
    result = make_result()
    cache.save(cache.key_for(result.config, FINGERPRINT), result, data_fingerprint=FINGERPRINT)
    """
)


def test_writer_killed_mid_write_leaves_no_valid_entry(cache_dir):
    script = KILLED_WRITER.format(repo=str(REPO))
    env = {**os.environ, "DLCORE_CACHE_DIR": str(cache_dir)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    leftovers = list(cache_dir.glob(".tmp-*"))
    assert leftovers and (leftovers[0] / "model.keras").exists()  # it died half-way

    key = cache.key_for(make_result().config, FINGERPRINT)
    assert cache.count_entries() == 0
    assert cache.load(key) is None
    assert cache.list_entries() == []

    saved()  # the dead writer's lock is gone and its debris is cleaned up
    assert load_from_disk(key) is not None
    assert list(cache_dir.glob(".tmp-*")) == []


def test_lock_excludes_another_process(cache_dir):
    key = "b" * 64
    probe = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        import filelock
        from dlcore import cache
        try:
            with cache.lock({key!r}, timeout=0):
                print("acquired")
        except filelock.Timeout:
            print("busy")
        """
    )
    env = {**os.environ, "DLCORE_CACHE_DIR": str(cache_dir)}

    def other_process() -> str:
        run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True)
        return run.stdout.decode().strip()

    with cache.lock(key):
        assert other_process() == "busy"
    assert other_process() == "acquired"


def _set_last_used(key: str, seconds_ago: float) -> None:
    """Date an entry's last use (its directory's mtime, which LRU eviction reads) in the past."""
    when = time.time() - seconds_ago
    os.utime(cache.entry_path(key), (when, when))


def test_least_recently_used_entries_are_evicted_above_the_cap(monkeypatch):
    key_a, _ = saved(seed=1)
    entry_size = cache.total_bytes()
    key_b, _ = saved(seed=2)
    _set_last_used(key_a, seconds_ago=300)  # a was saved first,
    _set_last_used(key_b, seconds_ago=200)  # then b
    assert load_from_disk(key_a) is not None  # a is now more recently used than b
    monkeypatch.setattr(cache.settings, "cache_max_bytes", lambda: int(entry_size * 2.5))
    key_c, _ = saved(seed=3)

    kept = {info.key for info in cache.list_entries()}
    assert kept == {key_a, key_c}
    assert load_from_disk(key_b) is None


def test_full_disk_keeps_earlier_entries_and_raises_cache_error(monkeypatch, cache_dir):
    key_a, _ = saved(seed=1)

    def disk_full(path, payload):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    result_b = make_result(seed=2)
    key_b = cache.key_for(result_b.config, FINGERPRINT)
    with monkeypatch.context() as patch, pytest.raises(CacheError, match="No space left"):
        patch.setattr(cache, "_write_file", disk_full)
        cache.save(key_b, result_b, data_fingerprint=FINGERPRINT)

    assert [info.key for info in cache.list_entries()] == [key_a]
    assert load_from_disk(key_a) is not None
    assert load_from_disk(key_b) is None
    assert list(cache_dir.glob(".tmp-*")) == []


def test_list_total_and_clear(cache_dir):
    key_a, _ = saved(seed=1)
    key_b, _ = saved(seed=2)
    (cache_dir / (".tmp-" + "c" * 64 + "-dead")).mkdir()  # debris of a killed writer

    infos = cache.list_entries()
    assert {info.key for info in infos} == {key_a, key_b}
    assert all(info.kind == "regression" and info.size_bytes > 0 for info in infos)
    assert {info.metrics["test_mse"] for info in infos} == {1.5, 2.5}
    assert "epochs=2" in infos[0].summary
    assert cache.count_entries() == 2
    assert cache.total_bytes() == sum(info.size_bytes for info in infos)

    assert cache.clear() == 2
    assert cache.count_entries() == 0 and cache.total_bytes() == 0
    assert cache.load(key_a) is None
    assert [p.name for p in cache_dir.iterdir() if not p.name.startswith(".locks")] == []


def _saved_on(data_source: str, fingerprint: str) -> str:
    """Save the same settings as trained on other data; returns the key."""
    result = make_result(seed=1)
    result.data_source = data_source
    key = cache.key_for(result.config, fingerprint)
    cache.save(key, result, data_fingerprint=fingerprint)
    return key


def test_entries_with_equal_settings_are_told_apart_by_their_data():
    calm = _saved_on("synthetic: 1,000 houses, noise 0.1, nonlinearity 0, seed 0", "a" * 64)
    noisy = _saved_on("synthetic: 1,000 houses, noise 0.4, nonlinearity 0, seed 0", "b" * 64)

    infos = {info.key: info for info in cache.list_entries()}
    assert infos[calm].settings == infos[noisy].settings
    assert infos[calm].settings["epochs"] == 2 and "kind" not in infos[calm].settings
    assert "noise 0.1" in infos[calm].data and "noise 0.4" in infos[noisy].data
    assert (infos[calm].data_fingerprint, infos[noisy].data_fingerprint) == ("a" * 64, "b" * 64)
    assert load_from_disk(noisy).data_source == infos[noisy].data


def test_an_entry_written_before_its_data_was_stored_lists_a_dash_and_still_loads():
    key = _saved_on("synthetic: 200 houses, noise 0.1, nonlinearity 0, seed 0", FINGERPRINT)
    meta_path = cache.entry_path(key) / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["data_source"]  # as the cache wrote it until this field was added
    meta_path.write_text(json.dumps(meta))

    [info] = cache.list_entries()
    assert info.data == cache.NO_DATA_SOURCE == "—"
    loaded = load_from_disk(key)
    assert loaded is not None and loaded.data_source == ""


def test_count_entries_on_a_missing_directory_is_zero(cache_dir):
    assert not cache_dir.exists()
    assert cache.count_entries() == 0
    assert cache.list_entries() == []


def test_a_broken_environment_is_not_mistaken_for_a_corrupt_entry(monkeypatch):
    """If Keras cannot even be imported, the error surfaces and the valid entry stays."""
    key, _ = saved()
    cache._forget()

    def no_keras(path):
        raise ImportError("keras is half-imported")

    with monkeypatch.context() as patch:
        patch.setattr(cache, "_load_model", no_keras)
        with pytest.raises(ImportError):
            cache.load(key)
    assert cache.entry_path(key).is_dir()
    assert load_from_disk(key) is not None


# --- a stopped run carried between processes (the Celery backend) -------------------------


def test_a_stopped_run_packs_and_unpacks_whole_and_is_never_cached():
    stopped = make_result(seed=3, status="stopped")
    key = cache.key_for(stopped.config, FINGERPRINT)
    back = cache.unpack_run(key, cache.pack_run(key, stopped, FINGERPRINT))
    assert back.status == "stopped" and back.epochs_run == stopped.epochs_run
    assert back.history == stopped.history and not back.cached
    probe = np.linspace(0, 1, 5, dtype=np.float32).reshape(-1, 1)
    np.testing.assert_allclose(
        back.model.predict(probe, verbose=0), stopped.model.predict(probe, verbose=0)
    )
    assert cache.load(key) is None  # carried, not cached


def test_a_pack_for_another_key_or_tampered_with_is_refused():
    stopped = make_result(seed=3, status="stopped")
    key = cache.key_for(stopped.config, FINGERPRINT)
    packed = cache.pack_run(key, stopped, FINGERPRINT)
    with pytest.raises(CacheError, match="cannot be used"):
        cache.unpack_run(cache.key_for(stopped.config, "e" * 64), packed)
    with zipfile.ZipFile(io.BytesIO(packed)) as original:
        files = {name: original.read(name) for name in original.namelist()}
    files["history.json"] = files["history.json"].replace(b"[", b"[9.0, ", 1)
    forged = io.BytesIO()
    with zipfile.ZipFile(forged, "w") as archive:
        for name, payload in files.items():
            archive.writestr(name, payload)
    with pytest.raises(CacheError, match="checksum"):
        cache.unpack_run(key, forged.getvalue())
    with pytest.raises(CacheError, match="cannot be used"):
        cache.unpack_run(key, b"not a zip")
    with pytest.raises(CacheError):
        cache.pack_run(cache.key_for(stopped.config, "e" * 64), stopped, FINGERPRINT)
