"""Deep Learning Playground: page config, navigation and the shared sidebar."""

import sys

import streamlit as st

from dlcore import cache, readable, settings
from dlcore.i18n import N_, _, ngettext
from ui import language
from ui.catalog import HOME, TUTORIAL, listed_lessons, tutorial_sections
from ui.runtime import freeze_tensorflow_objects, import_tensorflow_once, keep_keras_state

# First: the page title and the navigation below are already in the learner's language.
language.choose_language()
st.set_page_config(page_title=_("Deep Learning Playground"), page_icon="🧠", layout="wide")
keep_keras_state()

home = st.Page(HOME.path, title=_(HOME.title), icon=HOME.icon, default=True)
lessons = [st.Page(p.path, title=_(p.title), icon=p.icon) for p in listed_lessons()]
page = st.navigation([home, *lessons])


MIXED_PRECISION = N_(
    "Mixed precision: the MNIST network's hidden layers compute with 16-bit numbers while its "
    "weights and its output stay 32-bit, which is faster on hardware built for it."
)
# Why dlcore.device chose the policy, by its dlcore.device.PRECISION_REASONS code.
PRECISION_REASONS = {
    "native_bf16": N_(
        "It is on here: this CPU has native bfloat16 instructions (AMX or AVX-512 "
        "BF16), where the MNIST recipe measured about 1.5× less CPU time than float32 at the same "
        "test accuracy."
    ),
    "no_native_bf16": N_(
        "It is off here (float32 throughout): this CPU has no native bfloat16 "
        "instructions (AMX or AVX-512 BF16), and emulated 16-bit arithmetic measured slower than "
        "float32."
    ),
    "tensor_cores": N_(
        "It is on here: every GPU has tensor cores (compute capability 7.0 or more), "
        "built for float16 arithmetic."
    ),
    "no_tensor_cores": N_(
        "It is off here (float32 throughout): a GPU below compute capability 7.0 "
        "has no tensor cores, so float16 would not be faster."
    ),
}


def precision_help(info) -> str:
    """What mixed precision is, and why dlcore.device turned it on or off on this machine."""
    reason = PRECISION_REASONS.get(info.precision_reason)
    if reason is None:  # "override"
        return _(
            "Mixed precision: the MNIST network's hidden layers compute with 16-bit numbers "
            "while its weights and its output stay 32-bit, which is faster on hardware built "
            "for it. Here {policy} is set by the server's DLCORE_PRECISION setting, not chosen "
            "for this machine.",
            policy=info.policy,
        )
    return _("{what} {why}", what=_(MIXED_PRECISION), why=_(reason))


def device_line(info) -> str:
    """The device summary (dlcore.device's, in English for logs) in the learner's language."""
    if info.kind == "GPU":
        return _(
            "GPU · {name} ×{count} · {policy}", name=info.name, count=info.count, policy=info.policy
        )
    return ngettext(
        "CPU · {count} core · {policy}",
        "CPU · {count} cores · {policy}",
        info.count,
        policy=info.policy,
    )


def render_sidebar(slot) -> None:
    """Compute device (once a page has loaded TensorFlow) and the number of cached models."""
    with slot.container():
        if "tensorflow" in sys.modules:
            from dlcore import device

            info = device.configure()
            st.caption(
                _("Compute: **{device}**", device=device_line(info)), help=precision_help(info)
            )
        else:
            st.caption(_("Compute: TensorFlow loads when a page needs it"))
        if settings.broker_url():
            st.caption(_("Training: on the class's shared workers (this server only reads models)"))
        count = readable.grouped(cache.count_entries())
        st.caption(_("Cached trained models: **{count}**", count=count))


def render_tutorial_sections(path: str) -> None:
    """Which sections of the tutorial the open lesson explores (Home maps them all)."""
    sections = tutorial_sections(path)
    if sections:
        listed = _("; ").join(f"§{number} {_(heading)}" for number, heading in sections)
        st.sidebar.caption(
            _(
                "This lesson follows the tutorial 《{title}》: {sections}.",
                title=TUTORIAL,
                sections=listed,
            )
        )


# The slot is made before the page runs so it keeps its place; it is filled afterwards so
# that it can tell whether the page loaded TensorFlow.
language.render_switch()
render_tutorial_sections(page.url_path and f"pages/{page.url_path}.py")
sidebar_slot = st.sidebar.empty()
if page.url_path:  # every page but Home computes with TensorFlow
    import_tensorflow_once()
page.run()
render_sidebar(sidebar_slot)
freeze_tensorflow_objects()
