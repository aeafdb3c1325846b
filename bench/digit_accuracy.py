"""Benchmark: how often the default model reads photo-like uploads of MNIST test digits.

Renders N MNIST *test* digits (never the training images) the way learners upload them —
phone photos of dark ink on unevenly lit paper, fine-pen photos, EXIF-rotated phone JPEGs,
JPEG/PNG/WebP in RGB/RGBA/grayscale, transparent drawing-canvas PNGs — runs each file
through `dlcore.images.prepare_digit` and the trained model, and compares the accuracy with
the model's accuracy on the same digits as raw MNIST arrays. Target: >= 97 % on the
renderings with the default model.

Usage (from the repository root):
    python bench/digit_accuracy.py                      # default MnistConfig via dlcore.jobs
    python bench/digit_accuracy.py --model m.keras      # a model file you trained
    python bench/digit_accuracy.py --count 300 --save-misread /tmp/misread
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = 0.97


def trained_model(path: str | None):
    """The model to measure: a .keras file, or the default MnistConfig through dlcore.jobs.

    Returns:
        (model, description)
    """
    if path:
        import keras

        return keras.models.load_model(path, safe_mode=True), f"model file {path}"
    from dlcore import jobs
    from dlcore.configs import MnistConfig

    handle = jobs.submit(MnistConfig())
    if not handle.snapshot().finished:
        print("Training the default MnistConfig (not in the cache yet)...", flush=True)
    handle.wait()
    result = handle.result()
    if result is None:
        raise SystemExit(f"training failed: {handle.snapshot().message}")
    source = "cache" if result.cached else "trained now"
    accuracy = result.metrics.get("test_accuracy", float("nan"))
    return result.model, f"default MnistConfig ({source}, test accuracy {accuracy:.2%})"


def _prepare_all(renderings) -> tuple[np.ndarray, list, list[float]]:
    """prepare_digit on every rendering: the images, per-rendering outcome, and times."""
    from dlcore.errors import InvalidImage
    from dlcore.images import prepare_digit

    digits, outcomes, seconds = [], [], []
    for rendering in renderings:
        started = time.perf_counter()
        try:
            prepared = prepare_digit(rendering.data)
            digits.append(prepared.uint8)
            outcomes.append(prepared.warnings)
        except InvalidImage as refusal:
            digits.append(np.zeros((28, 28), np.uint8))
            outcomes.append(refusal)
        seconds.append(time.perf_counter() - started)
    return np.stack(digits), outcomes, seconds


def _breakdown(renderings, predicted, outcomes) -> dict[str, dict]:
    """Per rendering kind: count, accuracy, refusals and warnings."""
    rows: dict[str, dict] = defaultdict(lambda: {"n": 0, "right": 0, "refused": 0, "warned": 0})
    for rendering, guess, outcome in zip(renderings, predicted, outcomes, strict=True):
        row = rows[rendering.kind]
        row["n"] += 1
        refused = isinstance(outcome, Exception)
        row["right"] += int(not refused and guess == rendering.label)
        row["refused"] += int(refused)
        row["warned"] += int(not refused and bool(outcome))
    return {
        kind: {**row, "accuracy": row["right"] / row["n"]} for kind, row in sorted(rows.items())
    }


def _save_misread(folder: Path, renderings, predicted, outcomes) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for i, (rendering, guess, outcome) in enumerate(
        zip(renderings, predicted, outcomes, strict=True)
    ):
        if isinstance(outcome, Exception) or guess != rendering.label:
            name = f"{i:04d}_{rendering.kind}_true{rendering.label}_read{guess}.img"
            (folder / name).write_bytes(rendering.data)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="renderings (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the renderings")
    parser.add_argument("--model", help="a .keras model file instead of the default model")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--save-misread", help="write the misread renderings to this folder")
    args = parser.parse_args()

    from dlcore.data import load_mnist
    from dlcore.inference import DigitPredictor
    from tests.support.renderings import render_test_set

    model, description = trained_model(args.model)
    predictor = DigitPredictor(model)
    (_, _), (x_test, y_test) = load_mnist()

    started = time.perf_counter()
    renderings = render_test_set(x_test, y_test, args.count, seed=args.seed)
    render_s = time.perf_counter() - started
    digits, outcomes, seconds = _prepare_all(renderings)
    predicted = predictor.predict(digits).argmax(axis=1)
    labels = np.array([r.label for r in renderings])
    refused = np.array([isinstance(o, Exception) for o in outcomes])
    on_renderings = float(np.mean((predicted == labels) & ~refused))
    indices = np.array([r.index for r in renderings])
    on_raw_same = float(np.mean(predictor.predict(x_test[indices]).argmax(axis=1) == labels))
    on_raw_all = float(np.mean(predictor.predict(x_test).argmax(axis=1) == y_test))
    kinds = _breakdown(renderings, predicted, outcomes)

    print(f"Model: {description}")
    print(f"Rendered {args.count} MNIST test digits (seed {args.seed}) in {render_s:.0f} s")
    print(
        f"prepare_digit per file: p50 {np.median(seconds) * 1e3:.1f} ms, "
        f"p95 {np.percentile(seconds, 95) * 1e3:.1f} ms"
    )
    print(f"{'kind':<12} {'n':>5} {'accuracy':>9} {'refused':>8} {'warned':>7}")
    for kind, row in kinds.items():
        print(
            f"{kind:<12} {row['n']:>5} {row['accuracy']:>9.2%} {row['refused']:>8} "
            f"{row['warned']:>7}"
        )
    print(f"Accuracy on the renderings:            {on_renderings:.2%}")
    print(f"Accuracy on the same digits, raw MNIST: {on_raw_same:.2%}")
    print(f"Accuracy on all 10,000 raw test images: {on_raw_all:.2%}")
    verdict = "PASS" if on_renderings >= TARGET else "FAIL"
    print(f"Target >= {TARGET:.0%} on the renderings: {verdict}")
    if args.save_misread:
        count = _save_misread(Path(args.save_misread), renderings, predicted, outcomes)
        print(f"Wrote {count} misread renderings to {args.save_misread}")
    if args.json:
        figures = {
            "model": description,
            "count": args.count,
            "seed": args.seed,
            "renderings_accuracy": on_renderings,
            "raw_same_accuracy": on_raw_same,
            "raw_test_accuracy": on_raw_all,
            "kinds": kinds,
            "prepare_ms_p50": float(np.median(seconds) * 1e3),
        }
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
