"""The command line: train through the cache, info, cache list/clear, friendly errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlcore import jobs
from dlcore.__main__ import _progress_line, main

REPO = Path(__file__).resolve().parents[1]


def dlcore_cli(*args: str) -> subprocess.CompletedProcess:
    """Run ``python -m dlcore ARGS`` in a fresh interpreter (the environment is inherited)."""
    return subprocess.run(
        [sys.executable, "-m", "dlcore", *args],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_train_twice_second_run_comes_from_the_cache(cache_dir):
    first = dlcore_cli("train", "regression", "--epochs", "2", "--limit", "200", "--json")
    assert first.returncode == 0, first.stderr[-2000:]
    report = json.loads(first.stdout)
    assert report["cached"] is False and report["status"] == "completed"
    assert report["epochs"] == 2 and report["train_seconds"] > 0
    assert isinstance(report["test_mse"], float) and report["test_mse"] > 0
    assert isinstance(report["test_r2"], float)
    model_path = Path(report["model_path"])
    assert model_path.is_file() and model_path.is_relative_to(cache_dir)

    second = dlcore_cli("train", "regression", "--epochs", "2", "--limit", "200", "--json")
    assert second.returncode == 0, second.stderr[-2000:]
    again = json.loads(second.stdout)
    assert again["cached"] is True
    assert again["model_path"] == report["model_path"]
    assert again["test_mse"] == report["test_mse"]

    listed = dlcore_cli("cache", "list", "--json")
    entries = json.loads(listed.stdout)
    assert [entry["kind"] for entry in entries] == ["regression"]
    assert entries[0]["key"] in report["model_path"]
    assert "epochs=2" in dlcore_cli("cache", "list").stdout

    cleared = dlcore_cli("cache", "clear")
    assert cleared.returncode == 0 and "Removed 1 cached model" in cleared.stdout
    assert json.loads(dlcore_cli("cache", "list", "--json").stdout) == []
    assert not model_path.exists()


def test_info_reports_versions_device_and_cache(cache_dir):
    run = dlcore_cli("info", "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    facts = json.loads(run.stdout)
    assert facts["cache_location"] == str(cache_dir)
    assert facts["cache_entries"] == 0
    assert facts["keras"].startswith("3.") and facts["tensorflow"].startswith("2.")
    assert facts["device"].startswith(("CPU", "GPU"))
    assert facts["precision_policy"] in facts["device"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "regression", "--epochs", "0"], "error: epochs must be between 1 and"),
        (["train", "mnist", "--limit", "70000"], "error: train_size must be between"),
        (["train", "regression", "--limit", "3"], "error: --limit: n_samples must be"),
        (["train", "regression", "--quick"], "error: --quick applies to mnist only"),
    ],
)
def test_bad_values_exit_with_a_plain_message(args, message, cache_dir, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err
    assert not cache_dir.exists()


def test_progress_line_shows_bar_epoch_batch_loss_and_eta():
    snapshot = jobs.JobSnapshot(
        state="running",
        epoch=2,
        epochs=4,
        batch=5,
        batches_per_epoch=10,
        fraction=0.375,
        batch_losses=[{"epoch": 2, "batch": 5, "loss": 0.25}],
        eta=12.0,
    )
    line = _progress_line(snapshot)
    assert line.startswith("[#########...............]  38%")
    assert "epoch 2/4" in line and "batch 5/10" in line
    assert "loss 0.25" in line and "12 s left" in line
    assert _progress_line(jobs.JobSnapshot(state="queued", queue_position=3)) == (
        "queued (position 3)"
    )
