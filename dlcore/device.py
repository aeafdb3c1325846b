"""Accelerator setup: GPUs, memory growth, precision policy and distribution strategy.

``configure()`` is called once before any training (it is idempotent and cached). The
decision itself is the pure function ``plan_device`` of a device list and CPU flags, so
tests can cover GPU machines with a fake device list on a CPU-only runner.

Precision is chosen here but never installed as Keras' *global* policy: the global
policy would also turn the regression MLP and the concept pages (activations, losses,
optimizers) into low precision, where bfloat16's 8-bit mantissa visibly distorts the
small numbers the learner reads. Instead ``models.build_cnn(config, policy=...)`` passes
``DeviceInfo.policy`` to the CNN's hidden layers only, and the softmax output stays
float32 so the loss is computed in full precision.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlcore import settings

# CPU flags that qualify for mixed_bfloat16, each backed by a measurement of the default
# MNIST recipe at equal accuracy (bench/train_mnist.py --precision-check, bench/README.md):
# - amx_bf16 (Intel Sapphire Rapids and later): oneDNN runs bf16 convolutions on AMX;
#   PERFORMANCE.md measured 20-22 s against 30-34 s in float32.
# - avx512_bf16 (AMD Zen 4, Intel Cooper Lake): on a 2-vCPU AMD EPYC we measured 1.46-1.48x
#   less CPU time than float32, test accuracy 99.06/99.00 % against 99.08/98.99 % (seeds 0/1).
# Without native bf16 (simulated with ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI) the quick preset
# took 1.8x the CPU time of float32, so such a CPU stays float32.
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
# Files that exist when a GPU runtime may work here: NVIDIA's kernel driver (bare metal and
# containers given a GPU), WSL2's GPU bridge, and AMD's ROCm driver.
GPU_DRIVER_MARKERS = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg", "/dev/kfd")
# What a machine without any of them sets before TensorFlow starts (see quiet_cuda_probe).
CPU_ONLY_ENVIRONMENT = {"TF_ENABLED_DEVICE_TYPES": "CPU,XLA_CPU", "TF_CPP_MIN_LOG_LEVEL": "1"}
MIN_FP16_COMPUTE_CAPABILITY = (7, 0)
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclass(frozen=True)
class GpuSpec:
    """What the decision needs to know about one GPU."""

    name: str
    compute_capability: tuple[int, int] | None = None


# Why a precision policy was chosen: the hardware's reason, or DLCORE_PRECISION forcing it.
PRECISION_REASONS = ("native_bf16", "no_native_bf16", "tensor_cores", "no_tensor_cores", "override")


@dataclass(frozen=True)
class DevicePlan:
    """The pure decision: which device kind, precision policy and strategy to use."""

    kind: str
    name: str
    count: int
    policy: str
    strategy_name: str
    summary: str
    precision_reason: str  # one of PRECISION_REASONS: why this policy was chosen


@dataclass(frozen=True)
class DeviceInfo:
    """The configured device, as training and the sidebar see it.

    Attributes:
        kind: "CPU" or "GPU".
        name: CPU model name, or the GPU model name(s).
        count: Number of GPUs in use, or of CPU cores.
        policy: Keras dtype policy name for the MNIST CNN's hidden layers.
        strategy: The tf.distribute strategy object to build and train models under.
        summary: One line for the sidebar, e.g. "CPU · 2 cores · float32".
        precision_reason: Why the policy was chosen, one of PRECISION_REASONS.
    """

    kind: str
    name: str
    count: int
    policy: str
    strategy: Any
    summary: str
    precision_reason: str = "override"


def plan_device(
    gpus: list[GpuSpec],
    cpu_flags: frozenset[str] | set[str],
    cpu_cores: int,
    cpu_name: str = "CPU",
    override: str = "auto",
) -> DevicePlan:
    """Decide device kind, precision policy and distribution strategy (no TensorFlow).

    Args:
        gpus: The visible GPUs (empty on a CPU-only machine).
        cpu_flags: Flags from /proc/cpuinfo (used only without GPUs).
        cpu_cores: Number of usable CPU cores (for the summary).
        cpu_name: CPU model name (for DeviceInfo.name).
        override: "auto", or a policy name forced by DLCORE_PRECISION.

    Returns:
        The plan: mixed_float16 when every GPU has compute capability >= 7.0 (tensor
        cores), mixed_bfloat16 on a CPU with native bf16 instructions (CPU_BF16_FLAGS),
        float32 otherwise; MirroredStrategy when more than one GPU is visible.
    """
    if override != "auto" and override not in POLICIES:
        raise ValueError(f"Unknown precision {override!r}; valid: auto, {', '.join(POLICIES)}")
    if gpus:
        capabilities = [gpu.compute_capability or (0, 0) for gpu in gpus]
        fp16_ok = min(capabilities) >= MIN_FP16_COMPUTE_CAPABILITY
        policy = "mixed_float16" if fp16_ok else "float32"
        reason = "tensor_cores" if fp16_ok else "no_tensor_cores"
        names = sorted({gpu.name for gpu in gpus})
        kind, name, count = "GPU", " + ".join(names), len(gpus)
        where = f"{name} ×{count}"
    else:
        native_bf16 = any(flag in cpu_flags for flag in CPU_BF16_FLAGS)
        policy = "mixed_bfloat16" if native_bf16 else "float32"
        reason = "native_bf16" if native_bf16 else "no_native_bf16"
        kind, name, count = "CPU", cpu_name, cpu_cores
        where = f"{cpu_cores} core{'s' if cpu_cores != 1 else ''}"
    if override != "auto":
        policy, reason = override, "override"
    strategy = "mirrored" if len(gpus) > 1 else "default"
    summary = f"{kind} · {where} · {policy}"
    return DevicePlan(kind, name, count, policy, strategy, summary, reason)


def quiet_cuda_probe(
    environ: MutableMapping[str, str] = os.environ,
    markers: Sequence[str] = GPU_DRIVER_MARKERS,
    platform: str = sys.platform,
) -> dict[str, str]:
    """On a Linux machine with no GPU driver, keep TensorFlow from probing for CUDA.

    TensorFlow's GPU device factory calls ``cuInit`` even where no driver is installed and
    logs ``failed call to cuInit: ... UNKNOWN ERROR (303)`` as an error on every start,
    which reads like a fault in every CLI run and server log. Enabling only the CPU device
    types skips that factory, so ``cuInit`` is never called, and TensorFlow's C++ INFO
    lines (among them "Device factory 'GPU' disabled") are left out; its warnings and
    errors still reach stderr. Machines with a GPU driver, and other systems (macOS runs
    Metal as a "GPU" device), are left untouched, as is any value the user already set.
    It must run before TensorFlow is imported: ``import dlcore`` calls it.

    Args:
        environ: The environment to adjust.
        markers: Paths whose existence means a GPU driver may be present.
        platform: ``sys.platform``.

    Returns:
        The variables it set (empty when it changed nothing).
    """
    if platform != "linux" or any(os.path.exists(path) for path in markers):
        return {}
    changes = {name: value for name, value in CPU_ONLY_ENVIRONMENT.items() if name not in environ}
    environ.update(changes)
    return changes


def read_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[frozenset[str], str]:
    """CPU feature flags and model name from /proc/cpuinfo (empty on other systems)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset(), "CPU"
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in text.splitlines())
        if value and key.strip() in ("flags", "model name")
    )
    return frozenset(fields.get("flags", "").split()), fields.get("model name", "CPU")


def usable_cores() -> int:
    """CPU cores this process may run on (respects container CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _gpu_specs(tf) -> list[GpuSpec]:
    """Describe the visible GPUs and enable memory growth on each."""
    specs = []
    for gpu in tf.config.list_physical_devices("GPU"):
        # Growth must be set before the GPU is initialized; a later call raises.
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
        details = tf.config.experimental.get_device_details(gpu)
        specs.append(
            GpuSpec(details.get("device_name", gpu.name), details.get("compute_capability"))
        )
    return specs


# Strategy registry: plan name -> factory taking the tensorflow module.
STRATEGIES = {
    "default": lambda tf: tf.distribute.get_strategy(),
    "mirrored": lambda tf: tf.distribute.MirroredStrategy(),
}

_info: DeviceInfo | None = None
_lock = threading.Lock()


def configure() -> DeviceInfo:
    """Set up the accelerator once and describe it (idempotent, thread-safe, cached).

    Returns:
        The DeviceInfo every later call returns too.
    """
    global _info
    with _lock:
        if _info is None:
            import tensorflow as tf

            flags, cpu_name = read_cpu_flags()
            override = settings.precision_override()
            plan = plan_device(_gpu_specs(tf), flags, usable_cores(), cpu_name, override)
            strategy = STRATEGIES[plan.strategy_name](tf)
            _info = DeviceInfo(
                plan.kind,
                plan.name,
                plan.count,
                plan.policy,
                strategy,
                plan.summary,
                plan.precision_reason,
            )
        return _info
