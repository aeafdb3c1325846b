"""The pages the app lists, in order: app.py builds the navigation from this, Home its cards.

A page is added here only once it works; Home links only to pages listed here.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    path: str
    title: str
    icon: str
    blurb: str


HOME = PageInfo("pages/home.py", "Home", "🏠", "What deep learning is, and where to start.")

LESSONS = [
    PageInfo(
        "pages/activations.py",
        "Activations",
        "📈",
        "Sigmoid, ReLU, tanh and friends with their derivatives: saturation and "
        "vanishing gradients, seen.",
    ),
    PageInfo(
        "pages/losses.py",
        "Losses",
        "🎯",
        "Move a prediction and watch MSE, cross-entropy and others respond, gradient included.",
    ),
    PageInfo(
        "pages/backprop.py",
        "Forward & backward",
        "🔄",
        "Step a small network forward node by node, then back with the chain rule, number "
        "by number; one update lowers the loss.",
    ),
    PageInfo(
        "pages/optimizers.py",
        "Optimizers",
        "🏁",
        "Gradient descent, momentum, RMSprop and Adam race on 2-D loss surfaces.",
    ),
    PageInfo(
        "pages/regression.py",
        "Regression",
        "📉",
        "Predict a house price from its area with a 1→10→1 network, trained live.",
    ),
    PageInfo(
        "pages/mnist.py",
        "MNIST CNN",
        "✍️",
        "Train a convolutional network on handwritten digits, then let it read yours.",
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
