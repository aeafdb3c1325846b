"""Property tests of prepare_digit on hostile input: a valid digit or InvalidImage, nothing else.

Every example must take at most 1 s of CPU time and must not grow the process's peak
memory by more than 200 MB. CPU time rather than wall time: the machines we share are busy,
and a wall-clock deadline there fails on the neighbours' load (Hypothesis' 5 s deadline
still catches a hang). The number of examples per test is 60 by default so that the file
runs in well under a minute; set FUZZ_EXAMPLES (e.g. 2000) for a long, randomized run.
"""

from __future__ import annotations

import io
import os
import resource
import time
from datetime import timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from dlcore.errors import InvalidImage
from dlcore.images import prepare_digit

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),
    derandomize="FUZZ_EXAMPLES" not in os.environ,  # CI runs the same examples every time
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_GROWTH_KIB = 200 * 1024
MAX_CPU_SECONDS = 1.0

# Modes Pillow can store, with the allowed formats that keep them.
FORMATS_FOR_MODE = {
    "1": ["PNG", "BMP", "GIF"],
    "L": ["PNG", "JPEG", "WEBP", "BMP", "GIF"],
    "P": ["PNG", "GIF", "BMP"],
    "RGB": ["PNG", "JPEG", "WEBP", "BMP"],
    "RGBA": ["PNG", "WEBP"],
    "LA": ["PNG"],
    "CMYK": ["JPEG"],
    "I;16": ["PNG"],
}
SIGNATURES = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"BM",
    b"GIF89a",
]


def check(data: bytes) -> None:
    """prepare_digit returns a valid 28x28 digit or raises InvalidImage; nothing else."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.thread_time()
    try:
        prepared = prepare_digit(data)
    except InvalidImage as refusal:
        assert str(refusal)  # every refusal says why
    else:
        array = prepared.array
        assert array.shape == (28, 28) and array.dtype == np.float32
        assert array.min() >= 0.0 and array.max() <= 1.0
        assert prepared.uint8.shape == (28, 28) and prepared.uint8.dtype == np.uint8
    assert time.thread_time() - started <= MAX_CPU_SECONDS
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < MAX_GROWTH_KIB


def _picture(mode: str, width: int, height: int, seed: int) -> Image.Image:
    """Noise, or strokes and blobs on a plain background: some are digits, most are not."""
    rng = np.random.default_rng(seed)
    if rng.random() < 0.3:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        base = Image.fromarray(pixels)
    else:
        base = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(base)
        for _ in range(int(rng.integers(0, 5))):
            points = [tuple(int(v) for v in rng.integers(0, max(width, height), 2)) for _ in "ab"]
            color = tuple(int(v) for v in rng.integers(0, 256, 3))
            draw.line(points, fill=color, width=int(rng.integers(1, 30)))
    if mode == "I;16":
        return Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257)
    if mode in ("RGBA", "LA"):
        converted = base.convert(mode)
        converted.putalpha(Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8)))
        return converted
    return base.convert(mode)


@st.composite
def image_files(draw) -> bytes:
    """A valid image file of a random mode, size, content and allowed format."""
    mode = draw(st.sampled_from(sorted(FORMATS_FOR_MODE)))
    fmt = draw(st.sampled_from(FORMATS_FOR_MODE[mode]))
    width, height = draw(st.integers(1, 400)), draw(st.integers(1, 400))
    picture = _picture(mode, width, height, draw(st.integers(0, 2**32 - 1)))
    buffer = io.BytesIO()
    picture.save(buffer, fmt)
    return buffer.getvalue()


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    check(data)


@FUZZ
@given(st.sampled_from(SIGNATURES), st.binary(max_size=2048))
def test_random_bytes_behind_a_real_signature(signature, tail):
    check(signature + tail)


@FUZZ
@given(image_files())
def test_valid_images_of_random_modes_and_sizes(data):
    check(data)


@FUZZ
@given(image_files(), st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_images(data, kept):
    check(data[: int(len(data) * kept)])


@FUZZ
@given(image_files(), st.lists(st.tuples(st.integers(0), st.integers(0, 255)), max_size=8))
def test_corrupted_images(data, flips):
    corrupted = bytearray(data)
    for position, value in flips:
        corrupted[position % len(corrupted)] = value
    check(bytes(corrupted))


@FUZZ
@given(
    image_files(),
    st.integers(0),
    st.integers(1, 64),
    st.integers(1, 20_000),
)
def test_a_piece_of_a_valid_file_repeated_many_times(data, start, length, times):
    """Segments, chunks or blocks repeated: the cheap way to ask a decoder for more work."""
    start %= len(data)
    piece = data[start : start + length]
    check(data[: start + len(piece)] + piece * times + data[start + len(piece) :])
