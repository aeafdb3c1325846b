"""Process-wide Streamlit settings the app relies on, applied from app.py and the pages."""

from __future__ import annotations

import gc
import logging
import sys
import threading

import streamlit as st


def ensure_app_navigation() -> None:
    """Make sure app.py's navigation is in charge, whichever URL a fresh server sees first.

    Streamlit starts in its legacy multipage mode when a `pages/` folder sits next to the
    main script, and leaves it only once a run of app.py calls `st.navigation`. If the
    first request of a fresh server is a page link (say `/mnist`), Streamlit runs that page
    file directly and every later session would get the legacy sidebar listing every file
    in pages/. Each page calls this first: it switches the server to app.py's navigation
    and reruns, which lands on the same page (page hashes derive from the URL path).
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_import_lock = threading.Lock()
logger = logging.getLogger(__name__)
replaced_cleanup = None  # Streamlit's own per-run cleanup, once keep_keras_state replaced it


def import_tensorflow_once() -> None:
    """Import TensorFlow and Keras under one process-wide lock before a page uses them.

    When many sessions of a fresh server open TensorFlow pages at the same moment, their
    script threads would import TensorFlow concurrently; under load (25 sessions) that left
    the process broken until restarted (bench/load --cold). One lock makes the first import
    happen once, the others wait for it; afterwards this costs a lock acquisition.
    """
    with _import_lock:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


def _close_pyplot_only() -> None:
    """Streamlit's after-run cleanup without its `keras.backend.clear_session()`."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")


def keep_keras_state() -> None:
    """Stop every script run from resetting Keras and forcing full garbage collections.

    After each run Streamlit calls `keras.backend.clear_session()` once Keras is imported:
    that resets Keras' global state for every thread (a background training job's too),
    clears TensorFlow's kernel cache and forces a full collection; then it runs another
    full collection (`runner.postScriptGC`, switched off in .streamlit/config.toml). With
    TensorFlow loaded each collection holds the GIL for 0.1-0.4 s: polling a training job
    at 2 Hz slowed it about 10x, and a concept-page rerun cost 3x its own work (measured;
    see bench/regression_live.py and bench/page_rerun.py). The private function replaced
    here is pinned by tests/app/test_runtime_pins.py, so an upgrade that changes it fails.
    """
    global replaced_cleanup
    from streamlit.runtime.scriptrunner import script_runner

    current = getattr(script_runner, "_clean_problem_modules", None)
    if current is None:
        logger.warning(
            "Streamlit has no script_runner._clean_problem_modules any more: "
            "Keras is reset after every run (see tests/app/test_runtime_pins.py)"
        )
    elif current is not _close_pyplot_only:
        replaced_cleanup = current
        script_runner._clean_problem_modules = _close_pyplot_only


def freeze_tensorflow_objects() -> None:
    """Once TensorFlow is loaded, move its ~400k long-lived objects out of the collector's
    sight (`gc.freeze`), so Python's automatic collections stay cheap for every rerun."""
    if "tensorflow" in sys.modules and not getattr(freeze_tensorflow_objects, "done", False):
        gc.collect()
        gc.freeze()
        freeze_tensorflow_objects.done = True
