"""Command line: ``python -m dlcore info | train mnist|regression | cache list|clear | worker``.

Training goes through ``dlcore.jobs`` exactly as the pages do, so the command line uses
and fills the same result cache. Progress is drawn on stderr; the summary (or, with
``--json``, one JSON object) goes to stdout. The help text is written for the terminal
(``DESCRIPTION``, ``EXAMPLES``), not taken from this docstring's markup.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import textwrap
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import dlcore
from dlcore import cache, jobs, readable, settings
from dlcore.configs import MNIST_QUICK, MnistConfig, RegressionConfig
from dlcore.errors import DlcoreError
from dlcore.job_common import public_url
from dlcore.settings import broker_url
from dlcore.states import JobState

POLL_SECONDS = 0.25
BAR_WIDTH = 24
LISTING_WIDTH = 88  # columns of `cache list`; settings wrap under themselves
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

# Shown by --help as plain text: a terminal does not render reStructuredText or Markdown.
DESCRIPTION = """\
Train the Deep Learning Playground's models from a terminal, see which device
and precision TensorFlow uses here, and look after the cache of trained models
that the app shares."""
EXAMPLES = """\
examples:
  python -m dlcore info                  versions, device, precision, cache
  python -m dlcore train mnist --quick   quick MNIST preset (cached: loads it)
  python -m dlcore train regression --epochs 50 --json
  python -m dlcore cache list            stored models: settings, data, scores
  python -m dlcore cache clear           delete every stored model
  python -m dlcore worker --gpu 0        train the app's jobs (needs a broker)
"""


class UsageError(Exception):
    """A bad argument value, shown as ``error: ...`` with exit status 2."""


# ---------------------------------------------------------------------------------------
# Building what to train
# ---------------------------------------------------------------------------------------


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields given on the command line (None means "keep the default")."""
    fields = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
    }
    return {name: value for name, value in fields.items() if value is not None}


def _mnist_job(args: argparse.Namespace) -> tuple[MnistConfig, Any]:
    base = MNIST_QUICK if args.quick else MnistConfig()
    changes = _overrides(args)
    if args.limit is not None:
        changes["train_size"] = args.limit
    return base.replace(**changes), None


def _regression_job(args: argparse.Namespace) -> tuple[RegressionConfig, Any]:
    if args.quick:
        raise UsageError("--quick applies to mnist only")
    houses = None
    if args.limit is not None:
        from dlcore.data import make_house_prices

        try:
            houses = make_house_prices(n_samples=args.limit)
        except ValueError as exc:
            raise UsageError(f"--limit: {exc}") from exc
    return RegressionConfig(**_overrides(args)), houses


# Each demo: how to build its job from the arguments, and its headline metrics.
DEMOS: dict[str, tuple[Callable[[argparse.Namespace], tuple[Any, Any]], tuple[str, ...]]] = {
    "mnist": (_mnist_job, ("test_accuracy",)),
    "regression": (_regression_job, ("test_mse", "test_r2")),
}


# ---------------------------------------------------------------------------------------
# Progress and summary
# ---------------------------------------------------------------------------------------


def _progress_line(snapshot: jobs.JobSnapshot) -> str:
    """One line: a bar, the percentage, epoch/batch, the latest loss and the ETA."""
    if snapshot.state == JobState.QUEUED:
        return f"queued (position {snapshot.queue_position})"
    filled = round(snapshot.fraction * BAR_WIDTH)
    percent = readable.grouped(snapshot.fraction * 100)
    line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:>3} %"
    if snapshot.epochs and snapshot.epoch:
        line += f"  epoch {snapshot.epoch}/{snapshot.epochs}"
    if snapshot.batches_per_epoch:
        line += f"  batch {snapshot.batch}/{snapshot.batches_per_epoch}"
    if snapshot.batch_losses and "loss" in snapshot.batch_losses[-1]:
        line += f"  loss {readable.number(snapshot.batch_losses[-1]['loss'], 4)}"
    if snapshot.eta is not None:
        line += f"  {readable.grouped(snapshot.eta)} s left"
    return line


def _follow(handle: jobs.JobHandle, stream=sys.stderr) -> jobs.JobSnapshot:
    """Poll the job until it finishes, drawing progress; Ctrl-C cancels the job."""
    live = stream.isatty()
    last_step = -1
    try:
        while not handle.wait(POLL_SECONDS):
            snapshot = handle.snapshot()
            step = int(snapshot.fraction * 10)
            if live:
                stream.write("\r" + _progress_line(snapshot).ljust(79))
            elif step != last_step:  # a log file gets a line per 10 %
                stream.write(_progress_line(snapshot) + "\n")
                last_step = step
            stream.flush()
    except KeyboardInterrupt:
        stream.write("\nStopping after the current batch…\n")
        handle.cancel()
        handle.wait()
    if live:
        stream.write("\r" + _progress_line(handle.snapshot()).ljust(79) + "\n")
    return handle.snapshot()


def _finite(value: Any) -> Any:
    """JSON has no NaN: a diverged run reports its metrics as null."""
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _report(kind: str, handle: jobs.JobHandle, snapshot: jobs.JobSnapshot) -> dict[str, Any]:
    """The machine-readable summary of a finished training command."""
    result = handle.result()
    path = cache.model_path(handle.key)
    epochs = result.epochs_run if result else 0
    report = {
        "kind": kind,
        "state": snapshot.state,
        "status": result.status if result else snapshot.state,
        "cached": bool(snapshot.cached),
        "model_path": str(path) if path.exists() else None,
        "train_seconds": result.train_seconds if result else None,
        "epochs": epochs,
        "seconds_per_epoch": result.train_seconds / epochs if result and epochs else None,
        "device": result.device if result else None,
        "key": handle.key,
        "message": snapshot.message,
        "metrics": {name: _finite(v) for name, v in (result.metrics if result else {}).items()},
    }
    for name in DEMOS[kind][1]:
        report[name] = report["metrics"].get(name)
    if broker_url():  # trained by a Celery worker (None: a cache hit)
        report |= {"backend": "celery", "worker": None if snapshot.cached else snapshot.worker}
    return report


def _print_summary(report: dict[str, Any]) -> None:
    """The human-readable summary of a finished training command."""
    metrics = report["metrics"]
    if report["kind"] == "mnist":
        print(f"MNIST CNN: test accuracy {_percent(metrics.get('test_accuracy'))}")
    else:
        print(
            f"House prices: test MSE {_number(metrics.get('test_mse'))}, "
            f"RMSE {_number(metrics.get('test_rmse'))}, R² {_number(metrics.get('test_r2'))}"
        )
    if report["train_seconds"] is not None:
        seconds = readable.number(report["train_seconds"])
        per_epoch = readable.number(report["seconds_per_epoch"] or 0)
        print(
            f"{report['epochs']} epoch(s) in {seconds} s ({per_epoch} s per epoch) "
            f"on {report['device']}"
        )
    origin = "Loaded from the cache" if report["cached"] else report["message"]
    print(origin)
    if report["model_path"]:
        print(f"Model file: {report['model_path']}")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{readable.number(value * 100, 4)} %"


def _number(value: float | None) -> str:
    return "n/a" if value is None else readable.number(value, 4)


# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------


def run_train(args: argparse.Namespace) -> int:
    """``train mnist|regression``: submit through jobs, follow it, summarise."""
    build, _ = DEMOS[args.demo]
    try:
        config, data = build(args)
    except ValueError as exc:  # the config refused a value: say which, in plain words
        raise UsageError(str(exc)) from exc
    handle = jobs.submit(config, data)
    snapshot = _follow(handle)
    if snapshot.state in (JobState.FAILED, JobState.CANCELLED):
        print(f"error: {snapshot.error or snapshot.message}", file=sys.stderr)
        return EXIT_FAILED if snapshot.state == JobState.FAILED else EXIT_INTERRUPTED
    report = _report(args.demo, handle, snapshot)
    if args.json:
        print(json.dumps(report))
    else:
        _print_summary(report)
    if snapshot.state == JobState.STOPPED:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if snapshot.state == JobState.DIVERGED else 0


def run_info(args: argparse.Namespace) -> int:
    """``info``: versions, device and precision, cache location and size."""
    import keras
    import tensorflow as tf

    from dlcore import device

    info = device.configure()
    facts = {
        "dlcore": dlcore.__version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "device": info.summary,
        "precision_policy": info.policy,
        "cache_location": str(cache.cache_location()),
        "cache_entries": cache.count_entries(),
        "cache_bytes": cache.total_bytes(),
        "cache_max_bytes": settings.cache_max_bytes(),
        **_backend_facts(),
    }
    if args.json:
        print(json.dumps(facts))
        return 0
    print(f"dlcore {facts['dlcore']} · Python {facts['python']}")
    print(f"TensorFlow {facts['tensorflow']} · Keras {facts['keras']}")
    print(f"Device: {facts['device']}")
    print(f"Precision policy (MNIST CNN): {facts['precision_policy']}")
    print(
        f"Cache: {facts['cache_location']} · {facts['cache_entries']} model(s), "
        f"{_megabytes(facts['cache_bytes'])} of {_megabytes(facts['cache_max_bytes'])}"
    )
    if facts["backend"] == "celery":
        workers = ", ".join(facts["workers"]) or "none answers"
        print(f"Training: Celery workers over {facts['broker']} · workers: {workers}")
    else:
        print("Training: in this process (embedded backend; DLCORE_BROKER_URL is not set)")
    return 0


def _backend_facts() -> dict[str, Any]:
    """Which job backend trains, its broker (without credentials) and the workers that
    answer a ping; a broker that does not answer has no workers."""
    if not broker_url():
        return {"backend": "embedded", "broker": None, "workers": []}
    from dlcore import celery_jobs

    try:
        workers = celery_jobs.workers(timeout=1.0)
    except Exception:  # the broker does not answer (Celery raises OSError or kombu's own)
        workers = []
    return {"backend": "celery", "broker": public_url(broker_url()), "workers": workers}


def run_worker(args: argparse.Namespace) -> int:
    """``worker``: a Celery worker that trains the jobs the app replicas submit."""
    from dlcore import worker  # Celery and the Redis client load only here

    return worker.run(name=args.name, gpu=args.gpu, loglevel=args.loglevel)


def _megabytes(size: int) -> str:
    return f"{readable.number(size / 2**20)} MiB"


def run_cache(args: argparse.Namespace) -> int:
    """``cache list`` and ``cache clear``."""
    if args.action == "clear":
        removed = cache.clear()
        print(f"Removed {removed} cached model(s) from {cache.cache_location()}")
        return 0
    entries = cache.list_entries()
    if args.json:
        print(json.dumps([_entry_dict(entry) for entry in entries]))
        return 0
    print(f"{len(entries)} cached model(s) in {cache.cache_location()}")
    for entry in entries:
        print("\n".join(_entry_lines(entry)))
    return 0


def _entry_lines(entry: cache.EntryInfo) -> list[str]:
    """One cached model: key, kind, size, last use, then its settings, data and scores.

    The data gets its own line because it is not part of the settings: two regression
    models with equal settings trained on houses of different noise differ only there.
    """
    used = datetime.fromtimestamp(entry.last_used).strftime("%Y-%m-%d %H:%M")
    settings = "  ".join(f"{name}={_setting(value)}" for name, value in entry.settings.items())
    fingerprint = entry.data_fingerprint[:8] or "—"
    scores = "  ".join(
        f"{name}={readable.number(value, 4)}"
        for name, value in entry.metrics.items()
        if _finite(value) is not None
    )
    header = f"{entry.key[:12]}  {entry.kind:<10} {_megabytes(entry.size_bytes):>9}  {used}"
    return [
        header,
        *_labelled("settings", settings),
        *_labelled("data", f"{entry.data}  (data id {fingerprint})"),
        *_labelled("scores", scores),
    ]


def _labelled(label: str, text: str) -> list[str]:
    """``    label:  text``, wrapped under itself to fit LISTING_WIDTH columns."""
    lead = f"    {label + ':':<10}"
    return textwrap.wrap(
        text or "—",
        LISTING_WIDTH,
        initial_indent=lead,
        subsequent_indent=" " * len(lead),
        break_on_hyphens=False,
    )


def _setting(value: Any) -> str:
    """A config value as written on the command line; numbers through dlcore.readable."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return readable.number(value, 6)


def _entry_dict(entry: cache.EntryInfo) -> dict[str, Any]:
    fields = dict(entry.__dict__)
    fields["metrics"] = {name: _finite(value) for name, value in entry.metrics.items()}
    return fields


# ---------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m dlcore``."""
    parser = argparse.ArgumentParser(
        prog="python -m dlcore",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    info = commands.add_parser(
        "info",
        help="show versions, the device and precision TensorFlow uses, and the cache size",
        description="Show versions, the device and precision TensorFlow uses, and the cache.",
    )
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(handler=run_info)
    _add_train_parser(commands)
    store = commands.add_parser(
        "cache",
        help="list or clear the cache of trained models",
        description="List or clear the cache of trained models the app and this command share.",
    )
    store.add_argument(
        "action",
        choices=("list", "clear"),
        help="list: each stored model with its settings, data and scores; clear: delete all",
    )
    store.add_argument("--json", action="store_true", help="list as JSON")
    store.set_defaults(handler=run_cache)
    _add_worker_parser(commands)
    return parser


def _add_worker_parser(commands) -> None:
    worker = commands.add_parser(
        "worker",
        help="train the jobs of the app's replicas (needs DLCORE_BROKER_URL=redis://...)",
        description="Start a Celery worker that trains the jobs the app's replicas submit; "
        "one training at a time, one worker per GPU.",
    )
    worker.add_argument("--name", help="worker name (default: dlcore-PID@HOST)")
    worker.add_argument("--gpu", type=int, help="train on this GPU only (one worker per GPU)")
    worker.add_argument("--loglevel", default="INFO", help="log level (default INFO)")
    worker.set_defaults(handler=run_worker)


def _add_train_parser(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a demo model, or load it at once when the cache already has it",
        description="Train a demo model, or load it at once when the cache already has it.",
    )
    train.add_argument("demo", choices=sorted(DEMOS), help="which model to train")
    train.add_argument("--epochs", type=int, help="number of epochs")
    train.add_argument("--batch-size", type=int, help="examples per gradient step")
    train.add_argument("--learning-rate", type=float, help="optimizer learning rate")
    train.add_argument(
        "--limit", type=int, help="mnist: training images; regression: synthetic houses"
    )
    train.add_argument("--quick", action="store_true", help="mnist: the quick preset")
    train.add_argument("--seed", type=int, help="random seed")
    train.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    train.set_defaults(handler=run_train)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DlcoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
