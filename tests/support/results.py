"""Small real training results, saved to and loaded from the cache, without training.

The cache, jobs, fault and security tests store these instead of training a model: each is
a seeded 1 -> 1 Keras model with regression extras, built in milliseconds.
"""

from __future__ import annotations

import keras
import numpy as np

from dlcore import cache
from dlcore.configs import RegressionConfig
from dlcore.data import Scaler
from dlcore.training import TrainResult

FINGERPRINT = "f" * 64


def make_result(seed: int = 0, status: str = "completed", model=None) -> TrainResult:
    """A small but real TrainResult: a seeded 1 -> 1 Keras model and regression extras."""
    keras.utils.set_random_seed(seed)
    if model is None:
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
    config = RegressionConfig(epochs=2, seed=seed)
    return TrainResult(
        config=config,
        model=model,
        history={"loss": [1.5 + seed, 0.75], "val_loss": [1.25, 0.5]},
        metrics={"test_mse": 0.5 + seed, "test_r2": 0.875},
        status=status,
        train_seconds=1.25,
        device="CPU · test",
        epochs_run=2,
        extras={
            "x_scaler": Scaler("minmax", 30.0, 220.0),
            "y_scaler": Scaler("standard", 1000.0, 250.0),
            "train_idx": np.array([0, 2, 3]),
            "test_idx": np.array([1]),
        },
    )


def saved(seed: int = 0, **kwargs) -> tuple[str, TrainResult]:
    """Save make_result(seed) under its real key; returns (key, result)."""
    result = make_result(seed, **kwargs)
    key = cache.key_for(result.config, FINGERPRINT)
    cache.save(key, result, data_fingerprint=FINGERPRINT)
    return key, result


def load_from_disk(key: str):
    """Load bypassing the in-process memo, as a new process would."""
    cache._forget()
    return cache.load(key)
