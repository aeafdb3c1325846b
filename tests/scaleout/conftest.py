"""The scale-out tests: the deploy/ topology (Redis, two Celery workers, two app replicas,
HAProxy) started once for the module on free loopback ports, and stopped after it.

Every test here is marked ``scaleout`` (select them with ``-m scaleout``, leave them out
with ``-m "not scaleout"``); they are skipped, with the reason, only when redis-server or
haproxy is not installed (CI installs both).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dlcore import cache

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "deploy"))

from topology import Topology, missing_binaries  # noqa: E402

LEASE_SECONDS = "4"  # a dead training's lease frees itself this fast here (30 s by default)


def pytest_collection_modifyitems(items):
    missing = missing_binaries()
    skip = pytest.mark.skip(reason=f"not installed: {', '.join(missing)}") if missing else None
    for item in items:
        if "tests/scaleout" in str(item.fspath):
            item.add_marker(pytest.mark.scaleout)
            if skip:
                item.add_marker(skip)


@pytest.fixture(scope="package")
def topology(tmp_path_factory):
    """The whole topology, started once for these tests; stopped (all of it) after them."""
    root = tmp_path_factory.mktemp("topology")
    settings = {"DLCORE_LEASE_SECONDS": LEASE_SECONDS}
    with Topology(root, workers=2, replicas=2, settings=settings) as started:
        yield started


@pytest.fixture
def client(topology, monkeypatch):
    """This test process as one more client of the topology (as a replica is)."""
    monkeypatch.setenv("DLCORE_BROKER_URL", topology.broker_url)
    monkeypatch.setenv("DLCORE_CACHE_DIR", topology.cache_dir)
    cache._forget()
    yield topology
    cache._forget()
