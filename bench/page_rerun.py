"""Server-side time of one rerun of a page, measured through Streamlit's AppTest.

Each page is run once to warm up (imports, TensorFlow, first cache fills), then rerun N times,
each time moving one control to a value it has not had yet, so the page's cached dlcore call
really recomputes: the case of a learner dragging a slider. The time of `AppTest.run()` covers
the script, the dlcore call, the figures and Streamlit's message processing; it is an upper
bound on the server's share of one interaction (the browser's rendering is not included).
AppTest reruns the whole script even where the page uses fragments, so a page whose panels are
fragments is measured pessimistically. The CPU column (all threads of this process) is printed
because shared machines are noisy: on a busy machine the wall time grows, the CPU time less so.

Usage:
    python bench/page_rerun.py activations losses
    python bench/page_rerun.py optimizers --reruns 10 --key opt_steps --target 1.0
    python bench/page_rerun.py backprop --key bp_next   # one Next step of the lesson
    python bench/page_rerun.py activations losses --lang zh   # the same, read in Chinese

Page names are file names under pages/ without ".py". With no --key, a page's default control
(DEFAULT_CONTROLS) is moved, or else its first slider.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streamlit import config  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

# Targets from issue 3 (backprop: issue 13), in seconds; pages not listed report figures
# without a verdict.
TARGETS = {"activations": 0.3, "losses": 0.3, "optimizers": 1.0, "backprop": 0.15}
# The control each page's benchmark moves by default (a slider that changes the computation).
DEFAULT_CONTROLS = {
    "activations": "act_probe",
    "losses": "loss_prediction",
    "backprop": "bp_neuron_w",
}


def _find_control(at: AppTest, key: str | None):
    """The widget to move: by key if given, else the first slider of the page."""
    if key:
        return at.get_by_key(key) if hasattr(at, "get_by_key") else at.slider(key=key)
    if not at.slider:
        raise SystemExit("the page has no slider; pass --key")
    return at.slider[0]


def _values(widget, count: int) -> list:
    """`count` distinct values for the widget, spread over its range (never its start value);
    for a button (e.g. backprop's Next), `count` clicks."""
    kind = type(widget).__name__
    if kind == "Button":
        return [None] * count
    if kind in ("Selectbox", "Radio", "SelectSlider"):
        options = list(widget.options)
        return [
            options[(options.index(str(widget.value)) + 1 + i) % len(options)] for i in range(count)
        ]
    low, high = float(widget.min), float(widget.max)
    start = widget.value[0] if isinstance(widget.value, tuple | list) else widget.value
    values = [low + (high - low) * (i + 0.5) / (count + 1) for i in range(count + 1)]
    values = [v for v in values if abs(v - float(start)) > 1e-9][:count]
    if isinstance(widget.value, tuple | list):
        return [(low, v) for v in values]
    return [type(widget.value)(v) for v in values]


def _move(at: AppTest, key: str | None, value) -> None:
    """Set the control to `value`, or click it if it is a button."""
    control = _find_control(at, key)
    if type(control).__name__ == "Button":
        control.click()
    else:
        control.set_value(value)


def apply_gc_mode(mode: str) -> None:
    """How Python's garbage collector treats the rerun, which matters once TensorFlow is loaded.

    Streamlit runs a full gc.collect() after every script run (runner.postScriptGC, on by
    default) and calls keras.backend.clear_session() (another full collection); with
    TensorFlow's ~400k objects in memory each costs ~200 ms of CPU here. "app" (default) is
    what the served app does (app.py: no clear_session, .streamlit/config.toml: no post-run
    collection, gc.freeze() once TensorFlow is loaded); "config" keeps Streamlit's own
    clear_session and the configured post-run collection; "off" turns that collection off;
    "freeze" keeps it but calls gc.freeze() after warm-up.
    """
    if mode == "app":
        from ui.runtime import freeze_tensorflow_objects

        freeze_tensorflow_objects()
    elif mode == "off":
        config.set_option("runner.postScriptGC", False)
    elif mode == "freeze":
        gc.collect()
        gc.freeze()


def bench_page(
    name: str, reruns: int, key: str | None, gc_mode: str = "config", language: str = "en"
) -> dict:
    """Warm up a page, then time `reruns` reruns each moving one control; figures in seconds."""
    from dlcore import i18n

    with i18n.using(language):  # AppTest formats widget labels in this thread
        return _bench_page(name, reruns, key, gc_mode, language)


def _bench_page(name: str, reruns: int, key: str | None, gc_mode: str, language: str) -> dict:
    if gc_mode == "app":
        from ui.runtime import keep_keras_state

        keep_keras_state()
    at = AppTest.from_file(str(REPO / "pages" / f"{name}.py"), default_timeout=300)
    at.session_state["language"] = language  # what app.py settles for the session
    started = time.perf_counter()
    at.run()
    cold = time.perf_counter() - started
    apply_gc_mode(gc_mode)
    if at.exception:
        raise SystemExit(f"{name}: the page raised {at.exception[0].message}")
    key = key or DEFAULT_CONTROLS.get(name)
    control = _find_control(at, key)
    values = _values(control, reruns + 1)
    _move(at, key, values[0])
    at.run()  # one more warm-up: the first interaction may still build caches
    timings, cpu = [], []
    for value in values[1:]:
        _move(at, key, value)
        started, cpu_started = time.perf_counter(), time.process_time()
        at.run()
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        if at.exception:
            raise SystemExit(f"{name}: the page raised {at.exception[0].message}")
    timings.sort()
    return {
        "page": name,
        "control": key or "first slider",
        "cold_s": cold,
        "median_s": statistics.median(timings),
        "cpu_median_s": statistics.median(cpu),
        "p90_s": timings[min(len(timings) - 1, int(0.9 * len(timings)))],
        "min_s": timings[0],
        "max_s": timings[-1],
        "reruns": len(timings),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", help="page names, e.g. activations losses")
    parser.add_argument("--reruns", type=int, default=15, help="timed reruns per page")
    parser.add_argument("--key", help="key of the control to move (default: per page)")
    parser.add_argument("--target", type=float, help="target median in seconds (overrides)")
    parser.add_argument(
        "--gc",
        choices=["app", "config", "off", "freeze"],
        default="app",
        help="post-run cleanup: as the app does (default), Streamlit's own, off, or frozen",
    )
    parser.add_argument("--lang", choices=["en", "zh"], default="en", help="the session's language")
    args = parser.parse_args(argv)
    print(f"runner.postScriptGC={config.get_option('runner.postScriptGC')} gc mode={args.gc}")
    failed = False
    print(
        f"{'page':<14}{'control':<18}{'cold':>8}{'median':>9}{'p90':>8}{'min':>8}{'max':>8}"
        f"{'cpu':>8}{'target':>8}{'ratio':>7}"
    )
    for name in args.pages:
        result = bench_page(name, args.reruns, args.key, args.gc, args.lang)
        target = args.target or TARGETS.get(name)
        ratio = result["median_s"] / target if target else float("nan")
        failed |= bool(target) and ratio > 1
        print(
            f"{name:<14}{result['control']:<18}{result['cold_s']:>7.2f}s"
            f"{result['median_s'] * 1e3:>7.0f}ms{result['p90_s'] * 1e3:>6.0f}ms"
            f"{result['min_s'] * 1e3:>6.0f}ms{result['max_s'] * 1e3:>6.0f}ms"
            f"{result['cpu_median_s'] * 1e3:>6.0f}ms"
            f"{(target or float('nan')) * 1e3:>6.0f}ms{ratio:>7.2f}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
