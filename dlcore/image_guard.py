"""Refuse uploads whose decoding would cost far more than their size suggests.

A few kilobytes can ask a decoder for seconds of CPU or hundreds of megabytes: a
progressive JPEG that repeats one tiny scan thousands of times makes the decoder pass over
every block of the picture each time; a PNG, GIF or JPEG header made of millions of empty
chunks, blocks or segments keeps Pillow's Python parsers busy; an RLE-compressed BMP is
expanded by a Python loop; and formats that Pillow cannot decode at a reduced size (PNG,
WebP, BMP, GIF) need their full picture in memory. The checks here read only the file's
structure, in time linear in its size and with a cap on the pieces walked, so that a
hostile upload is refused in milliseconds, before Pillow parses or decodes it.

Only the standard library is used. The checks look at structure, not validity: a damaged
file that passes them is left to Pillow, which reports the damage.

Example:
    >>> check_structure(b"\\x89PNG\\r\\n\\x1a\\n")  # a bare PNG signature: nothing to refuse
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from dlcore import readable
from dlcore.arithmetic import ceil_div
from dlcore.errors import InvalidImage
from dlcore.i18n import N_, Message

# --- limits, each with the measurement behind it (2 shared vCPUs, Pillow 13) -----------------

# A progressive JPEG from libjpeg, mozjpeg or a phone has about 10 scans; more than 100 is
# not a photo. Each scan costs a pass over every block of its components, about 40 ns per
# block at worst (an AC refinement scan of a flat picture), so the blocks all scans visit
# are capped too: 10 million (about 0.4 s) fits a 40-megapixel progressive photo's 5
# million.
MAX_SCANS = 100
MAX_SCAN_BLOCKS = 10_000_000
# A JPEG has a few dozen segments (tables, EXIF, ICC chunks, one per scan); Pillow parses
# the header's segments in Python, about 2 us each: 10 MB of empty segments cost 2.6-4.6 s.
MAX_JPEG_SEGMENTS = 1_000
# Pillow also steps through junk and fill bytes before the first scan one byte at a time.
MAX_JPEG_HEADER_JUNK = 65_536
# A PNG written by libpng in 8 KB IDAT chunks has about 1,300 chunks in 10 MB; 800,000 empty
# chunks cost Pillow 2.6 s.
MAX_PNG_CHUNKS = 20_000
# A GIF frame of 10 MB is about 40,000 data sub-blocks of 255 bytes; Pillow skips the first
# frame's sub-blocks in Python to see whether a second frame follows (1 us each), and keeps
# every comment sub-block in a list (2 million of them: 1.2 s and 350 MB).
MAX_GIF_PIECES = 100_000
# Pillow skips bytes that start no GIF block one at a time, in Python.
MAX_GIF_JUNK = 65_536
# Pillow expands RLE-compressed BMPs in Python, about 0.15 us per byte of the file: 2 MB is
# 0.3 s; a digit saved with RLE takes a few kilobytes.
MAX_RLE_BMP_BYTES = 2_000_000
# Memory that decoding one upload may take: the target is 200 MB per upload, and the rest
# of the pipeline works on a copy of at most 512 px a side (a few MB).
DECODE_BUDGET_BYTES = 150_000_000
# Bytes per pixel of a fully decoded picture: Pillow stores "1", "L" and "P" in one byte,
# 16-bit gray in two and everything else in four; its WebP decoder keeps the canvas of
# libwebp, a copy as bytes and the image itself (a 40-megapixel WebP took 631 MB).
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2}
_WEBP_BYTES_PER_PIXEL = 16
# JPEG decodes at 1/2, 1/4 or 1/8 of its size (draft), so only a progressive JPEG's
# coefficient buffer grows with the picture: 64 coefficients of 2 bytes per 8x8 block.
_COEFFICIENT_BYTES_PER_BLOCK = 128

_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG, DAC are not
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn carry no length
# A marker is 0xFF and a code that is neither 0x00 (a stuffed byte) nor 0xFF (fill before
# the marker). One 0xFF in the pattern, not a run: a run would be rescanned from every
# position of a long run of 0xFF bytes.
_MARKER = re.compile(rb"\xff([^\x00\xff])")
# Inside entropy-coded data RSTn markers restart the coding and do not end the scan.
_END_OF_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# Bytes that start no GIF block (extension "!", picture ",", trailer ";").
_GIF_JUNK = re.compile(rb"[^!,;]+")

TOO_COMPLEX = N_(
    "This {kind} is built from {count} separate pieces, where an ordinary image has a few "
    "dozen; reading it would tie up the server, so it was refused. "
    "Please save the picture again as an ordinary JPEG or PNG."
)
TOO_MANY_SCANS = N_(
    "This progressive JPEG makes the decoder go over its {megapixels}-megapixel picture "
    "{count} times, where an ordinary one needs about 10; reading it would tie up the "
    "server, so it was refused. Please save the picture again as an ordinary JPEG or PNG."
)
TOO_MUCH_MEMORY = N_(
    "The image is {width}x{height} pixels; reading a {kind} this large would take about "
    "{megabytes} MB of memory (the limit is {limit} MB). "
    "Please upload a smaller picture, or a JPEG."
)
RLE_TOO_LARGE = N_(
    "This compressed (RLE) BMP is {megabytes} MB; the limit for such files is "
    "{limit} MB. Please save the picture again as PNG or JPEG."
)
PICTURE = N_("picture")
PROGRESSIVE_JPEG = N_("progressive JPEG")


def check_structure(data: bytes) -> None:
    """Refuse a file whose structure would make decoding far slower than its size suggests.

    Args:
        data: The uploaded file's bytes, before Pillow has seen them.

    Raises:
        InvalidImage: The file holds too many pieces (segments, scans, chunks, blocks) or
            is an RLE-compressed BMP too large to expand quickly; the message says so.
    """
    if data[:3] == b"\xff\xd8\xff":
        _check_jpeg(data)
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        _check_png(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        _check_gif(data)
    elif data[:2] == b"BM":
        _check_bmp(data)


def check_decoded_size(image_format: str | None, mode: str, size: tuple[int, int]) -> None:
    """Refuse a picture whose full decoding would take more memory than the budget.

    JPEG is not checked here: it is decoded at a reduced size, and its progressive
    coefficient buffer is checked from the file's structure by `check_structure`.

    Args:
        image_format: Pillow's format name ("PNG", "WEBP", ...).
        mode: Pillow's mode of the opened image ("RGBA", "L", ...).
        size: (width, height) in pixels.

    Raises:
        InvalidImage: The decoded picture would not fit the memory budget.
    """
    if image_format in ("JPEG", "MPO"):
        return
    width, height = size
    per_pixel = _WEBP_BYTES_PER_PIXEL if image_format == "WEBP" else _BYTES_PER_PIXEL.get(mode, 4)
    needed = width * height * per_pixel
    if needed > DECODE_BUDGET_BYTES:
        raise InvalidImage(
            _too_much_memory(width, height, image_format or Message(PICTURE), needed)
        )


# --- JPEG ------------------------------------------------------------------------------------


@dataclass
class _JpegWalk:
    """What the walk over a JPEG's segments has counted so far."""

    segments: int = 0
    scans: int = 0
    scan_blocks: int = 0
    header_junk: int = 0
    pixels: int = 0  # width x height, from the frame header
    blocks: dict[int, int] | None = None  # component id -> 8x8 blocks, from the frame header


def _check_jpeg(data: bytes) -> None:
    """Walk the JPEG's segments and scans, refusing as soon as a count passes its cap."""
    walk, position = _JpegWalk(), 2  # after SOI
    while (found := _MARKER.search(data, position)) is not None:
        if walk.scans == 0:
            walk.header_junk += found.start() - position
        marker, position = found.group(1)[0], found.end()
        walk.segments += 1
        _check_jpeg_counts(data, walk)
        if marker == 0xD9:  # EOI: what follows is not decoded (an MPO's other pictures)
            break
        if marker in _STANDALONE or position + 2 > len(data):
            continue
        end = position + struct.unpack_from(">H", data, position)[0]
        if marker in _SOF_MARKERS:
            _read_frame(data[position + 2 : end], marker, walk)
        elif marker == 0xDA:
            _count_scan(data[position + 2 : end], walk)
            scan_end = _END_OF_SCAN.search(data, end)
            end = scan_end.start() if scan_end else len(data)
        position = end
    _check_jpeg_counts(data, walk)


def _read_frame(header: bytes, marker: int, walk: _JpegWalk) -> None:
    """Read the frame header (SOFn): the 8x8 blocks of each component; check the memory.

    Each component is sampled at H/Hmax x V/Vmax of the picture and covers whole blocks.
    """
    if len(header) < 6:
        return
    height, width, count = struct.unpack_from(">HHB", header, 1)
    walk.pixels = width * height
    components = [
        (header[i], header[i + 1] >> 4, header[i + 1] & 15)
        for i in range(6, min(len(header) - 2, 6 + 3 * count), 3)
    ]
    h_max = max((h for _, h, _ in components), default=1) or 1
    v_max = max((v for _, _, v in components), default=1) or 1
    walk.blocks = {
        ident: _blocks(width * h, h_max) * _blocks(height * v, v_max) for ident, h, v in components
    }
    if marker in _PROGRESSIVE_SOF:
        needed = sum(walk.blocks.values()) * _COEFFICIENT_BYTES_PER_BLOCK
        if needed > DECODE_BUDGET_BYTES:
            raise InvalidImage(_too_much_memory(width, height, Message(PROGRESSIVE_JPEG), needed))


def _blocks(scaled: int, maximum: int) -> int:
    """8x8 blocks along one side of a component sampled at (scaled / maximum) pixels."""
    pixels = ceil_div(scaled, maximum)
    return ceil_div(pixels, 8)


def _count_scan(header: bytes, walk: _JpegWalk) -> None:
    """Count one scan (SOS) and the blocks of the components it passes over."""
    walk.scans += 1
    if walk.blocks and header:
        idents = header[1 : 1 + 2 * header[0] : 2]
        walk.scan_blocks += sum(walk.blocks.get(ident, 0) for ident in idents)


def _check_jpeg_counts(data: bytes, walk: _JpegWalk) -> None:
    """Refuse the JPEG once any of its counts passes its cap."""
    if walk.scans > MAX_SCANS or walk.scan_blocks > MAX_SCAN_BLOCKS:
        # The walk stops here; the message counts every scan marker in the file, a quick
        # search (entropy-coded data cannot hold one: its 0xFF bytes are stuffed).
        scans = max(walk.scans, data.count(b"\xff\xda"))
        megapixels = readable.number(walk.pixels / 1e6, 2)
        raise InvalidImage(
            Message(TOO_MANY_SCANS, count=readable.grouped(scans), megapixels=megapixels)
        )
    if walk.segments > MAX_JPEG_SEGMENTS or walk.header_junk > MAX_JPEG_HEADER_JUNK:
        pieces = walk.segments + walk.header_junk  # Pillow steps through junk byte by byte
        raise InvalidImage(_too_complex("JPEG", pieces))


# --- PNG, GIF, BMP ---------------------------------------------------------------------------


def _check_png(data: bytes) -> None:
    """Count the PNG's chunks (length, type, data, CRC each) up to IEND."""
    position, chunks = 8, 0
    while position + 8 <= len(data):
        length = struct.unpack_from(">I", data, position)[0]
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise InvalidImage(_too_complex("PNG", chunks))
        if data[position + 4 : position + 8] == b"IEND":
            return
        position += 12 + length


def _check_gif(data: bytes) -> None:
    """Count the GIF's blocks and data sub-blocks up to its second picture.

    Pillow reads that far: the first picture, then the start of the second to tell whether
    the GIF is animated. Every extension and picture is followed by sub-blocks, each a
    length byte and that many bytes, ending with a zero length. Bytes that start no block
    are skipped, as Pillow does, and counted.
    """
    flags = data[10] if len(data) > 10 else 0
    position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # global color table
    pieces = pictures = junk = 0
    while position < len(data) and data[position] != 0x3B:  # the trailer
        if skipped := _GIF_JUNK.match(data, position):
            junk += skipped.end() - position
            if junk > MAX_GIF_JUNK:
                raise InvalidImage(_too_complex("GIF", junk))
            position = skipped.end()
            continue
        if data[position] == 0x2C:
            pictures += 1
            if pictures == 2:
                return
            local = data[position + 9] if position + 9 < len(data) else 0
            position += 11 + (3 << ((local & 7) + 1) if local & 0x80 else 0)  # + LZW size
        else:
            position += 2  # introducer and label
        while position < len(data):
            pieces += 1
            if pieces > MAX_GIF_PIECES:
                raise InvalidImage(_too_complex("GIF", pieces))
            length = data[position]
            position += 1 + length
            if length == 0:
                break


def _check_bmp(data: bytes) -> None:
    """Refuse an RLE-compressed BMP too large for Pillow's Python decoder to expand quickly."""
    if len(data) < 34 or struct.unpack_from("<I", data, 14)[0] < 40:
        return  # no compression field (an OS/2 header), or too short to be a BMP
    compression = struct.unpack_from("<I", data, 30)[0]
    if compression in (1, 2) and len(data) > MAX_RLE_BMP_BYTES:  # BI_RLE8, BI_RLE4
        raise InvalidImage(
            Message(
                RLE_TOO_LARGE,
                megabytes=readable.number(len(data) / 1e6, 2),
                limit=readable.number(MAX_RLE_BMP_BYTES / 1e6),
            )
        )


def _too_complex(kind: str, pieces: int) -> Message:
    return Message(TOO_COMPLEX, kind=kind, count=readable.grouped(pieces))


def _too_much_memory(width: int, height: int, kind: str | Message, needed: int) -> Message:
    return Message(
        TOO_MUCH_MEMORY,
        width=width,
        height=height,
        kind=kind,
        megabytes=readable.grouped(needed / 1e6),
        limit=readable.number(DECODE_BUDGET_BYTES / 1e6),
    )
