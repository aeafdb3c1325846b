"""Fixtures shared by the unit tests."""

import pytest

from dlcore import cache


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty cache directory of its own (DLCORE_CACHE_DIR) and an empty in-process memo."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("DLCORE_CACHE_DIR", str(directory))
    cache._forget()
    yield directory
    cache._forget()
