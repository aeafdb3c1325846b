"""What a learner reads on a page, and how much of it is Chinese (the i18n checks)."""

import re

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
# What stays as it is in both languages: formulas, code, units, names of things.
KEPT = re.compile(
    r"\$[^$]*\$|`[^`]*`|\\\(.*?\\\)|https?://\S+|\b(?:ReLU|GELU|ELU|SELU|MNIST|CNN|Keras|"
    r"TensorFlow|Adam|AdamW|Nadam|RMSprop|Adagrad|Adadelta|SGD|MSE|MAE|RMSE|CSV|PNG|JPEG|"
    r"softmax|softplus|softsign|swish|tanh|sigmoid|float32|bfloat16|GPU|CPU|tf\.\w+)\b",
    flags=re.IGNORECASE,
)


def visible_text(at) -> str:
    """The words an AppTest page shows: markdown, captions, titles, alerts, labels, help."""
    parts = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "info",
        "warning",
        "error",
        "success",
    ):
        parts += [str(element.value) for element in getattr(at, kind)]
    for kind in (
        "button",
        "slider",
        "selectbox",
        "radio",
        "checkbox",
        "toggle",
        "number_input",
        "select_slider",
        "text_input",
        "multiselect",
        "tabs",
    ):
        parts += [str(getattr(element, "label", "") or "") for element in getattr(at, kind)]
    return "\n".join(parts)


def chinese_share(text: str) -> float:
    """Share of Chinese among the letters of text, formulas, code and names left out:
    1.0 for all-Chinese prose, 0.0 for English (each Latin word counts as one letter)."""
    text = KEPT.sub(" ", text)
    chinese = len(CJK.findall(text))
    latin = len(LATIN_WORD.findall(text))
    return chinese / (chinese + latin) if chinese + latin else 0.0
