"""Benchmark: upload -> prediction latency on the server, with a warm model.

One call is what the MNIST page does for an upload: `prepare_digit(bytes)` then
`DigitPredictor.predict_one` (a tf.function traced and warmed when the model was loaded).
The upload is a 12-megapixel phone JPEG (4032x3024) of an MNIST test digit on paper; a
280x280 drawing-canvas PNG is measured too. For comparison the same 28x28 input goes
through `model.predict`, `model.predict_on_batch` and an eager `model(x)`.
Target: p50 <= 50 ms for the phone photo.

Wall time is what a user waits; CPU time is this process's own work, steadier on a busy,
shared machine (the load average is printed before and after).

Usage (from the repository root):
    python bench/predict_latency.py                  # default MnistConfig via dlcore.jobs
    python bench/predict_latency.py --model m.keras --calls 200
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TARGET_MS = 50.0


def timed(function, calls: int) -> dict[str, float]:
    """p50/p95 wall and p50 CPU milliseconds of `calls` calls of function()."""
    wall, cpu = [], []
    for _ in range(calls):
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - wall_started)
        cpu.append(time.process_time() - cpu_started)
    return {
        "p50_ms": float(np.median(wall) * 1e3),
        "p95_ms": float(np.percentile(wall, 95) * 1e3),
        "cpu_p50_ms": float(np.median(cpu) * 1e3),
    }


def _canvas_png(digit: np.ndarray) -> bytes:
    """A 280x280 RGBA canvas drawing: black strokes on a transparent background."""
    from PIL import Image

    alpha = Image.fromarray(digit).resize((280, 280), Image.Resampling.BICUBIC)
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    canvas.putalpha(alpha)
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per measurement")
    parser.add_argument("--model", help="a .keras model file instead of the default model")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    from digit_accuracy import trained_model

    from dlcore.data import load_mnist
    from dlcore.images import prepare_digit
    from dlcore.inference import DigitPredictor
    from tests.support.renderings import render_phone_photo

    load_before = os.getloadavg()[0]
    model, description = trained_model(args.model)
    (_, _), (x_test, y_test) = load_mnist()
    photo = render_phone_photo(x_test[0], np.random.default_rng(0))
    canvas = _canvas_png(x_test[1])
    predictor = DigitPredictor(model)  # traced and warmed here, as when the page loads it
    digit = prepare_digit(photo)
    batch = digit.uint8[None]
    read = predictor.predict_one(digit).label

    figures = {
        "upload -> prediction (12 MP JPEG)": timed(
            lambda: predictor.predict_one(prepare_digit(photo)), args.calls
        ),
        "  of which prepare_digit": timed(lambda: prepare_digit(photo), args.calls),
        "  of which DigitPredictor": timed(lambda: predictor.predict(batch), args.calls),
        "canvas PNG -> prediction": timed(
            lambda: predictor.predict_one(prepare_digit(canvas)), args.calls
        ),
        "model.predict (for comparison)": timed(lambda: model.predict(batch, verbose=0), 50),
        "model.predict_on_batch": timed(lambda: model.predict_on_batch(batch), args.calls),
        "eager model(x)": timed(lambda: model(batch, training=False), args.calls),
    }
    load_after = os.getloadavg()[0]

    print(f"Model: {description}")
    print(f"Phone photo: 4032x3024 JPEG, {len(photo) / 1e6:.1f} MB, a {y_test[0]} read as {read}")
    print(
        f"Load average (1 min): {load_before:.1f} before, {load_after:.1f} after, "
        f"on {os.cpu_count()} CPUs"
    )
    print(f"{'path':<36} {'p50 ms':>8} {'p95 ms':>8} {'CPU p50':>8}")
    for name, row in figures.items():
        print(f"{name:<36} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} {row['cpu_p50_ms']:>8.1f}")
    p50 = figures["upload -> prediction (12 MP JPEG)"]["p50_ms"]
    print(f"Target p50 <= {TARGET_MS:.0f} ms: {'PASS' if p50 <= TARGET_MS else 'FAIL'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": description, **figures}, indent=2))


if __name__ == "__main__":
    main()
