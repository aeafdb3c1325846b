"""The command line: train through the cache, info, cache list/clear, friendly errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dlcore import cache, jobs
from dlcore.__main__ import _progress_line, main
from tests.support.results import make_result
from tests.support.servers import free_port

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
    assert entries[0]["data"] == "synthetic: 200 houses, noise 0.1, nonlinearity 0, seed 0"
    listing = dlcore_cli("cache", "list").stdout
    assert "epochs=2" in listing and "data:     synthetic: 200 houses, noise 0.1" in listing

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
    assert line.startswith("[#########...............]  38 %")
    assert "epoch 2/4" in line and "batch 5/10" in line
    assert "loss 0.25" in line and "12 s left" in line
    assert _progress_line(jobs.JobSnapshot(state="queued", queue_position=3)) == (
        "queued (position 3)"
    )


@pytest.mark.parametrize("command", [[], ["info"], ["train"], ["cache"]])
def test_help_reads_as_plain_text(command):
    """--help is read in a terminal: no reStructuredText or Markdown markup, no long lines."""
    run = dlcore_cli(*command, "--help")
    assert run.returncode == 0 and run.stderr == ""
    text = run.stdout
    assert text.startswith("usage: python -m dlcore")
    for markup in ("``", "`", "**", "::"):
        assert markup not in text, f"{markup!r} in:\n{text}"
    assert max(len(line) for line in text.splitlines()) <= 80  # a default terminal
    description = text.split("\n\n")[1]
    assert description[0].isupper() and description.rstrip().endswith(".")


def _save_regression(data_source: str, fingerprint: str, drop_data: bool = False) -> None:
    result = make_result(seed=0)
    result.data_source = data_source
    key = cache.key_for(result.config, fingerprint)
    cache.save(key, result, data_fingerprint=fingerprint)
    if drop_data:  # an entry written before the data was stored
        meta_path = cache.entry_path(key) / "meta.json"
        meta = json.loads(meta_path.read_text())
        del meta["data_source"]
        meta_path.write_text(json.dumps(meta))


def test_cache_list_tells_equal_settings_apart_by_their_data(cache_dir, capsys):
    _save_regression("synthetic: 1,000 houses, noise 0.1, nonlinearity 0, seed 0", "a" * 64)
    _save_regression("synthetic: 1,000 houses, noise 0.4, nonlinearity 2, seed 7", "b" * 64)
    _save_regression("", "c" * 64, drop_data=True)

    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    sections = [_sections(block) for block in re.split(r"\n(?=\S)", out)[1:]]
    assert len(sections) == 3
    assert len({section["settings"] for section in sections}) == 1  # equal settings
    assert sorted(section["data"] for section in sections) == [
        "synthetic: 1,000 houses, noise 0.1, nonlinearity 0, seed 0 (data id aaaaaaaa)",
        "synthetic: 1,000 houses, noise 0.4, nonlinearity 2, seed 7 (data id bbbbbbbb)",
        "— (data id cccccccc)",
    ]
    # Numbers a learner reads: 0.01 not 1e-02, the MSE of make_result through readable.
    assert "learning_rate=0.01 " in out and "test_mse=0.5  test_r2=0.875" in out
    assert max(len(line) for line in out.splitlines()[1:]) <= 88


def _sections(block: str) -> dict[str, str]:
    """The labelled sections of one listed entry, wrapped lines joined, spaces collapsed."""
    found = re.findall(r"^    (\w+):\s+(.*(?:\n {14}.*)*)", block, flags=re.MULTILINE)
    return {label: " ".join(text.split()) for label, text in found}


def test_info_names_the_job_backend_and_hides_the_broker_password(cache_dir, monkeypatch):
    port = free_port()  # nothing listens there: no worker answers
    monkeypatch.setenv("DLCORE_BROKER_URL", f"redis://:s3cret@127.0.0.1:{port}/0")
    run = dlcore_cli("info", "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    facts = json.loads(run.stdout)
    assert facts["backend"] == "celery" and facts["workers"] == []
    assert facts["broker"] == f"redis://127.0.0.1:{port}/0" and "s3cret" not in run.stdout


def test_a_worker_needs_a_broker(monkeypatch):
    monkeypatch.delenv("DLCORE_BROKER_URL", raising=False)
    run = dlcore_cli("worker")
    assert run.returncode == 2
    assert "set DLCORE_BROKER_URL=redis://host:port/db" in run.stderr
