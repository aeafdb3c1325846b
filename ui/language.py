"""The learner's language: the browser's by default, ``?lang=`` to override, a sidebar switch.

The choice lives in the learner's session (so it survives page changes and reruns) and is
handed to ``dlcore.i18n`` through a resolver that reads the session of whichever script
run is asking, so every page, fragment and ``dlcore`` message reads in that learner's
language while another learner on the same server reads in theirs.
"""

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dlcore import i18n

LANGUAGE_KEY = "language"  # the session's language code: "en" or "zh"
SWITCH_KEY = "language_switch"
_QUERY_SEEN_KEY = "language_query_seen"  # the last ?lang= applied, so the switch can win


def _session_language() -> str | None:
    """The language of the session whose script is running now (None outside a script run)."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    return st.session_state.get(LANGUAGE_KEY)


# Installed on import: every page and fragment imports ui, so every lookup made while a
# script runs reads that session's language (English until the session has one).
i18n.set_resolver(_session_language)


def choose_language() -> str:
    """Settle this run's language: a new ``?lang=``, else the session's, else the browser's."""
    asked = st.query_params.get("lang")
    if asked is not None and asked != st.session_state.get(_QUERY_SEEN_KEY):
        st.session_state[_QUERY_SEEN_KEY] = asked
        st.session_state[LANGUAGE_KEY] = i18n.negotiate(asked)
    if st.session_state.get(LANGUAGE_KEY) not in i18n.LANGUAGES:
        st.session_state[LANGUAGE_KEY] = i18n.negotiate(st.context.locale)
    return st.session_state[LANGUAGE_KEY]


def _switched() -> None:
    chosen = st.session_state[SWITCH_KEY]
    if chosen is None:  # clicking the selected language again deselects it: keep it
        return
    st.session_state[LANGUAGE_KEY] = chosen
    st.session_state[_QUERY_SEEN_KEY] = chosen
    st.query_params["lang"] = chosen  # a shared link opens in the language on screen


def render_switch() -> None:
    """The sidebar's language switch (its labels are each language's own name)."""
    st.session_state[SWITCH_KEY] = st.session_state[LANGUAGE_KEY]
    st.sidebar.segmented_control(
        i18n._("Language"),
        options=list(i18n.LANGUAGES),
        format_func=i18n.LANGUAGES.get,
        key=SWITCH_KEY,
        on_change=_switched,
    )
