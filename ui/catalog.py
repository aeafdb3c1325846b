"""The pages the app lists, in order: app.py builds the navigation from this, Home its cards.

A page is added here only once it works; Home links only to pages listed here.
"""

from dataclasses import dataclass

from dlcore.i18n import N_


@dataclass(frozen=True)
class PageInfo:
    """A listed page; its title and blurb are catalogue messages, shown through ``_()``."""

    path: str
    title: str
    icon: str
    blurb: str


HOME = PageInfo("pages/home.py", N_("Home"), "🏠", N_("What deep learning is, and where to start."))

LESSONS = [
    PageInfo(
        "pages/activations.py",
        N_("Activations"),
        "📈",
        N_(
            "Sigmoid, ReLU, tanh and friends with their derivatives: saturation and "
            "vanishing gradients, seen."
        ),
    ),
    PageInfo(
        "pages/losses.py",
        N_("Losses"),
        "🎯",
        N_("Move a prediction and watch MSE, cross-entropy and others respond, gradient included."),
    ),
    PageInfo(
        "pages/backprop.py",
        N_("Forward & backward"),
        "🔄",
        N_(
            "Step a small network forward node by node, then back with the chain rule, number "
            "by number; one update lowers the loss."
        ),
    ),
    PageInfo(
        "pages/optimizers.py",
        N_("Optimizers"),
        "🏁",
        N_("Gradient descent, momentum, RMSprop and Adam race on 2-D loss surfaces."),
    ),
    PageInfo(
        "pages/regression.py",
        N_("Regression"),
        "📉",
        N_("Predict a house price from its area with a 1→10→1 network, trained live."),
    ),
    PageInfo(
        "pages/mnist.py",
        N_("MNIST CNN"),
        "✍️",
        N_("Train a convolutional network on handwritten digits, then let it read yours."),
    ),
]

# Only pages that exist and work are listed; each issue adds its page here when it lands.
AVAILABLE = {
    "pages/home.py",
    "pages/activations.py",
    "pages/losses.py",
    "pages/backprop.py",
    "pages/optimizers.py",
    "pages/regression.py",
    "pages/mnist.py",
}


def listed_lessons() -> list[PageInfo]:
    """The lesson pages that are live, in course order."""
    return [page for page in LESSONS if page.path in AVAILABLE]


# The tutorial this playground grew from, and which lesson explores each of its sections:
# (section, its heading, the lesson). The headings' Chinese is the tutorial's own.
TUTORIAL = "思想的深度：从概念到洞见"
TUTORIAL_MAP = [
    ("2.3", N_("Activation functions"), "pages/activations.py"),
    ("2.5", N_("Forward and backward propagation"), "pages/backprop.py"),
    ("4.1.1", N_("Loss functions"), "pages/losses.py"),
    ("4.1.2", N_("Optimization algorithms"), "pages/optimizers.py"),
    ("4.2.1", N_("Mean squared error (MSE)"), "pages/regression.py"),
    ("4.2.2", N_("Cross-entropy"), "pages/losses.py"),
    ("4.2.2", N_("Cross-entropy"), "pages/mnist.py"),
    ("5", N_("Hands-on project: the code explained"), "pages/mnist.py"),
]


def tutorial_sections(path: str) -> list[tuple[str, str]]:
    """The tutorial's sections (number, heading message) a lesson explores, in order."""
    return [(section, heading) for section, heading, target in TUTORIAL_MAP if target == path]
