"""Pins on the two private Streamlit internals ui/runtime.py adjusts: a Streamlit upgrade that
removes or changes what they patch must fail here, loudly, not silently undo the fix."""

from __future__ import annotations

import inspect

from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from ui import runtime

SCRIPT = """
import keras
import streamlit as st
st.write("Keras is imported")
"""


def test_script_runs_leave_keras_state_alone_once_keep_keras_state_ran(monkeypatch):
    """Streamlit's own cleanup calls keras.backend.clear_session() after every run, resetting
    Keras for every thread (a training job's too); with the patch no run calls it."""
    import keras

    resets = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: resets.append(1))
    runtime.keep_keras_state()
    at = AppTest.from_string(SCRIPT, default_timeout=120).run()
    at.run()
    assert not at.exception and resets == []


def test_what_keep_keras_state_replaces_is_streamlits_keras_reset_run_after_each_run():
    runtime.keep_keras_state()
    assert script_runner._clean_problem_modules is runtime._close_pyplot_only
    assert "clear_session()" in inspect.getsource(runtime.replaced_cleanup)
    assert "_clean_problem_modules" in inspect.getsource(script_runner.ScriptRunner._run_script)


def test_the_legacy_pages_switch_ensure_app_navigation_flips_still_exists():
    assert "uses_pages_directory" in vars(PagesManager)
    assert "uses_pages_directory" in inspect.getsource(PagesManager)
