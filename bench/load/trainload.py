"""Training under load: concept pages stay responsive while an MNIST job trains, and sessions
that ask for the same config join it.

N concept sessions (Activations and Optimizers, alternating) interact for --seconds. After
--train-delay seconds, --trainers sessions open the MNIST Train tab, set the quick preset's
values with a fresh seed (so it is not in the cache), and press Train within about a
second of each other; each then follows the live panel the way a browser does (the
fragment's auto-reruns every 0.5 s) until the final result is shown. Reported: p50/p95 of
concept interactions that finished while the job trained and after it, and whether the
trainers were served by one training (every trainer shows the same "Trained in X s"
message and training time, none says "Loaded from the cache", and the cache gained exactly
one entry).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass, field

from measure import Recorder, percentile, print_phase, run_phase
from scenarios import SCENARIOS
from stclient import Session

QUICK = {"mnist_w_epochs": 2, "mnist_w_train_size": 12_000, "mnist_w_validation_size": 2_000}


@dataclass
class Trainer:
    """What one training session saw."""

    clicked_at: float = 0.0
    finished_at: float = 0.0
    polls: int = 0
    outcome: list[str] = field(default_factory=list)
    error: str = ""


async def _train(url: str, seed: int, delay: float, limit: float) -> Trainer:
    trainer, session = Trainer(), Session(url, timeout=120)
    try:
        await session.connect()
        await session.open_page("mnist", "mnist_tab=Train")
        for key, value in {**QUICK, "mnist_w_seed": seed}.items():
            await session.set(key, value)
        await asyncio.sleep(delay)
        trainer.clicked_at = time.monotonic()
        run = await session.click("mnist_train")
        deadline = trainer.clicked_at + limit
        while session.auto_reruns and time.monotonic() < deadline:
            fragment_id, interval = next(iter(session.auto_reruns.items()))
            await asyncio.sleep(interval)
            run = await session.auto_rerun(fragment_id)
            trainer.polls += 1
        trainer.finished_at = time.monotonic()
        trainer.outcome = [t for t in run.texts if re.search(r"Trained|cache|Training time", t)]
        if run.exceptions or session.auto_reruns:
            trainer.error = "; ".join(run.exceptions) or "still training at the time limit"
    except Exception as exc:  # a failed session is a result to report
        trainer.error = f"{type(exc).__name__}: {exc}"
    finally:
        trainer.finished_at = trainer.finished_at or time.monotonic()
        await session.close()
    return trainer


def _count_entries(cache_dir) -> int:
    if cache_dir is None or not cache_dir.exists():
        return 0  # nothing trained yet: the server makes the directory on its first save
    return sum(1 for p in cache_dir.iterdir() if re.fullmatch(r"[0-9a-f]{64}", p.name))


async def run_training_under_load(server, args):
    """The mode behind --train-under-load; returns the measured phases."""
    concept = [SCENARIOS["activations"], SCENARIOS["optimizers"]]
    recorder, started = Recorder(), asyncio.Event()
    before = _count_entries(args.cache_dir)
    phase_task = asyncio.create_task(
        run_phase(
            server,
            concept,
            max(args.sessions),
            args.seconds,
            args.think,
            args.seed,
            "concept pages + training",
            recorder=recorder,
            started=started,
        )
    )
    await started.wait()
    seed = random.Random().randrange(10_000, 2**31 - 1)  # a config nobody trained before
    trainers = await asyncio.gather(
        *(_train(server.url, seed, 0.3 * i, args.seconds) for i in range(args.trainers))
    )
    phase = await phase_task
    start = min((t.clicked_at for t in trainers if t.clicked_at), default=0.0)
    end = max((t.finished_at or time.monotonic() for t in trainers), default=0.0)
    during = [s for at, s in recorder.stamped if start <= at <= end]
    after = [s for at, s in recorder.stamped if at > end]
    phase.extra.update(_training_figures(trainers, during, after, end - start))
    phase.extra["cache_entries_added"] = _count_entries(args.cache_dir) - before
    print_phase(phase)
    _print_training(phase.extra, trainers)
    return [phase]


def _training_figures(trainers, during, after, seconds) -> dict:
    outcomes = {tuple(t.outcome) for t in trainers}
    return {
        "training_seconds": round(seconds, 1),
        "during_training": {
            "n": len(during),
            "p50": percentile(during, 50),
            "p95": percentile(during, 95),
        },
        "after_training": {
            "n": len(after),
            "p50": percentile(after, 50),
            "p95": percentile(after, 95),
        },
        "trainer_outcomes": [list(o) for o in outcomes],
        "one_training": len(outcomes) == 1
        and all(any(s.startswith("Trained in") for s in t.outcome) for t in trainers)
        and not any("Loaded from the cache" in s for t in trainers for s in t.outcome),
        "trainer_errors": [t.error for t in trainers if t.error],
        "trainer_polls": [t.polls for t in trainers],
    }


def _print_training(extra: dict, trainers) -> None:
    during, after = extra["during_training"], extra["after_training"]
    print(
        f"    while training ({extra['training_seconds']} s): n={during['n']} "
        f"p50={during['p50']:.3f}s p95={during['p95']:.3f}s (target p95 <= 2 s)"
    )
    print(f"    after training: n={after['n']} p50={after['p50']:.3f}s p95={after['p95']:.3f}s")
    print(
        f"    {len(trainers)} sessions asked for the same new config: one training = "
        f"{extra['one_training']}; cache entries added = {extra['cache_entries_added']}; "
        f"polls per trainer {extra['trainer_polls']}"
    )
    for outcome in extra["trainer_outcomes"]:
        print(f"    trainer saw: {' | '.join(outcome)[:200]}")
    for error in extra["trainer_errors"]:
        print(f"    trainer error: {error}")
