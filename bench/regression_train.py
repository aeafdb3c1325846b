"""Benchmark: the tutorial's 1-10-1 house-price network, 200 epochs on 1,000 houses.

Two recipes, each run in its own fresh Python process, one after the other:
  - "keras": the tutorial's loop written as plain Keras (min-max scaling, Dense(10, relu),
    Dense(1), SGD 0.01, MSE, batch 32, ``model.fit`` with no callbacks, float64 NumPy
    input as in the tutorial): a reference;
  - "dlcore": ``dlcore.training.train(RegressionConfig())`` as the page's jobs run it, with
    the per-batch progress callback, divergence checks and the per-epoch curve.
The ratio dlcore/keras shows what the live-training machinery costs (measured below 1 on
the development machine: the callbacks cost less than the noise between processes).
"fit" is the time of ``model.fit`` alone, "train" the whole call (split, scaling, build, fit,
metrics), "CPU" the process's CPU time during the call: steadier than wall time on a shared,
busy machine.

Usage (from the repository root):
    python bench/regression_train.py               # 2 rounds of keras, dlcore
    python bench/regression_train.py --rounds 3 --json /tmp/regression_train.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N_HOUSES = 1000


def child_keras(seed: int) -> dict:
    """The tutorial's recipe in plain Keras on the same data and split as dlcore."""
    import keras

    from dlcore.data import fit_scaler, make_house_prices, split_train_test

    data = make_house_prices(N_HOUSES)
    started, cpu_started = time.perf_counter(), time.process_time()
    train_idx, test_idx = split_train_test(data, 0.2, seed)
    xs, ys = fit_scaler(data.area[train_idx]), fit_scaler(data.price[train_idx])
    x, y = xs.transform(data.area[train_idx]), ys.transform(data.price[train_idx])
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input(shape=(1,)), keras.layers.Dense(10, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
    fit_started = time.perf_counter()
    model.fit(x.reshape(-1, 1), y.reshape(-1, 1), epochs=200, batch_size=32, verbose=0)
    fit_seconds = time.perf_counter() - fit_started
    pred = ys.inverse(model.predict_on_batch(xs.transform(data.area[test_idx]).reshape(-1, 1)))
    error = pred.reshape(-1) - data.price[test_idx]
    r2 = 1 - (error**2).sum() / ((data.price[test_idx] - data.price[test_idx].mean()) ** 2).sum()
    return _figures(started, cpu_started, fit_seconds, float(r2))


def child_dlcore(seed: int) -> dict:
    """dlcore.training.train on the default RegressionConfig, with a progress sink."""
    from dlcore import training
    from dlcore.configs import RegressionConfig
    from dlcore.data import make_house_prices

    class Sink:  # what jobs records, minus the locking: keep the callback path realistic
        def on_train_begin(self, epochs, batches_per_epoch):
            self.rows = []

        def on_batch_end(self, epoch, batch, logs):
            self.last = logs

        def on_epoch_end(self, epoch, logs, extras):
            self.rows.append((logs, extras))

    data = make_house_prices(N_HOUSES)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = training.train(RegressionConfig(seed=seed), data, progress=Sink())
    assert result.status == "completed", result.status
    return _figures(started, cpu_started, result.train_seconds, result.metrics["test_r2"])


def _figures(started: float, cpu_started: float, fit_seconds: float, r2: float) -> dict:
    return {
        "train_s": time.perf_counter() - started,
        "fit_s": fit_seconds,
        "cpu_s": time.process_time() - cpu_started,
        "test_r2": r2,
    }


CHILDREN = {"keras": child_keras, "dlcore": child_dlcore}


def run_child(recipe: str, seed: int) -> dict:
    """Run one recipe in a fresh interpreter; returns its figures plus the process time."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--child", recipe, "--seed", str(seed)],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return {"recipe": recipe, "seed": seed, "process_s": time.perf_counter() - started, **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", choices=CHILDREN)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.seed)))
        return
    runs = [run_child(r, args.seed) for _ in range(args.rounds) for r in CHILDREN]
    print(f"{'recipe':8} {'fit s':>7} {'train s':>8} {'CPU s':>7} {'process s':>10} {'test R²':>8}")
    for run in runs:
        print(
            f"{run['recipe']:8} {run['fit_s']:7.2f} {run['train_s']:8.2f} {run['cpu_s']:7.2f} "
            f"{run['process_s']:10.2f} {run['test_r2']:8.3f}"
        )
    median = {
        r: {
            k: statistics.median(x[k] for x in runs if x["recipe"] == r) for k in ("fit_s", "cpu_s")
        }
        for r in CHILDREN
    }
    print(
        f"dlcore 1-10-1, 200 epochs, {N_HOUSES} houses: fit {median['dlcore']['fit_s']:.2f} s "
        f"(median); dlcore/keras fit {median['dlcore']['fit_s'] / median['keras']['fit_s']:.2f}x, "
        f"CPU {median['dlcore']['cpu_s'] / median['keras']['cpu_s']:.2f}x"
    )
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "median": median}, indent=2))


if __name__ == "__main__":
    main()
