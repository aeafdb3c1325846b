"""One hostile visitor uploads costly files while a class uses the concept pages.

Phase 1 measures the concept pages alone; phase 2 the same sessions while one more session
uploads, one after the other until the phase ends, the hostile files of issue 10 (a wide CSV
of 50,000 and of 200,000 columns and a CSV of ±1e308 prices on Regression; a progressive-JPEG
scan bomb and salt-and-pepper noise on MNIST's Read-my-digit tab). Reported: the concept
pages' p95 in both phases and their ratio, and for each hostile upload how long its rerun
took and what the page said (it must refuse it with a message, not a traceback).
"""

from __future__ import annotations

import asyncio
import time

from measure import Phase, Recorder, percentile, print_phase, run_phase
from scenarios import MNIST_TAB, SCENARIOS
from stclient import Session

from tests.support import hostile as uploads

CONCEPT = ("activations", "optimizers")


def _payloads() -> list[tuple[str, str, str, bytes, str]]:
    """(label, page, uploader key, bytes, mime) of each hostile upload, made once."""
    return [
        ("csv 50,000 columns", "regression", "reg_csv", uploads.wide_csv(50_000), "text/csv"),
        ("csv 200,000 columns", "regression", "reg_csv", uploads.wide_csv(200_000), "text/csv"),
        ("csv ±1e308 prices", "regression", "reg_csv", uploads.overflow_csv(), "text/csv"),
        ("jpeg scan bomb x1000", "mnist", "mnist_upload", uploads.scan_bomb_jpeg(), "image/jpeg"),
        ("png 3 % noise", "mnist", "mnist_upload", uploads.salt_and_pepper_png(0.03), "image/png"),
    ]


async def _attacker(server, started: asyncio.Event, seconds: float, report: dict) -> None:
    """Upload the hostile files in turn, each into a fresh rerun, until the phase ends."""
    payloads = _payloads()
    sessions = {
        "regression": Session(server.url, timeout=600),
        "mnist": Session(server.url, timeout=600),
    }
    for session in sessions.values():
        await session.connect()
    await sessions["regression"].open_page("regression")
    await sessions["regression"].set("reg_source", "My CSV file")
    await sessions["mnist"].open_page("mnist", f"mnist_tab={MNIST_TAB.replace(' ', '+')}")
    await started.wait()
    deadline, turn = time.monotonic() + seconds, 0
    try:
        while time.monotonic() < deadline:
            label, page, key, payload, mime = payloads[turn % len(payloads)]
            name = f"upload-{turn}.{'csv' if page == 'regression' else mime.split('/')[1]}"
            run = await sessions[page].upload(key, name, payload, mime)
            row = report.setdefault(label, {"seconds": [], "said": set(), "tracebacks": 0})
            row["seconds"].append(run.seconds)
            row["said"].update(alert[:90] for alert in run.error_alerts)
            row["tracebacks"] += len(run.exceptions)
            turn += 1
            await asyncio.sleep(0.5)
    finally:
        for session in sessions.values():
            await session.close()


async def hostile_phases(server, args) -> list[Phase]:
    """The concept pages alone, then with the hostile visitor; prints the comparison."""
    scenarios = [SCENARIOS[name] for name in CONCEPT]
    count = max(args.sessions)
    alone = await run_phase(server, scenarios, count, args.seconds, args.think, args.seed, "alone")
    print_phase(alone)
    started, report = asyncio.Event(), {}
    attack = asyncio.create_task(_attacker(server, started, args.seconds, report))
    loaded = await run_phase(
        server,
        scenarios,
        count,
        args.seconds,
        args.think,
        args.seed + 1,
        "with hostile uploads",
        recorder=Recorder(),
        started=started,
    )
    await attack
    print_phase(loaded)
    print(
        f"concept pages p95: alone {alone.p95:.3f} s, with hostile uploads {loaded.p95:.3f} s "
        f"(x{loaded.p95 / alone.p95:.2f}; target <= 1.5 s)"
    )
    for label, row in report.items():
        seconds = row["seconds"]
        said = " | ".join(sorted(row["said"])) or "no error shown"
        print(
            f"  {label:<22} uploads={len(seconds):>3} rerun p50={percentile(seconds, 50):.2f}s "
            f"max={max(seconds):.2f}s tracebacks={row['tracebacks']}  page said: {said}"
        )
    loaded.extra["hostile"] = {
        label: {**row, "said": sorted(row["said"])} for label, row in report.items()
    }
    return [alone, loaded]
