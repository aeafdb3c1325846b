"""The two downloads every finished training offers: the Keras model and its history."""

from __future__ import annotations

import streamlit as st

from dlcore import models
from dlcore.i18n import _


def model_and_history(result, model_file: str, history_csv: bytes, history_file: str) -> None:
    """Two buttons side by side; the model is serialized only when its button is pressed."""
    left, right = st.columns(2)
    left.download_button(
        _("Download the model (.keras)"),
        lambda: models.model_bytes(result.model),
        model_file,
        on_click="ignore",
        key=f"download_{model_file}",
    )
    right.download_button(
        _("Download the history (.csv)"),
        history_csv,
        history_file,
        "text/csv",
        on_click="ignore",
        key=f"download_{history_file}",
    )
