"""Tests of dlcore.device: the decision on fake machines, the real CPU path, MirroredStrategy."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from dlcore import device
from dlcore.device import GpuSpec, plan_device

H100 = GpuSpec("NVIDIA H100 80GB HBM3", (9, 0))
T4 = GpuSpec("Tesla T4", (7, 5))
K80 = GpuSpec("Tesla K80", (3, 7))


def test_one_modern_gpu_gets_mixed_float16_and_default_strategy():
    plan = plan_device([H100], frozenset(), 2)
    assert (plan.kind, plan.count, plan.policy, plan.strategy_name) == (
        "GPU",
        1,
        "mixed_float16",
        "default",
    )
    assert plan.summary == "GPU · NVIDIA H100 80GB HBM3 ×1 · mixed_float16"


def test_two_gpus_get_mirrored_strategy():
    plan = plan_device([H100, H100], frozenset(), 2)
    assert plan.strategy_name == "mirrored" and plan.count == 2
    assert "×2" in plan.summary


def test_old_gpu_stays_float32_even_alongside_a_modern_one():
    assert plan_device([K80], frozenset(), 2).policy == "float32"
    # One policy serves every replica, so the weakest GPU decides.
    assert plan_device([T4, K80], frozenset(), 2).policy == "float32"
    assert plan_device([GpuSpec("unknown GPU")], frozenset(), 2).policy == "float32"


def test_gpu_wins_over_cpu_flags():
    assert plan_device([T4], frozenset({"amx_bf16"}), 8).policy == "mixed_float16"


def test_cpu_with_native_bf16_gets_bfloat16_and_others_float32():
    amx = plan_device([], frozenset({"avx512f", "amx_bf16", "amx_tile"}), 2)
    assert amx.policy == "mixed_bfloat16" and amx.summary == "CPU · 2 cores · mixed_bfloat16"
    # avx512_bf16 without AMX (e.g. AMD EPYC) was measured faster at equal accuracy too.
    assert plan_device([], frozenset({"avx512f", "avx512_bf16"}), 2).policy == "mixed_bfloat16"
    plain = plan_device([], frozenset({"avx2", "avx512f"}), 1)
    assert plain.policy == "float32" and plain.summary == "CPU · 1 core · float32"
    assert plain.strategy_name == "default"


def test_override_forces_a_policy_and_rejects_unknown_names():
    assert plan_device([], frozenset(), 2, override="mixed_bfloat16").policy == "mixed_bfloat16"
    with pytest.raises(ValueError, match="float8.*float32"):
        plan_device([], frozenset(), 2, override="float8")


def test_read_cpu_flags_parses_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse amx_bf16\n")
    flags, name = device.read_cpu_flags(cpuinfo)
    assert flags == {"fpu", "sse", "amx_bf16"} and name == "Test CPU"
    assert device.read_cpu_flags(tmp_path / "missing") == (frozenset(), "CPU")


def test_configure_on_this_machine_is_cached_and_matches_the_plan(monkeypatch):
    monkeypatch.delenv("DLCORE_PRECISION", raising=False)
    info = device.configure()
    assert device.configure() is info
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        flags, _ = device.read_cpu_flags()
        expected = plan_device([], flags, device.usable_cores())
        assert (info.kind, info.policy, info.summary) == ("CPU", expected.policy, expected.summary)
        assert info.strategy is tf.distribute.get_strategy()
    # Configuring must not change Keras' global policy (the MLP and concept pages stay fp32).
    import keras

    assert keras.config.dtype_policy().name == "float32"


def test_mirrored_strategy_on_two_logical_cpu_devices():
    # Logical devices must be declared before TensorFlow initializes: use a fresh process.
    code = textwrap.dedent(
        """
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from dlcore import device
        device._gpu_specs = lambda tf: [device.GpuSpec("fake", (8, 0))] * 2
        device.STRATEGIES["mirrored"] = lambda tf: tf.distribute.MirroredStrategy(
            ["/cpu:0", "/cpu:1"])
        info = device.configure()
        import numpy as np
        from dlcore import models
        from dlcore.configs import RegressionConfig
        with info.strategy.scope():
            model = models.build_regression_mlp(RegressionConfig(optimizer="adam"))
        x = np.linspace(0, 1, 64, dtype="float32").reshape(-1, 1)
        hist = model.fit(x, 2 * x, epochs=3, batch_size=16, verbose=0).history["loss"]
        print(type(info.strategy).__name__, info.strategy.num_replicas_in_sync,
              info.policy, hist[-1] < hist[0])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-4:] == ["MirroredStrategy", "2", "mixed_float16", "True"]


# ---------------------------------------------------------------------------------------
# No CUDA probe on machines without a GPU driver
# ---------------------------------------------------------------------------------------

CACHED_DATASET_WARNING = "did not fully read the dataset being cached"


def test_a_linux_machine_without_gpu_driver_gets_only_cpu_device_types(tmp_path):
    environ: dict[str, str] = {}
    absent = [str(tmp_path / "nvidiactl"), str(tmp_path / "dxg")]
    changes = device.quiet_cuda_probe(environ, absent, "linux")
    assert changes == environ == device.CPU_ONLY_ENVIRONMENT
    assert "GPU" not in environ["TF_ENABLED_DEVICE_TYPES"].split(",")
    assert environ["TF_CPP_MIN_LOG_LEVEL"] == "1"  # INFO only: warnings and errors remain


def test_gpu_machines_other_systems_and_the_users_own_settings_are_left_alone(tmp_path):
    driver = tmp_path / "nvidiactl"
    driver.touch()
    untouched = {"PATH": "/bin"}
    assert device.quiet_cuda_probe(untouched, [str(driver)], "linux") == {}
    assert device.quiet_cuda_probe(untouched, [], "darwin") == {}  # Metal is a "GPU" there
    assert untouched == {"PATH": "/bin"}
    chosen = {"TF_CPP_MIN_LOG_LEVEL": "0"}
    assert device.quiet_cuda_probe(chosen, [], "linux") == {
        "TF_ENABLED_DEVICE_TYPES": "CPU,XLA_CPU"
    }
    assert chosen["TF_CPP_MIN_LOG_LEVEL"] == "0"


def _python(*args: str, env_drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_cli_stderr_has_no_cuda_error_while_real_warnings_and_errors_still_show():
    tf_variables = tuple(device.CPU_ONLY_ENVIRONMENT)  # as a fresh shell has them: unset
    info = _python("-m", "dlcore", "info", env_drop=tf_variables)
    assert info.returncode == 0, info.stderr[-3000:]
    assert "cuInit" not in info.stderr
    assert "Device factory" not in info.stderr  # nor the INFO lines that replace it

    bad = _python("-m", "dlcore", "train", "regression", "--epochs", "0", env_drop=tf_variables)
    assert bad.returncode == 2 and "error: epochs must be between" in bad.stderr

    # A genuine TensorFlow C++ warning (a cached dataset read only in part) still reaches
    # stderr: the quieting hides INFO lines, never warnings or errors.
    code = "import dlcore, tensorflow as tf; list(tf.data.Dataset.range(9).cache().take(2))"
    warned = _python("-c", code, env_drop=tf_variables)
    assert warned.returncode == 0, warned.stderr[-3000:]
    assert CACHED_DATASET_WARNING in warned.stderr and "cuInit" not in warned.stderr


def test_the_plan_says_why_it_chose_its_precision():
    reasons = [
        plan_device(gpus, flags, 2, override=override).precision_reason
        for gpus, flags, override in (
            ([H100], set(), "auto"),
            ([K80], set(), "auto"),
            ([], {"amx_bf16"}, "auto"),
            ([], set(), "auto"),
            ([H100], set(), "float32"),
        )
    ]
    assert reasons == [
        "tensor_cores",
        "no_tensor_cores",
        "native_bf16",
        "no_native_bf16",
        "override",
    ]
    assert set(reasons) == set(device.PRECISION_REASONS)
