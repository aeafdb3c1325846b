"""Hostile uploads, generated: what a visitor could send to stall a shared server.

Each function returns the bytes of one upload. The tests check that dlcore refuses or reads
them cheaply; bench/load's hostile phase uploads them while other learners use the app.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

JPEG_SOS = b"\xff\xda"
JPEG_EOI = b"\xff\xd9"


def wide_csv(columns: int, rows: int = 10) -> bytes:
    """A CSV with a header of `columns` names and `rows` rows of ones: tiny cells, many columns."""
    header = ",".join(f"c{i}" for i in range(columns))
    row = ",".join("1" for _ in range(columns))
    return ("\n".join([header, *([row] * rows)]) + "\n").encode()


def overflow_csv(rows: int = 20, magnitude: float = 1e308) -> bytes:
    """Areas and prices of ±magnitude: finite, but their differences and squares overflow."""
    lines = ["area,price"]
    lines += [f"{50 + i},{magnitude if i % 2 else -magnitude}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _jpeg_scans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each scan: its SOS header and the entropy-coded data after it."""
    scans, pos = [], 2  # after SOI
    while pos < len(data) - 1:
        marker = data[pos : pos + 2]
        if marker == JPEG_EOI:
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if marker == JPEG_SOS:
            end = _end_of_entropy_data(data, end)
            scans.append((pos, end))
        pos = end
    return scans


def _end_of_entropy_data(data: bytes, pos: int) -> int:
    """Index of the first marker after entropy-coded data (0xFF00 stuffing and RSTn skipped)."""
    while True:
        pos = data.index(b"\xff", pos)
        follower = data[pos + 1]
        if follower != 0x00 and not 0xD0 <= follower <= 0xD7:
            return pos
        pos += 2


def scan_bomb_jpeg(repeats: int = 1000, size: int = 6000) -> bytes:
    """A flat progressive JPEG whose smallest AC scan is repeated `repeats` times before EOI.

    Every scan makes the decoder walk the whole coefficient buffer of a size x size image,
    so a few hundred KB cost seconds to minutes of CPU in a decoder that does not count scans.
    """
    buffer = io.BytesIO()
    Image.new("L", (size, size), 200).save(buffer, "JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    scans = _jpeg_scans(data)
    start, end = min(scans[1:], key=lambda scan: scan[1] - scan[0])  # not the DC scan
    last_end = scans[-1][1]
    return data[:last_end] + data[start:end] * repeats + data[last_end:]


def salt_and_pepper_png(fraction: float, size: int = 400, seed: int = 0) -> bytes:
    """Blank light paper with `fraction` of its pixels turned black or white at random."""
    rng = np.random.default_rng(seed)
    paper = np.full((size, size), 225, np.uint8)
    flips = rng.random((size, size)) < fraction
    paper[flips] = np.where(rng.random(int(flips.sum())) < 0.5, 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, "PNG")
    return buffer.getvalue()
