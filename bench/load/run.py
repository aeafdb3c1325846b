"""Load generator: N concurrent simulated learners against `streamlit run app.py` on loopback.

Each session is one browser tab speaking Streamlit's websocket protocol (stclient.py): it
opens a page, then changes a control again and again (scenarios.py) with a think time
between interactions. All sessions open their page first; then the timed phase starts for
every session at once and lasts --seconds. Reported per phase: p50/p95/max seconds from
sending an interaction to its finished rerun, session errors (tracebacks, failed runs,
disconnects, timeouts), the server's CPU seconds per rerun and its memory (RSS).

Everything is bounded: at most 50 sessions, 15 minutes per phase, --max-seconds in all;
the target must be a loopback address.

Examples (from the repository root):
  python bench/load/run.py --start --scenarios activations,optimizers,mnist --sessions 1,10,25
  python bench/load/run.py --url http://127.0.0.1:8501 --scenarios activations --sessions 10
  python bench/load/run.py --start --soak 300 --sessions 25
  python bench/load/run.py --start --train-under-load --sessions 10
  python bench/load/run.py --start --hostile --sessions 10 --seconds 60
  python bench/load/run.py --topology --scenarios activations,optimizers,mnist --sessions 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO)]

from measure import MAX_SESSIONS, Phase, print_phase, run_phase  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402
from stclient import Session  # noqa: E402

from tests.support.servers import start_streamlit, stop_process, wait_healthy  # noqa: E402

# ---------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------


class Server:
    """A `streamlit run app.py` we started (or one already running, found by its port)."""

    def __init__(self, url: str, process: psutil.Process, popen: subprocess.Popen | None):
        self.url, self.process, self.popen = url, process, popen

    @classmethod
    def start(cls, app_dir: Path, cache_dir: Path, log_path: Path, extra_env=()) -> Server:
        env = {"DLCORE_CACHE_DIR": str(cache_dir)}
        env.update(item.split("=", 1) for item in extra_env)
        log = open(log_path, "ab")  # noqa: SIM115 - kept open for the server's lifetime
        popen, url = start_streamlit("app.py", env=env, stdout=log, cwd=app_dir)
        try:
            wait_healthy(url, popen, timeout=120, poll=0.5)
        except RuntimeError as error:
            stop_process(popen)
            raise SystemExit(f"the server did not start: {error}") from None
        return cls(url, psutil.Process(popen.pid), popen)

    @classmethod
    def attach(cls, url: str) -> Server:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return cls(url, psutil.Process(conn.pid), None)
        raise SystemExit(f"no process listens on port {port}")

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def rss_mb(self) -> float:
        return self.process.memory_info().rss / 2**20

    def stop(self) -> None:
        if self.popen is not None:
            stop_process(self.popen, timeout=30)


class Replicas:
    """The deploy/ topology (Redis, workers, replicas, HAProxy) measured as one server:
    sessions go through the proxy; CPU and RSS are the replicas' own, summed."""

    def __init__(self, workdir: Path, cache_dir: Path, replicas: int, workers: int):
        sys.path.insert(0, str(REPO / "deploy"))
        from topology import Topology

        self.topology = Topology(
            workdir / "topology", workers, replicas, cache_dir=str(cache_dir)
        ).start()
        self.url = self.topology.url
        self.replicas = [Server.attach(url) for url in self.topology.replica_urls()]

    def cpu_seconds(self) -> float:
        return sum(replica.cpu_seconds() for replica in self.replicas)

    def rss_mb(self) -> float:
        return sum(replica.rss_mb() for replica in self.replicas)

    def stop(self) -> None:
        self.topology.stop()


# ---------------------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------------------


async def matrix(server: Server, args) -> list[Phase]:
    """Each scenario alone at each session count."""
    phases = []
    for name in args.scenarios:
        for count in args.sessions:
            phase = await run_phase(
                server,
                [SCENARIOS[name]],
                count,
                args.seconds,
                args.think,
                args.seed,
                f"{name}",
            )
            print_phase(phase)
            phases.append(phase)
    return phases


async def soak(server: Server, args) -> list[Phase]:
    """One long phase with the scenarios mixed; memory sampled every 5 s."""
    scenarios = [SCENARIOS[name] for name in args.scenarios]
    count = max(args.sessions)
    phase = await run_phase(
        server, scenarios, count, args.soak, args.think, args.seed, "soak", rss_every=5.0
    )
    samples = phase.extra["rss_samples"]
    first = [mb for t, mb in samples if t <= 60] or [phase.rss_start_mb]
    last = [mb for t, mb in samples if t >= samples[-1][0] - 60] or [phase.rss_end_mb]
    growth = statistics.mean(last) / statistics.mean(first) - 1
    phase.extra["rss_first_minute_mb"] = round(statistics.mean(first), 1)
    phase.extra["rss_last_minute_mb"] = round(statistics.mean(last), 1)
    phase.extra["rss_growth"] = round(growth, 4)
    print_phase(phase)
    print(
        f"    memory: first minute {statistics.mean(first):.0f} MB, last minute "
        f"{statistics.mean(last):.0f} MB, growth {growth:+.1%} (target <= +10%)"
    )
    return [phase]


async def train_under_load(server: Server, args) -> list[Phase]:
    """Concept pages under load while sessions train the same new MNIST config."""
    from trainload import run_training_under_load

    return await run_training_under_load(server, args)


async def hostile(server: Server, args) -> list[Phase]:
    """Concept pages alone, then while one visitor uploads hostile files."""
    from hostile import hostile_phases

    return await hostile_phases(server, args)


async def warm_up(url: str, pages: list[str]) -> None:
    """Open the root URL, then each measured page once, one after the other.

    The root first: until some session has run app.py (and so st.navigation), Streamlit
    treats pages/ as a legacy multipage app. Then each page alone, as a teacher would
    before the class: the first TensorFlow import must not happen in 25 script threads at
    once (see README.md, "Cold start"); --cold skips this to reproduce that.
    """
    session = Session(url, timeout=600)
    await session.connect()
    try:
        for page in ["", *pages]:
            run = await session.open_page(page)
            print(f"warm-up: /{page} in {run.seconds:.2f} s, {len(run.exceptions)} errors")
    finally:
        await session.close()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8501")
    target.add_argument("--start", action="store_true", help="start `streamlit run app.py`")
    target.add_argument(
        "--topology",
        action="store_true",
        help="start deploy/topology.py (Redis, workers, replicas, HAProxy); load the proxy",
    )
    parser.add_argument("--replicas", type=int, default=2, help="app replicas (--topology)")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (--topology)")
    parser.add_argument("--app-dir", type=Path, default=REPO, help="where app.py is")
    parser.add_argument("--cache-dir", type=Path, help="DLCORE_CACHE_DIR for --start")
    parser.add_argument("--scenarios", default="activations,optimizers,mnist")
    parser.add_argument("--sessions", default="1,10,25", help="session counts, e.g. 1,10,25")
    parser.add_argument("--seconds", type=float, default=30, help="timed seconds per phase")
    parser.add_argument("--think", default="0.5,1.5", help="seconds between interactions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--soak", type=float, help="one mixed phase of this many seconds")
    parser.add_argument("--train-under-load", action="store_true")
    parser.add_argument("--hostile", action="store_true", help="add a hostile uploader")
    parser.add_argument("--trainers", type=int, default=3, help="sessions asking to train")
    parser.add_argument("--max-seconds", type=float, default=1800, help="hard stop")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--no-warmup", action="store_true", help="no warm-up visit at all")
    parser.add_argument("--cold", action="store_true", help="warm up with / only, no page")
    parser.add_argument(
        "--server-env", action="append", default=[], help="KEY=VALUE for the started server"
    )
    args = parser.parse_args(argv)
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; valid: {', '.join(SCENARIOS)}")
    args.sessions = [min(int(n), MAX_SESSIONS) for n in args.sessions.split(",")]
    low, high = (float(v) for v in args.think.split(","))
    args.think = (low, high)
    return args


async def main_async(args) -> list[Phase]:
    workdir = Path(tempfile.mkdtemp(prefix="dlcore-load-"))
    if args.start:
        cache_dir = args.cache_dir or workdir / "cache"
        args.cache_dir = cache_dir
        server = Server.start(args.app_dir, cache_dir, workdir / "server.log", args.server_env)
        print(f"server {server.url} pid {server.process.pid}, log {workdir / 'server.log'}")
    elif args.topology:
        args.cache_dir = args.cache_dir or workdir / "cache"
        server = Replicas(workdir, args.cache_dir, args.replicas, args.workers)
        print(f"proxy {server.url} -> {len(server.replicas)} replicas, {args.workers} workers")
        print(f"logs in {workdir / 'topology' / 'logs'}")
    else:
        server = Server.attach(args.url)
    try:
        if not args.no_warmup:
            pages = [] if args.cold else [SCENARIOS[name].page for name in args.scenarios]
            if args.train_under_load or args.hostile:
                pages = [] if args.cold else ["activations", "optimizers", "mnist"]
            # Each replica directly: through the proxy one session warms only one of them.
            replicas = getattr(server, "replicas", [server])
            for url in [replica.url for replica in replicas]:
                await warm_up(url, pages)
        if args.soak:
            mode = soak
        elif args.train_under_load:
            mode = train_under_load
        elif args.hostile:
            mode = hostile
        else:
            mode = matrix
        return await asyncio.wait_for(mode(server, args), timeout=args.max_seconds)
    finally:
        server.stop()


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    phases = asyncio.run(main_async(args))
    if args.json:
        args.json.write_text(json.dumps([asdict(phase) for phase in phases], indent=1))
    return 1 if any(phase.errors for phase in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
