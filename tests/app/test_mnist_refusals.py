"""The MNIST page refuses a hostile upload with a friendly message, and its reruns do not
decode the file again (Streamlit's cache keeps results, not exceptions; dlcore remembers
refusals)."""

from dlcore import images
from tests.app.conftest import page_test
from tests.support.hostile import scan_bomb_jpeg


def test_a_scan_bomb_is_refused_once_and_not_decoded_on_reruns(monkeypatch):
    calls = []
    real = images._prepare
    monkeypatch.setattr(images, "_prepare", lambda data: calls.append(1) or real(data))
    at = page_test("pages/mnist.py", timeout=120).run()
    at.session_state["mnist_tab"] = "Read my digit"
    at.run()
    at.file_uploader(key="mnist_upload").set_value(
        ("bomb.jpg", scan_bomb_jpeg(500, size=4000), "image/jpeg")
    )
    at.run()
    for _ in range(2):
        at.run()
    assert not at.exception
    assert any("cannot be read" in e.value and "progressive JPEG" in e.value for e in at.error)
    assert len(calls) == 1
