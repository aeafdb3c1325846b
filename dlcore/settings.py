"""Paths and knobs read from the environment, in one place."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_DATA_DIR = PACKAGE_DIR / "datasets"


def data_dir() -> Path:
    """Folder holding `mnist.npz`: `DLCORE_DATA_DIR` if set, else the copy in the package."""
    override = os.environ.get("DLCORE_DATA_DIR")
    return Path(override).expanduser() if override else BUNDLED_DATA_DIR


def cache_dir() -> Path:
    """Folder of the trained-model cache: `DLCORE_CACHE_DIR` if set, else the user cache."""
    override = os.environ.get("DLCORE_CACHE_DIR")
    return Path(override).expanduser() if override else Path(user_cache_dir("dlcore")) / "models"


def cache_max_bytes() -> int:
    """Size cap of the cache before least-recently-used entries are evicted (default 2 GB)."""
    return int(os.environ.get("DLCORE_CACHE_MAX_MB", "2048")) * 1024 * 1024


def max_concurrent_jobs() -> int:
    """How many training jobs may run at once on this machine (default 1)."""
    return max(1, int(os.environ.get("DLCORE_MAX_JOBS", "1")))


def max_queued_jobs() -> int:
    """How many training jobs may wait for a slot at once (default 8): a full queue refuses
    new jobs, so one visitor cannot make the whole class wait."""
    return max(1, int(os.environ.get("DLCORE_MAX_QUEUED", "8")))


def precision_override() -> str:
    """`DLCORE_PRECISION`: "auto" (default: the measured choice) or a Keras policy name."""
    return os.environ.get("DLCORE_PRECISION", "auto").strip() or "auto"


def broker_url() -> str:
    """DLCORE_BROKER_URL ("redis://host:port/db"): trainings go to Celery workers over Redis;
    "" (unset) keeps the embedded backend, threads in the app process."""
    return os.environ.get("DLCORE_BROKER_URL", "").strip()
