"""The pages' select boxes list registry names (shown by their registry labels), every one of
which the page can show at once; see tests/test_name_lists.py for the lists in dlcore."""

import pytest

from dlcore import activations, backprop, losses, optimizers
from dlcore.configs import REGRESSION_ACTIVATIONS, REGRESSION_OPTIMIZERS
from tests.app.conftest import page_test
from ui.backprop_network import PRESET_TITLES


def activation(name: str) -> str:
    return activations.get(name).title


def loss(name: str) -> str:
    return losses.get(name).title


def surface(name: str) -> str:
    return optimizers.get_surface(name).label


def optimizer(name: str) -> str:
    return optimizers.get(name).label


# Page -> (widget kind, key, the registry names it must offer, the label each is shown by).
CHOICES = {
    "pages/activations.py": [
        ("multiselect", "act_selected", activations.elementwise_names(), activation),
        ("multiselect", "act_depth_selected", activations.elementwise_names(), activation),
    ],
    "pages/losses.py": [
        ("multiselect", "loss_selected", losses.regression_names(), loss),
        ("selectbox", "loss_we_name", losses.names(), loss),
    ],
    "pages/backprop.py": [
        ("selectbox", "bp_preset", backprop.presets(), PRESET_TITLES.get),
    ],
    "pages/optimizers.py": [
        ("selectbox", "opt_surface", optimizers.surfaces(), surface),
        ("multiselect", "opt_chosen", optimizers.names(), optimizer),
    ],
    "pages/regression.py": [
        ("selectbox", "reg_opt", REGRESSION_OPTIMIZERS, optimizer),
        ("selectbox", "reg_act", REGRESSION_ACTIVATIONS, str),
    ],
}


@pytest.mark.parametrize("page", list(CHOICES))
def test_select_boxes_offer_the_registry_names_and_take_all_of_them(page):
    at = page_test(page).run()
    assert not at.exception
    for kind, key, names, label in CHOICES[page]:
        widget = getattr(at, kind)(key=key)
        assert list(widget.options) == [label(name) for name in names], key
        chosen = widget.value if kind == "multiselect" else [widget.value]
        assert set(chosen) <= set(names), key
    for kind, key, names, _ in CHOICES[page]:
        if kind == "multiselect":  # every name at once: the page's colours and tables cover all
            at.multiselect(key=key).set_value(list(names)).run()
            assert not at.exception, key
