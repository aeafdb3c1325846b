"""The MNIST page refuses a hostile upload with a friendly message, and its reruns do not
decode the file again (Streamlit's cache keeps results, not exceptions; dlcore remembers
refusals)."""

import io
import struct

from PIL import Image

from dlcore import images
from tests.app.conftest import page_test


def _scan_bomb(repeats: int) -> bytes:
    """A flat 4000x4000 progressive JPEG with its last scan repeated before EOI."""
    buffer = io.BytesIO()
    Image.new("L", (4000, 4000), 200).save(buffer, "JPEG", progressive=True)
    data = buffer.getvalue()
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xDA]
    last_scan = data[starts[-1] : len(data) - 2]  # up to EOI
    assert struct.unpack(">H", data[-2:])[0] == 0xFFD9
    return data[:-2] + last_scan * repeats + data[-2:]


def test_a_scan_bomb_is_refused_once_and_not_decoded_on_reruns(monkeypatch):
    calls = []
    real = images._prepare
    monkeypatch.setattr(images, "_prepare", lambda data: calls.append(1) or real(data))
    at = page_test("pages/mnist.py", timeout=120).run()
    at.session_state["mnist_tab"] = "Read my digit"
    at.run()
    at.file_uploader(key="mnist_upload").set_value(("bomb.jpg", _scan_bomb(500), "image/jpeg"))
    at.run()
    for _ in range(2):
        at.run()
    assert not at.exception
    assert any("cannot be read" in e.value and "progressive JPEG" in e.value for e in at.error)
    assert len(calls) == 1
