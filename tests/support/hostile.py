"""Hostile uploads, generated: what a visitor could send to stall a shared server.

Each function returns the bytes of one upload. The tests check that dlcore refuses or reads
them cheaply; bench/load's hostile phase uploads them while other learners use the app.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw

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


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    """The bytes of image saved in fmt."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def draw_seven(size=(600, 400)) -> Image.Image:
    """A dark '7' on light paper."""
    image = Image.new("L", size, 225)
    ImageDraw.Draw(image).line([(60, 40), (260, 40), (150, 330)], fill=30, width=30)
    return image


def jpeg_with_header(filler: bytes, count: int) -> bytes:
    """A small JPEG with `filler` repeated `count` times right after SOI."""
    base = encode(Image.new("L", (64, 64), 200), "JPEG")
    return base[:2] + filler * count + base[2:]


def png_with_chunks(count: int) -> bytes:
    """A small PNG with `count` empty private chunks before its pixels (valid CRCs)."""
    base = encode(Image.new("L", (64, 64), 200))
    chunk = struct.pack(">I", 0) + b"zzZz" + struct.pack(">I", zlib.crc32(b"zzZz"))
    return base[:33] + chunk * count + base[33:]  # after the signature and IHDR


def gif_with_header(filler: bytes, count: int) -> bytes:
    """A small GIF with `filler` repeated `count` times before its picture."""
    base = encode(Image.new("P", (64, 64), 1), "GIF")
    flags = base[10]
    start = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # after the colour table
    return base[:start] + filler * count + base[start:]


def rle8_bmp(width: int, height: int) -> bytes:
    """An RLE8 BMP whose every pixel is its own run: two bytes of file per pixel."""
    pixels = (b"\x01\xc8" * width + b"\x00\x00") * height + b"\x00\x01"
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    header = struct.pack("<2sIHHI", b"BM", offset + len(pixels), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 0, 0, 256, 0)
    return header + info + palette + pixels
