"""Every page the navigation lists renders through app.py without an exception."""

import pytest

from tests.app.conftest import page_test
from ui.catalog import HOME, listed_lessons


def test_app_shell_shows_home_and_the_sidebar_status():
    at = page_test("app.py").run()
    assert not at.exception
    assert at.title[0].value.endswith("Deep Learning Playground")
    captions = " ".join(c.value for c in at.caption)
    assert "Cached trained models: **0**" in captions
    assert "Compute:" in captions


@pytest.mark.parametrize("path", [HOME.path] + [p.path for p in listed_lessons()])
def test_every_listed_page_renders(path):
    at = page_test("app.py", timeout=180).run()
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{path} shows no title"
