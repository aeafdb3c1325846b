"""Training throughput of the Celery workers: N different quick-MNIST trainings at once.

Starts the deploy/ topology with --workers workers and no app replica, submits --jobs
quick-preset MNIST trainings with distinct seeds (none cached) from this process, as
replicas do, and reports each job's worker and training time and the wall time for all of
them: trainings per hour on this machine. Everything is stopped afterwards.

    python bench/load/workers.py --workers 1 --jobs 1
    python bench/load/workers.py --workers 2 --jobs 2
    python bench/load/workers.py --workers 2 --jobs 4 --config default
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "deploy")]

from topology import Topology  # noqa: E402

from dlcore.configs import MNIST_QUICK, MnistConfig  # noqa: E402

CONFIGS = {"quick": MNIST_QUICK, "default": MnistConfig()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="quick")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    root = Path(tempfile.mkdtemp(prefix="dlcore-workers-"))
    with Topology(root, workers=args.workers, replicas=0) as topology:
        os.environ.update(
            DLCORE_BROKER_URL=topology.broker_url, DLCORE_CACHE_DIR=topology.cache_dir
        )
        from dlcore import jobs

        seeds = random.Random().sample(range(10_000, 2**31 - 1), args.jobs)  # never cached
        started = time.monotonic()
        handles = [jobs.submit(CONFIGS[args.config].replace(seed=seed)) for seed in seeds]
        for handle in handles:
            handle.wait()
        wall = time.monotonic() - started
        for handle in handles:
            snapshot, result = handle.snapshot(), handle.result()
            accuracy = result.metrics["test_accuracy"] if result else float("nan")
            print(
                f"{snapshot.state:<8} on {snapshot.worker}: {snapshot.message} "
                f"(test accuracy {accuracy:.2%})"
            )
    print(
        f"{args.jobs} {args.config} trainings on {args.workers} worker(s): {wall:.1f} s "
        f"from submit to the last result, {3600 * args.jobs / wall:.0f} trainings per hour"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
