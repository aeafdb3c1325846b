"""AppTest helpers: run a page script (by itself or through app.py) from the repo root."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]


def page_test(relative_path: str, timeout: float = 60) -> AppTest:
    """An AppTest of a script given relative to the repo root (AppTest resolves paths
    against the calling file otherwise)."""
    return AppTest.from_file(str(REPO / relative_path), default_timeout=timeout)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every page test gets its own empty model cache."""
    monkeypatch.setenv("DLCORE_CACHE_DIR", str(tmp_path / "cache"))
