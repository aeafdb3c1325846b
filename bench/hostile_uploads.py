"""Benchmark: what hostile uploads cost `prepare_digit`, each in a fresh process.

Each upload is generated here (or by tests/support/hostile.py), written to a temporary
file and read by a new Python process that calls `prepare_digit` twice: the first call's
CPU time (of the calling thread), the second call's (a page rerun: a refusal is
remembered), and the growth of the process's peak resident memory (VmHWM) over both.
Ordinary uploads of the same kinds (a 36-megapixel baseline JPEG, a 12-megapixel
progressive phone photo, a 40-megapixel gray PNG, a GIF of 3,000 frames) are measured too:
they must still be read, or refused as blank, within the same budget.
Targets: at most 1 s of CPU and 200 MB per upload; a rerun costs almost nothing.

Usage (from the repository root):
    python bench/hostile_uploads.py                 # every upload
    python bench/hostile_uploads.py --only scan     # the uploads whose name contains "scan"
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import hostile  # noqa: E402

MAX_CPU_SECONDS = 1.0
MAX_GROWTH_MB = 200

# Run in a fresh process: the upload's path is argv[1]; prints one JSON line.
MEASURE = r"""
import json, sys, time
from dlcore.images import prepare_digit

def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024

def call(data):
    started = time.thread_time()
    try:
        prepared = prepare_digit(data)
        outcome = "read" + (f" ({len(prepared.warnings)} warnings)" if prepared.warnings else "")
    except Exception as error:
        outcome = f"{type(error).__name__}: {error}"
    return time.thread_time() - started, outcome

data = open(sys.argv[1], "rb").read()
before = peak_mb()
first, outcome = call(data)
rerun, _ = call(data)
print(json.dumps({"cpu_s": first, "rerun_s": rerun, "growth_mb": peak_mb() - before,
                  "outcome": outcome}))
"""


def _phone_photo_progressive() -> bytes:
    from dlcore.data import load_mnist
    from tests.support.renderings import render_phone_photo

    _, (x_test, _) = load_mnist()
    photo = Image.open(io.BytesIO(render_phone_photo(x_test[0], np.random.default_rng(1))))
    return hostile.encode(photo, "JPEG", quality=90, progressive=True)


def _gif_frames(count: int) -> bytes:
    first = hostile.draw_seven().convert("P")
    frames = [Image.new("P", first.size, 1) for _ in range(count)]
    return hostile.encode(first, "GIF", save_all=True, append_images=frames)


UPLOADS = {
    "scan bomb, 1,000 scans": lambda: hostile.scan_bomb_jpeg(1000),
    "scan bomb, 20,000 scans": lambda: hostile.scan_bomb_jpeg(20_000),
    "JPEG, 2.5 M empty comments": lambda: hostile.jpeg_with_header(b"\xff\xfe\x00\x02", 2_500_000),
    "JPEG, 5 M restart markers": lambda: hostile.jpeg_with_header(b"\xff\xd0", 5_000_000),
    "JPEG, 10 M fill bytes": lambda: hostile.jpeg_with_header(b"\xff", 10_000_000),
    "PNG, 800 k empty chunks": lambda: hostile.png_with_chunks(800_000),
    "GIF, 2 M comment blocks": lambda: hostile.gif_with_header(b"\x21\xfe\x01A\x00", 2_000_000),
    "GIF, 10 MB of junk bytes": lambda: hostile.gif_with_header(b"\x00", 10_000_000),
    "RLE BMP, 10 MB of 1-px runs": lambda: hostile.rle8_bmp(2500, 2000),
    "WebP 40 MP (lossless, flat)": lambda: hostile.encode(
        Image.new("RGB", (6324, 6324), (200, 200, 200)), "WEBP", lossless=True
    ),
    "PNG 40 MP RGBA (flat)": lambda: hostile.encode(
        Image.new("RGBA", (6324, 6324), (200, 200, 200, 255)), "PNG"
    ),
    "salt and pepper 5% (400 px)": lambda: hostile.salt_and_pepper_png(0.05),
    "ordinary: PNG 40 MP gray (blank)": lambda: hostile.encode(
        Image.new("L", (6324, 6324), 230), "PNG"
    ),
    "ordinary: JPEG 36 MP baseline": lambda: hostile.encode(
        hostile.draw_seven().resize((6000, 4000)), "JPEG"
    ),
    "ordinary: JPEG 12 MP progressive": _phone_photo_progressive,
    "ordinary: GIF of 3,000 frames": lambda: _gif_frames(3000),
}


def measure(data: bytes) -> dict:
    """Run MEASURE on the upload in a fresh process; its figures as a dict."""
    with tempfile.NamedTemporaryFile(suffix=".upload") as upload:
        upload.write(data)
        upload.flush()
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, upload.name],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=600,
        )
    if done.returncode:
        failed = f"process failed: {done.stderr.strip()[-200:]}"
        return {"cpu_s": np.nan, "rerun_s": np.nan, "growth_mb": np.nan, "outcome": failed}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="measure only uploads whose name has this")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    figures = {}
    print(f"{'upload':<34} {'size':>9} {'CPU s':>6} {'rerun s':>7} {'peak+ MB':>8}  outcome")
    for name, make in UPLOADS.items():
        if args.only not in name:
            continue
        data = make()
        row = {"bytes": len(data), **measure(data)}
        figures[name] = row
        print(
            f"{name:<34} {len(data) / 1e3:>7.0f}KB {row['cpu_s']:>6.3f} {row['rerun_s']:>7.3f} "
            f"{row['growth_mb']:>8.0f}  {row['outcome'][:70]}",
            flush=True,
        )
    worst_cpu = max(row["cpu_s"] for row in figures.values())
    worst_mb = max(row["growth_mb"] for row in figures.values())
    within = worst_cpu <= MAX_CPU_SECONDS and worst_mb <= MAX_GROWTH_MB
    print(
        f"Worst: {worst_cpu:.3f} s CPU, {worst_mb:.0f} MB; target <= {MAX_CPU_SECONDS:.0f} s "
        f"and <= {MAX_GROWTH_MB} MB: {'PASS' if within else 'FAIL'}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
