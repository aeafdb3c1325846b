"""The Celery backend's behaviour that needs no running service: the switch, what a task
carries, and a broker that does not answer (the page says so, the cache still serves).

The backend against real Redis, workers and replicas: tests/scaleout.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from dlcore import cache, celery_jobs, jobs
from dlcore.configs import MNIST_QUICK, RegressionConfig
from dlcore.data import make_house_prices
from dlcore.errors import TrainingFailed, TrainingServiceUnavailable
from dlcore.job_common import public_url
from tests.app.conftest import REPO, page_test
from tests.support.results import make_result
from tests.support.servers import free_port


@pytest.fixture
def broker_down(tmp_path, monkeypatch):
    """DLCORE_BROKER_URL pointing at a loopback port where nothing listens."""
    monkeypatch.setenv("DLCORE_BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("DLCORE_CACHE_DIR", str(tmp_path / "cache"))
    cache._forget()
    yield
    cache._forget()


def _cached(seed: int) -> str:
    """Store a result for RegressionConfig(epochs=2, seed) on the default houses."""
    fingerprint = make_house_prices().fingerprint
    key = cache.key_for(RegressionConfig(epochs=2, seed=seed), fingerprint)
    cache.save(key, make_result(seed), data_fingerprint=fingerprint)
    cache._forget()
    return key


def test_the_embedded_backend_imports_neither_celery_nor_redis():
    probe = (
        "import sys\nfrom dlcore import jobs\nimport ui.live\n"
        "print(sorted({'celery', 'redis', 'kombu'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_a_new_training_without_a_broker_says_the_service_is_unavailable(broker_down):
    with pytest.raises(TrainingServiceUnavailable, match="training service is unavailable"):
        jobs.submit(RegressionConfig(epochs=2, seed=7))


def test_a_cached_result_still_loads_while_the_broker_is_down(broker_down):
    key = _cached(seed=3)
    handle = jobs.submit(RegressionConfig(epochs=2, seed=3))
    snapshot = handle.snapshot()
    assert (handle.key, snapshot.state, snapshot.cached) == (key, "done", True)
    assert handle.result().metrics == make_result(3).metrics
    followed = jobs.get(key, owner="alice")  # the registry cannot say; the cache can
    assert followed.result().metrics == make_result(3).metrics
    with pytest.raises(TrainingServiceUnavailable):
        followed.snapshot()


def test_a_page_shows_the_service_is_unavailable_and_no_error(broker_down):
    page = page_test("pages/regression.py")
    page.run()
    page.session_state["reg_n"], page.session_state["reg_epochs"] = 100, 3
    page.button(key="reg_train").click()
    page.run()
    assert not page.exception, [e.value for e in page.exception]
    assert any("training service is unavailable" in w.value for w in page.warning)
    assert "reg_job" not in page.session_state


def test_a_custom_trainer_is_refused_in_celery_mode(broker_down):
    with pytest.raises(ValueError, match="embedded backend"):
        jobs.submit(RegressionConfig(epochs=2), trainer=lambda *args, **kwargs: None)


def test_a_task_carries_the_config_and_houses_that_make_the_same_key():
    houses = make_house_prices(n_samples=120, seed=9)
    config = RegressionConfig(epochs=4, learning_rate=0.05, seed=2)
    rebuilt_config = celery_jobs.config_from_json(config.to_json())
    rebuilt_houses = celery_jobs.data_of(celery_jobs.payload_of(houses))
    assert rebuilt_config == config
    assert rebuilt_houses.fingerprint == houses.fingerprint
    assert cache.key_for(rebuilt_config, rebuilt_houses.fingerprint) == cache.key_for(
        config, houses.fingerprint
    )
    assert celery_jobs.payload_of(None) is None  # MNIST: the worker's own copy
    assert celery_jobs.config_from_json(MNIST_QUICK.to_json()) == MNIST_QUICK
    with pytest.raises(TrainingFailed, match="cannot be sent"):
        celery_jobs.payload_of(([1.0], [2.0]))


def test_info_shows_the_broker_without_its_password():
    assert public_url("redis://:secret@10.1.2.3:6380/2") == "redis://10.1.2.3:6380/2"
    assert "secret" not in public_url("redis://teacher:secret@host/0")


def test_an_uploaded_files_notes_travel_to_a_worker_and_read_in_each_language():
    import json

    from dlcore import data, i18n

    rows = "\n".join(f"{100 + i}.125,{100_000 + 1_000 * i}" for i in range(12))
    houses = data.load_house_prices_csv(f"area,price\n{rows}\n".encode(), "area", "price")
    assert houses.notes  # 100.125: a decimal, or 100,125 written with a dot? said to the learner
    payload = json.loads(json.dumps(celery_jobs.payload_of(houses)))  # what Celery sends
    rebuilt = celery_jobs.data_of(payload)
    assert rebuilt.fingerprint == houses.fingerprint
    assert [str(note) for note in rebuilt.notes] == [str(note) for note in houses.notes]
    with i18n.using("zh"):
        assert [str(note) for note in rebuilt.notes] == [str(note) for note in houses.notes]


def test_the_service_unavailable_warning_reads_in_the_learners_language(broker_down):
    from dlcore import i18n

    page = page_test("pages/regression.py")
    page.session_state["language"] = "zh"
    with i18n.using("zh"):  # AppTest formats widget values in this thread
        page.run()
        page.session_state["reg_n"], page.session_state["reg_epochs"] = 100, 3
        page.button(key="reg_train").click()
        page.run()
    assert not page.exception, [e.value for e in page.exception]
    assert any("训练服务现在不可用" in w.value for w in page.warning)
