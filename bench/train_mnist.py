"""Benchmark: the seed tutorial's MNIST script against dlcore's default recipe.

Each run happens in its own fresh Python process, one after the other, so that neither
inherits the other's warm caches, threads or memory. Every child prints one JSON line;
this script collects them and prints a table with the ratio of times.

Usage (from the repository root):
    python bench/train_mnist.py                   # seed tutorial vs dlcore default
    python bench/train_mnist.py --quick           # MNIST_QUICK alone (target < 20 s, >= 97 %)
    python bench/train_mnist.py --precision-check # dlcore default in float32 vs mixed_bfloat16
    python bench/train_mnist.py --shares          # tutorial -> default, one change at a time

Times: "train" is the work itself (seed: normalize + build + fit + evaluate; dlcore: the
``training.train`` call, which also loads the data, builds, fits and evaluates the model);
"process" adds the interpreter and TensorFlow start-up; "CPU" is the process's CPU time
during the work, a steadier figure than wall time on a shared, busy machine.
Targets: dlcore >= 99.0 % test accuracy in <= 0.5x the seed's train time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child_seed(seed: int) -> dict:
    """The tutorial's §5.2 script, data read from the bundled file instead of the network."""
    import numpy as np
    import tensorflow as tf

    from dlcore import settings

    with np.load(settings.data_dir() / "mnist.npz") as npz:
        train_images, train_labels = npz["x_train"], npz["y_train"]
        test_images, test_labels = npz["x_test"], npz["y_test"]
    tf.keras.utils.set_random_seed(seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    train_images = train_images / 255.0  # float64, as in the tutorial
    test_images = test_images / 255.0
    model = tf.keras.models.Sequential(
        [
            tf.keras.Input(shape=(28, 28, 1)),  # the tutorial passes input_shape=(28, 28, 1)
            tf.keras.layers.Conv2D(32, (3, 3), activation="relu"),
            tf.keras.layers.MaxPooling2D((2, 2)),
            tf.keras.layers.Conv2D(64, (3, 3), activation="relu"),
            tf.keras.layers.MaxPooling2D((2, 2)),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(128, activation="relu"),
            tf.keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train_images, train_labels, epochs=5, verbose=0)  # batch 32 (Keras default)
    _, test_acc = model.evaluate(test_images, test_labels, verbose=0)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"test_accuracy": float(test_acc), "train_seconds": seconds, "cpu_seconds": cpu}


def _preset(name: str):
    """A named config: default, quick, or a step of dlcore.recipes.RECIPE_STEPS."""
    from dlcore.configs import MNIST_QUICK, MnistConfig
    from dlcore.recipes import RECIPE_STEPS

    presets = {"default": MnistConfig(), "quick": MNIST_QUICK}
    presets.update({f"step:{step.change}": step.config for step in RECIPE_STEPS})
    return presets[name]


def child_dlcore(preset: str, seed: int) -> dict:
    """A named config (default, quick or a recipe step) through dlcore.training.train."""
    from dlcore import device, training

    config = _preset(preset).replace(seed=seed)
    info = device.configure()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = training.train(config)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "test_accuracy": result.metrics["test_accuracy"],
        "train_seconds": seconds,
        "cpu_seconds": cpu,
        "fit_seconds": result.train_seconds,
        "epochs": result.epochs_run,
        "val_accuracy": result.history.get("val_accuracy", [None])[-1],  # None: no held-out set
        # A float32 recipe overrides the device's choice of precision that its summary names.
        "device": info.summary if config.precision == "auto" else f"{info.summary} -> float32",
        "config": config.to_dict(),
    }


def run_child(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run this script as a child process and return its JSON line plus process time."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def show(label: str, result: dict) -> None:
    print(
        f"{label:<34} test accuracy {100 * result['test_accuracy']:6.2f} %   "
        f"train {result['train_seconds']:6.1f} s (CPU {result['cpu_seconds']:6.1f} s)   "
        f"process {result['process_seconds']:6.1f} s"
        + (f"   [{result['device']}]" if "device" in result else ""),
        flush=True,
    )


def compare(seed: int) -> dict:
    """Seed tutorial vs dlcore default, in sequence; print both and the ratio."""
    seed_run = run_child(["--child", "seed", "--seed", str(seed)])
    show("seed tutorial (5 ep, batch 32, fp64)", seed_run)
    ours = run_child(["--child", "dlcore", "--preset", "default", "--seed", str(seed)])
    show("dlcore default MnistConfig", ours)
    ratio = ours["train_seconds"] / seed_run["train_seconds"]
    cpu_ratio = ours["cpu_seconds"] / seed_run["cpu_seconds"]
    ok = ours["test_accuracy"] >= 0.99 and ratio <= 0.5
    print(
        f"ratio dlcore/seed train time: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU (target <= "
        f"0.50x wall); dlcore accuracy {100 * ours['test_accuracy']:.2f} % (target >= 99.00 %)"
        f" -> {'PASS' if ok else 'MISS'}"
    )
    return {"seed": seed_run, "dlcore": ours, "ratio": ratio, "cpu_ratio": cpu_ratio, "pass": ok}


def quick(seed: int) -> dict:
    ours = run_child(["--child", "dlcore", "--preset", "quick", "--seed", str(seed)])
    show("dlcore MNIST_QUICK", ours)
    ok = ours["train_seconds"] < 20 and ours["test_accuracy"] >= 0.97
    print(f"target < 20 s and >= 97.00 % -> {'PASS' if ok else 'MISS'}")
    return {"dlcore_quick": ours, "pass": ok}


def precision_check(seed: int) -> dict:
    """dlcore default forced to float32 and to mixed_bfloat16 (the device.py decision)."""
    runs = {}
    for policy in ("float32", "mixed_bfloat16"):
        args = ["--child", "dlcore", "--preset", "default", "--seed", str(seed)]
        runs[policy] = run_child(args, env={"DLCORE_PRECISION": policy})
        show(f"dlcore default, {policy}", runs[policy])
    speedup = runs["float32"]["train_seconds"] / runs["mixed_bfloat16"]["train_seconds"]
    cpu_speedup = runs["float32"]["cpu_seconds"] / runs["mixed_bfloat16"]["cpu_seconds"]
    print(f"mixed_bfloat16 speed-up over float32: {speedup:.2f}x wall, {cpu_speedup:.2f}x CPU")
    return {**runs, "bf16_speedup": speedup, "bf16_cpu_speedup": cpu_speedup}


def shares(seed: int) -> dict:
    """The tutorial's script, then each step of dlcore.recipes.RECIPE_STEPS: what each change
    saves, as a share of the whole speed-up (each run in its own fresh process)."""
    from dlcore.recipes import RECIPE_STEPS

    runs = {"script": run_child(["--child", "seed", "--seed", str(seed)])}
    show("tutorial's script (NumPy float64)", runs["script"])
    for step in RECIPE_STEPS:
        args = ["--child", "dlcore", "--preset", f"step:{step.change}", "--seed", str(seed)]
        runs[step.change] = run_child(args)
        show(f"+ {step.change}", runs[step.change])
    order = ["script", *(step.change for step in RECIPE_STEPS)]
    total = runs[order[0]]["train_seconds"] - runs[order[-1]]["train_seconds"]
    cpu_total = runs[order[0]]["cpu_seconds"] - runs[order[-1]]["cpu_seconds"]
    figures = {"runs": runs, "shares": {}}
    for before, after in zip(order, order[1:], strict=False):
        saved = runs[before]["train_seconds"] - runs[after]["train_seconds"]
        cpu_saved = runs[before]["cpu_seconds"] - runs[after]["cpu_seconds"]
        figures["shares"][after] = {"wall": saved / total, "cpu": cpu_saved / cpu_total}
        change = "input pipeline" if after == "tutorial" else after
        print(
            f"{change:<16} saves {saved:6.1f} s wall ({100 * saved / total:5.1f} % of the "
            f"speed-up), {cpu_saved:6.1f} s CPU ({100 * cpu_saved / cpu_total:5.1f} %)"
        )
    speedup = runs[order[0]]["train_seconds"] / runs[order[-1]]["train_seconds"]
    print(f"whole speed-up: {speedup:.2f}x wall, {total:.1f} s saved")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="time MNIST_QUICK only")
    mode.add_argument("--precision-check", action="store_true", help="float32 vs bfloat16")
    mode.add_argument("--shares", action="store_true", help="each change's share of the speed-up")
    mode.add_argument("--child", choices=("seed", "dlcore"), help=argparse.SUPPRESS)
    parser.add_argument("--preset", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help="random seed of both runs")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.child:
        child = (
            child_seed(args.seed) if args.child == "seed" else child_dlcore(args.preset, args.seed)
        )
        print(json.dumps(child))
        return
    print(f"bench/train_mnist.py on {os.cpu_count()} CPU(s); each run in a fresh process")
    modes = {"quick": quick, "precision_check": precision_check, "shares": shares}
    chosen = next((name for name in modes if getattr(args, name)), None)
    figures = modes.get(chosen, compare)(args.seed)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
