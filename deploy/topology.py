"""The several-machine topology on one machine, on 127.0.0.1 only: Redis, Celery workers,
Streamlit replicas, and HAProxy in front of them with cookie stickiness and websockets.

    python deploy/topology.py start [--dir DIR] [--workers 2] [--replicas 2] [--port 0]
    python deploy/topology.py status [--dir DIR]
    python deploy/topology.py stop [--dir DIR]

``start`` returns once every piece answers (Redis pings, the workers answer a Celery ping,
each replica's /_stcore/health and the proxy's answer 200) and prints the proxy's URL; the
services keep running, each in a process group of its own, until ``stop``. DIR (default
/tmp/dlcore-topology) holds the state file, the logs, Redis' append-only file and, unless
DLCORE_CACHE_DIR is set, the shared model cache. Tests and benchmarks use the Topology
class directly (a context manager that stops everything it started).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STATE_FILE = "topology.json"
DEFAULT_DIR = Path("/tmp/dlcore-topology")
HEALTH_TIMEOUT = 180.0  # seconds; a replica or a worker imports TensorFlow on a busy machine
STOP_TIMEOUT = 20.0
STICKY_COOKIE = "DLCORE_REPLICA"

HAPROXY_CONFIG = """\
global
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    # A Streamlit session is one long websocket: keep it open as long as the learner does.
    timeout tunnel 8h
    option forwardfor

frontend playground
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    # Streamlit keeps each session in one process: a cookie sends a browser back to the
    # replica that served it first (uploads and media fail on another one).
    cookie {cookie} insert indirect nocache httponly
    option httpchk GET /_stcore/health
{servers}
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def missing_binaries() -> list[str]:
    """The system programs the topology needs that are not installed."""
    return [name for name in ("redis-server", "haproxy") if shutil.which(name) is None]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class Topology:
    """Redis, workers, replicas and a proxy on 127.0.0.1, with their state in ``root``."""

    root: Path = DEFAULT_DIR
    workers: int = 2
    replicas: int = 2
    proxy_port: int = 0
    redis_port: int = 0
    replica_ports: list[int] = field(default_factory=list)
    cache_dir: str = ""
    settings: dict[str, str] = field(default_factory=dict)  # more DLCORE_* for every service
    pids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._processes: dict[str, subprocess.Popen] = {}  # those this object started

    # --------------------------------------------------------------- addresses and env

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def url(self) -> str:
        """The proxy: what learners open."""
        return f"http://127.0.0.1:{self.proxy_port}"

    def replica_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.replica_ports]

    def env(self) -> dict[str, str]:
        """The environment every replica and worker shares (and a client needs)."""
        return {
            **os.environ,
            "DLCORE_BROKER_URL": self.broker_url,
            "DLCORE_CACHE_DIR": self.cache_dir,
            "PYTHONUNBUFFERED": "1",
            **self.settings,
        }

    # --------------------------------------------------------------- starting

    def start(self) -> Topology:
        """Start every service and wait until each answers; stops them all on failure."""
        if missing := missing_binaries():
            raise RuntimeError(f"not installed: {', '.join(missing)} (apt-get install them)")
        self.root = Path(self.root)
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        self.cache_dir = (
            self.cache_dir or os.environ.get("DLCORE_CACHE_DIR") or str(self.root / "cache")
        )
        self.redis_port = self.redis_port or free_port()
        self.proxy_port = self.proxy_port or free_port()
        self.replica_ports = [free_port() for _ in range(self.replicas)]
        try:
            self.start_redis()
            for number in range(1, self.workers + 1):
                self.start_worker(number)
            # One cookie secret for every replica (Streamlit refuses it as a flag).
            secret = {"STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(16)}
            for number, port in enumerate(self.replica_ports, start=1):
                self._spawn(f"app{number}", self._replica_command(port), secret)
            if self.replicas:  # none: a training service only (benchmarks of the workers)
                config = str(self._write_haproxy_config())
                self._spawn("haproxy", ["haproxy", "-db", "-f", config])
            self._save()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def start_redis(self) -> None:
        """Start (or restart, on the same port and data) Redis with an append-only file,
        so the queue and the registry survive a restart."""
        data = self.root / "redis"
        data.mkdir(parents=True, exist_ok=True)
        command = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        command += ["--dir", str(data), "--appendonly", "yes", "--save", ""]
        self._spawn("redis", command)
        self._wait(lambda: self._redis_answers(), "redis")
        self._save()

    def start_worker(self, number: int) -> None:
        """Start ``python -m dlcore worker`` named w<number>."""
        command = [sys.executable, "-m", "dlcore", "worker", f"--name=w{number}@127.0.0.1"]
        self._spawn(f"worker{number}", command)

    def _replica_command(self, port: int) -> list[str]:
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true"]
        command += [f"--server.port={port}", "--server.address=127.0.0.1"]
        return [*command, "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]

    def _write_haproxy_config(self) -> Path:
        servers = "\n".join(
            f"    server app{n} 127.0.0.1:{port} check cookie app{n}"
            for n, port in enumerate(self.replica_ports, start=1)
        )
        path = self.root / "haproxy.cfg"
        text = HAPROXY_CONFIG.format(port=self.proxy_port, cookie=STICKY_COOKIE, servers=servers)
        path.write_text(text)
        return path

    def _spawn(self, name: str, command: list[str], extra_env: dict | None = None) -> None:
        log = open(self.root / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=self.env() | (extra_env or {}),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop ends its children too
        )
        log.close()
        self.pids[name] = process.pid
        self._processes[name] = process

    # --------------------------------------------------------------- readiness

    def wait_ready(self) -> None:
        """Wait until the workers answer a ping and every replica and the proxy are healthy."""
        for url in [*self.replica_urls(), *([self.url] if self.replicas else [])]:
            self._wait(lambda url=url: _answers(f"{url}/_stcore/health"), url)
        self._wait(lambda: len(self.answering_workers()) >= self.workers, "the workers")

    def answering_workers(self) -> list[str]:
        """Names of the workers that answer a Celery ping."""
        probe = (
            "from dlcore import celery_jobs; import json; "
            "print(json.dumps(celery_jobs.workers(timeout=1.0)))"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        return json.loads(done.stdout) if done.returncode == 0 and done.stdout else []

    def _redis_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while not ready():
            dead = [name for name, pid in self.pids.items() if not _alive(pid)]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited; see {self.root / 'logs'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer within {HEALTH_TIMEOUT:.0f} s")
            time.sleep(0.5)

    # --------------------------------------------------------------- stopping

    def stop_service(self, name: str) -> None:
        """Stop one service: SIGTERM to its process (a worker finishes its training first),
        then SIGKILL to its whole process group after STOP_TIMEOUT."""
        pid = self.pids.pop(name, None)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(pid, signal.SIGKILL)
        process = self._processes.pop(name, None)
        if process is not None:
            process.wait(STOP_TIMEOUT)
        self._save()

    def stop(self) -> None:
        """Stop everything this topology started: proxy, replicas, workers, then Redis."""
        order = sorted(
            self.pids,
            key=lambda name: ("haproxy", "app", "worker", "redis").index(name.rstrip("0123456789")),
        )
        for name in order:
            self.stop_service(name)

    def __enter__(self) -> Topology:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --------------------------------------------------------------- the state file

    def _save(self) -> None:
        state = asdict(self) | {"root": str(self.root)}
        (Path(self.root) / STATE_FILE).write_text(json.dumps(state, indent=1))

    @classmethod
    def load(cls, root: Path) -> Topology:
        state = json.loads((Path(root) / STATE_FILE).read_text())
        return cls(**(state | {"root": Path(state["root"])}))


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:  # not our child (another invocation started it)
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pid, sig)  # each service leads its own group (start_new_session)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("start", "status", "stop"))
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state, logs and data")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--port", type=int, default=0, help="the proxy's port (0: a free one)")
    args = parser.parse_args(argv)
    if args.action == "start":
        topology = Topology(args.dir, args.workers, args.replicas, proxy_port=args.port).start()
        print(f"Deep Learning Playground: {topology.url}")
        print(f"replicas {', '.join(topology.replica_urls())}; broker {topology.broker_url}")
        print(f"workers: {', '.join(topology.answering_workers())}; logs in {args.dir / 'logs'}")
        return 0
    if not (args.dir / STATE_FILE).exists():
        print(f"no topology in {args.dir}")
        return 1
    topology = Topology.load(args.dir)
    if args.action == "stop":
        topology.stop()
        print("stopped")
        return 0
    for name, pid in topology.pids.items():
        print(f"{name:<9} pid {pid:<8} {'running' if _alive(pid) else 'gone'}")
    healthy = _answers(topology.url + "/_stcore/health")
    print(f"proxy {topology.url}: {'healthy' if healthy else 'down'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
