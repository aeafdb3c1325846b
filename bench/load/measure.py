"""Timed phases: N sessions open a page, then interact until a deadline; the figures.

A phase reports p50/p95/max seconds from sending an interaction to its finished rerun,
session errors, the server's CPU seconds per rerun (psutil, user + system) and its RSS.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field

import psutil
from scenarios import Scenario
from stclient import Run, Session

MAX_SESSIONS = 50
MAX_PHASE_SECONDS = 900


# ---------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------


@dataclass
class Phase:
    """The figures of one timed phase."""

    label: str
    sessions: int
    seconds: float
    interactions: int = 0
    p50: float = float("nan")
    p95: float = float("nan")
    max: float = float("nan")
    open_p50: float = float("nan")
    open_p95: float = float("nan")
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    server_cpu_seconds: float = 0.0
    cpu_per_rerun: float = float("nan")
    server_cpu_share: float = float("nan")
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_peak_mb: float = 0.0
    client_cpu_seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


class Recorder:
    """Collects interaction latencies and errors during a phase."""

    def __init__(self):
        self.latencies: list[float] = []
        self.opens: list[float] = []
        self.errors: list[str] = []
        self.by_label: dict[str, list[float]] = {}
        self.stamped: list[tuple[float, float]] = []  # (monotonic time finished, seconds)
        self.replicas: dict[str, int] = {}  # sessions per replica behind a sticky proxy

    def add(self, run: Run, label: str = "") -> None:
        if run.ok:
            self.latencies.append(run.seconds)
            self.stamped.append((time.monotonic(), run.seconds))
            self.by_label.setdefault(label, []).append(run.seconds)
        else:
            detail = "; ".join(run.exceptions) or run.status
            self.errors.append(f"{label}: {detail}"[:300])

    def fail(self, label: str, exc: BaseException) -> None:
        self.errors.append(f"{label}: {type(exc).__name__}: {exc}"[:300])


async def _sample_rss(server, samples: list[tuple[float, float]], every: float) -> None:
    start = time.monotonic()
    while True:
        samples.append((time.monotonic() - start, server.rss_mb()))
        await asyncio.sleep(every)


async def _learner(
    scenario: Scenario,
    server,
    rng: random.Random,
    recorder: Recorder,
    opened: asyncio.Barrier,
    until: list[float],
    think: tuple[float, float],
) -> None:
    """One session: open the page, wait for everyone, then interact until the deadline."""
    session = Session(server.url)
    ready = False
    try:
        await asyncio.sleep(rng.uniform(0, 1.0))  # a class does not click in lockstep
        await session.connect()
        if session.replica:
            recorder.replicas[session.replica] = recorder.replicas.get(session.replica, 0) + 1
        run = await scenario.open(session, rng)
        recorder.opens.append(run.seconds)
        if not run.ok:
            recorder.add(run, f"{scenario.name} (opening)")
        ready = True
        await opened.wait()
        while time.monotonic() < until[0]:
            await asyncio.sleep(rng.uniform(*think))
            recorder.add(await scenario.step(session, rng), scenario.name)
    except Exception as exc:  # a session error is a result, not a crash of the generator
        recorder.fail(scenario.name, exc)
        if not ready:
            await opened.wait()
    finally:
        await session.close()


async def run_phase(
    server,
    scenarios: list[Scenario],
    sessions: int,
    seconds: float,
    think: tuple[float, float],
    seed: int,
    label: str,
    rss_every: float = 1.0,
    recorder: Recorder | None = None,
    started: asyncio.Event | None = None,
) -> Phase:
    """Open `sessions` sessions (scenarios assigned round-robin) and measure `seconds`."""
    sessions, seconds = min(sessions, MAX_SESSIONS), min(seconds, MAX_PHASE_SECONDS)
    recorder, until = recorder or Recorder(), [float("inf")]
    opened = asyncio.Barrier(sessions + 1)
    tasks = [
        asyncio.create_task(
            _learner(
                scenarios[i % len(scenarios)],
                server,
                random.Random(seed * 1000 + i),
                recorder,
                opened,
                until,
                think,
            )
        )
        for i in range(sessions)
    ]
    await asyncio.wait_for(opened.wait(), timeout=600)
    samples: list[tuple[float, float]] = []
    sampler = asyncio.create_task(_sample_rss(server, samples, rss_every))
    cpu0, client0, wall0 = server.cpu_seconds(), _client_cpu(), time.monotonic()
    until[0] = wall0 + seconds
    if started is not None:
        started.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 300)
    wall = time.monotonic() - wall0
    cpu, client = server.cpu_seconds() - cpu0, _client_cpu() - client0
    sampler.cancel()
    return _phase(label, sessions, wall, recorder, cpu, client, samples)


def _client_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def _phase(label, sessions, wall, recorder: Recorder, cpu, client, samples) -> Phase:
    lat = recorder.latencies
    rss = [mb for _, mb in samples] or [0.0]
    phase = Phase(label=label, sessions=sessions, seconds=round(wall, 1))
    phase.interactions = len(lat)
    phase.p50, phase.p95, phase.max = percentile(lat, 50), percentile(lat, 95), max(lat or [0])
    phase.open_p50, phase.open_p95 = (
        percentile(recorder.opens, 50),
        percentile(recorder.opens, 95),
    )
    phase.errors, phase.error_samples = len(recorder.errors), recorder.errors[:5]
    phase.server_cpu_seconds = round(cpu, 2)
    phase.cpu_per_rerun = cpu / len(lat) if lat else float("nan")
    phase.server_cpu_share = cpu / wall if wall else float("nan")
    phase.rss_start_mb, phase.rss_end_mb, phase.rss_peak_mb = rss[0], rss[-1], max(rss)
    phase.client_cpu_seconds = round(client, 2)
    if len(recorder.by_label) > 1:
        phase.extra["by_scenario"] = {
            name: {"n": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95)}
            for name, v in recorder.by_label.items()
        }
    phase.extra["rss_samples"] = [(round(t, 1), round(mb, 1)) for t, mb in samples]
    if recorder.replicas:
        phase.extra["sessions_per_replica"] = dict(sorted(recorder.replicas.items()))
    return phase


def print_phase(phase: Phase) -> None:
    print(
        f"{phase.label:<24} n={phase.sessions:>2}  reruns={phase.interactions:>5}  "
        f"p50={phase.p50:6.3f}s  p95={phase.p95:6.3f}s  max={phase.max:6.2f}s  "
        f"errors={phase.errors}  server CPU/rerun={phase.cpu_per_rerun * 1000:6.0f} ms  "
        f"server CPU={phase.server_cpu_share:4.0%}  RSS {phase.rss_start_mb:.0f}->"
        f"{phase.rss_end_mb:.0f} MB (peak {phase.rss_peak_mb:.0f})  "
        f"open p50/p95={phase.open_p50:.2f}/{phase.open_p95:.2f}s  "
        f"client CPU={phase.client_cpu_seconds:.0f}s",
        flush=True,
    )
    for sample in phase.error_samples:
        print(f"    error: {sample}", flush=True)
    for name, row in phase.extra.get("by_scenario", {}).items():
        print(f"    {name:<12} n={row['n']:>5} p50={row['p50']:.3f}s p95={row['p95']:.3f}s")
    if spread := phase.extra.get("sessions_per_replica"):
        print("    sessions per replica: " + ", ".join(f"{k} {v}" for k, v in spread.items()))
