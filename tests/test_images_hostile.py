"""Hostile uploads: files that ask a decoder for far more work or memory than their size.

Each one must be refused with a plain message (InvalidImage), costing this thread at most
1 s of CPU and the process at most 200 MB, and a refused file must be refused again at once
when a page reruns with it. CPU time of the calling thread, not wall time: the machines we
share are busy. Ordinary files of the same kinds (a progressive photo, a 36-megapixel
baseline JPEG) must still be read.
"""

from __future__ import annotations

import io
import resource
import threading
import time

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from dlcore import image_guard, images
from dlcore.errors import InvalidImage
from dlcore.images import prepare_digit
from tests.support.hostile import (
    draw_seven,
    encode,
    gif_with_header,
    jpeg_with_header,
    png_with_chunks,
    rle8_bmp,
)
from tests.support.hostile import scan_bomb_jpeg as scan_bomb

MAX_CPU_SECONDS = 1.0
MAX_GROWTH_KIB = 200 * 1024


def refusal_and_cost(data: bytes) -> tuple[str, float, float]:
    """prepare_digit's refusal message, this thread's CPU seconds and peak growth in KiB."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.thread_time()
    with pytest.raises(InvalidImage) as caught:
        prepare_digit(data)
    cpu = time.thread_time() - started
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    return str(caught.value), cpu, growth


# --- a progressive JPEG's scans -------------------------------------------------------------


def test_the_scan_bomb_is_what_it_claims_to_be():
    data = scan_bomb(1000)
    assert data.count(b"\xff\xda") > 1000 and len(data) < 300_000  # SOS markers
    assert Image.open(io.BytesIO(data)).info.get("progressive")


def test_progressive_scan_bomb_is_refused_within_the_cpu_budget():
    message, cpu, growth = refusal_and_cost(scan_bomb(1000))
    assert "progressive JPEG" in message and "1,0" in message  # about 1,000 passes
    assert cpu < MAX_CPU_SECONDS
    assert growth < MAX_GROWTH_KIB


def test_twenty_thousand_repeated_scans_cost_no_more():
    message, cpu, _ = refusal_and_cost(scan_bomb(20_000))
    assert "20,0" in message
    assert cpu < MAX_CPU_SECONDS


def test_too_many_scans_of_a_small_picture_are_refused_too():
    message, cpu, _ = refusal_and_cost(scan_bomb(image_guard.MAX_SCANS + 10, size=400))
    assert "progressive JPEG" in message
    assert cpu < MAX_CPU_SECONDS


def test_an_ordinary_progressive_photo_is_still_read():
    baseline = prepare_digit(encode(draw_seven().rotate(8, fillcolor=225), "JPEG", quality=90))
    photo = encode(draw_seven().rotate(8, fillcolor=225), "JPEG", quality=90, progressive=True)
    assert Image.open(io.BytesIO(photo)).info.get("progressive")
    prepared = prepare_digit(photo)
    assert np.corrcoef(prepared.uint8.ravel(), baseline.uint8.ravel())[0, 1] > 0.95


def test_a_12_megapixel_progressive_phone_photo_is_read():
    from dlcore.data import load_mnist
    from tests.support.renderings import render_phone_photo

    _, (x_test, _) = load_mnist()
    phone = Image.open(io.BytesIO(render_phone_photo(x_test[0], np.random.default_rng(1))))
    data = encode(phone, "JPEG", quality=90, progressive=True)
    started = time.thread_time()
    prepared = prepare_digit(data)
    assert time.thread_time() - started < MAX_CPU_SECONDS
    assert prepared.uint8.max() == 255


def test_a_36_megapixel_baseline_jpeg_is_decoded_reduced(monkeypatch):
    sizes = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        sizes.append(size)
        return real_draft(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    page = draw_seven().resize((6000, 4000))
    started = time.thread_time()
    prepared = prepare_digit(encode(page, "JPEG", quality=85))
    assert time.thread_time() - started < MAX_CPU_SECONDS
    assert sizes and max(sizes[0]) <= 2 * images.WORK_SIZE  # decoded at 1/8 scale
    assert prepared.uint8.max() == 255


# --- remembering refusals ----------------------------------------------------------------------


def test_a_refused_upload_is_refused_again_without_decoding(monkeypatch):
    data = scan_bomb(1001)
    first = refusal_and_cost(data)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the refused file was decoded again")

    monkeypatch.setattr(images, "_prepare", must_not_run)
    monkeypatch.setattr(image_guard, "check_structure", must_not_run)
    again = refusal_and_cost(data)
    assert again[0] == first[0]
    assert again[1] < 0.05  # a hash of 200 KB and a dictionary lookup


def test_an_accepted_upload_is_not_remembered_as_refused():
    data = encode(draw_seven())
    prepare_digit(data)
    assert prepare_digit(data).uint8.max() == 255


def test_remembered_refusals_are_bounded_and_the_oldest_go_first(monkeypatch):
    monkeypatch.setattr(images, "_REFUSALS", type(images._REFUSALS)(max_entries=3))
    garbage = [f"not an image, number {i}".encode() * 8 for i in range(5)]
    for data in garbage:
        with pytest.raises(InvalidImage):
            prepare_digit(data)
    assert len(images._REFUSALS) == 3
    calls = []
    real = images._prepare
    monkeypatch.setattr(images, "_prepare", lambda data: calls.append(data) or real(data))
    with pytest.raises(InvalidImage):
        prepare_digit(garbage[-1])  # among the three most recent: not read again
    assert calls == []
    with pytest.raises(InvalidImage):
        prepare_digit(garbage[0])  # the oldest was forgotten: read again
    assert calls == [garbage[0]]


def test_three_visitors_uploading_the_bomb_at_once_are_all_refused_quickly():
    data = scan_bomb(1002)
    results: list[tuple[str, float]] = []

    def visitor() -> None:
        started = time.thread_time()
        try:
            prepare_digit(data)
        except InvalidImage as refusal:
            results.append((str(refusal), time.thread_time() - started))

    threads = [threading.Thread(target=visitor) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and len({message for message, _ in results}) == 1
    assert all(cpu < MAX_CPU_SECONDS for _, cpu in results)


# --- other formats that amplify work or memory ---------------------------------------------------


def _gif_with_junk(count: int) -> bytes:
    """A small GIF with `count` zero bytes, which start no block, before its picture."""
    return gif_with_header(b"\x00", count)


def _gif_with_comments(count: int) -> bytes:
    """A small GIF with `count` one-byte comment extensions before its picture."""
    return gif_with_header(b"\x21\xfe\x01A\x00", count)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: jpeg_with_header(b"\xff\xfe\x00\x02", 2_500_000), "JPEG"),  # comments
        (lambda: jpeg_with_header(b"\xff\xd0", 5_000_000), "JPEG"),  # restart markers
        (lambda: jpeg_with_header(b"\xff", 10_000_000), "JPEG"),  # fill bytes
        (lambda: _gif_with_junk(10_000_000), "GIF"),
        (lambda: png_with_chunks(800_000), "PNG"),
        (lambda: _gif_with_comments(2_000_000), "GIF"),
        (lambda: rle8_bmp(2500, 2000), "BMP"),
    ],
    ids=[
        "jpeg-segments",
        "jpeg-restarts",
        "jpeg-fill",
        "gif-junk",
        "png-chunks",
        "gif-comments",
        "rle-bmp",
    ],
)
def test_ten_megabytes_of_tiny_pieces_are_refused_from_the_structure(make, words):
    data = make()
    assert len(data) > 8_000_000
    message, cpu, growth = refusal_and_cost(data)
    assert words in message
    assert cpu < MAX_CPU_SECONDS
    assert growth < MAX_GROWTH_KIB


@pytest.mark.parametrize("fmt, options", [("WEBP", {"lossless": True}), ("PNG", {})])
def test_a_tiny_file_of_a_huge_picture_is_refused_by_memory(fmt, options):
    data = encode(Image.new("RGBA", (6324, 6324), (200, 200, 200, 255)), fmt, **options)
    message, cpu, growth = refusal_and_cost(data)
    assert "MB of memory" in message
    assert cpu < MAX_CPU_SECONDS
    assert growth < MAX_GROWTH_KIB


def test_a_gif_with_thousands_of_frames_reads_the_first():
    first = draw_seven().convert("P")
    frames = [Image.new("P", first.size, 1) for _ in range(3000)]
    data = encode(first, "GIF", save_all=True, append_images=frames)
    started = time.thread_time()
    prepared = prepare_digit(data)
    assert time.thread_time() - started < MAX_CPU_SECONDS
    assert images.WARN_ANIMATED in map(str, prepared.warnings)


def test_a_40_megapixel_gray_png_is_still_within_budget():
    data = encode(Image.new("L", (6324, 6324), 230))
    message, cpu, growth = refusal_and_cost(data)
    assert message == images.NO_DIGIT  # decoded, and blank
    assert cpu < MAX_CPU_SECONDS
    assert growth < MAX_GROWTH_KIB
