"""A real `streamlit run` on a free loopback port, for the browser tests and the benchmarks.

start_streamlit launches it, wait_healthy waits until /_stcore/health answers (or the server
dies), stop_process ends it; running_streamlit does all three around a `with` block, and
running_app is that for app.py with a model cache of its own (the browser tests' server).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether the Streamlit server at `url` answers its health check with 200 (ready)."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:  # refused, reset, timed out, or an HTTP error status while starting
        return False


def wait_healthy(
    url: str, proc: subprocess.Popen, timeout: float = 60.0, poll: float = 0.3
) -> None:
    """Return once `url` is healthy; RuntimeError if `proc` exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        if is_healthy(url):
            return
        if time.monotonic() >= deadline:
            raise RuntimeError("streamlit did not become healthy in time")
        time.sleep(poll)


def start_streamlit(
    script: str = "app.py",
    *,
    env: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
    stdout: int | IO | None = subprocess.DEVNULL,
    cwd: Path = REPO,
) -> tuple[subprocess.Popen, str]:
    """Launch `streamlit run script` headless on a free 127.0.0.1 port; returns (proc, url).

    `env` is added to this process's environment; `options` are more `--section.key=value`
    flags; stdout and stderr both go to `stdout` (a file, or DEVNULL).
    """
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", script, "--server.headless=true"]
    command += [f"--server.port={port}", "--server.address=127.0.0.1", *options]
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=stdout,
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}"


def stop_process(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Terminate `proc`, and kill it if it has not exited within `timeout` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def running_streamlit(
    script: str = "app.py",
    *,
    log_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
    health_timeout: float = 60.0,
) -> Iterator[str]:
    """A healthy `streamlit run script` for the `with` block (output to `log_path`); its URL."""
    with open(log_path or os.devnull, "w") as log:
        proc, url = start_streamlit(script, env=env, options=options, stdout=log)
        try:
            wait_healthy(url, proc, timeout=health_timeout)
            yield url
        finally:
            stop_process(proc)


def running_app(cache_dir: Path, log_path: Path):
    """`streamlit run app.py` on a free port with its own model cache; yields its URL."""
    env = {"DLCORE_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}
    options = ["--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]
    return running_streamlit("app.py", log_path=log_path, env=env, options=options)
