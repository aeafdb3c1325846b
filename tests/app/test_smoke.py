"""Every page the navigation lists renders through app.py without an exception."""

import pytest

from pages._catalog import HOME, listed_lessons
from tests.app.conftest import page_test


@pytest.mark.parametrize("path", [HOME.path] + [p.path for p in listed_lessons()])
def test_page_renders_through_the_app(path):
    at = page_test("app.py", timeout=180).run()
    assert not at.exception
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{path} shows no title"
    sidebar_text = " ".join(c.value for c in at.caption)
    assert "Cached trained models" in sidebar_text
