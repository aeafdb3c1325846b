"""dlcore.i18n: each reader gets their own language, never the first visitor's."""

import ast
import re
import string
import sys
import threading
from pathlib import Path

import pytest
from babel.messages.extract import extract
from babel.messages.pofile import read_po

from dlcore import i18n
from dlcore.i18n import Message, _

TUTORIAL_HEADINGS = Path(__file__).resolve().parents[2] / "shared" / "seed" / "tutorial.md"


def test_browser_locales_and_query_values_map_onto_the_two_languages():
    assert [i18n.negotiate(v) for v in ("zh-CN", "zh-Hans-CN", "ZH", "en-US", "de", "", None)] == [
        "zh",
        "zh",
        "zh",
        "en",
        "en",
        "en",
        "en",
    ]


def test_two_threads_read_in_their_own_language_at_the_same_time():
    seen, both_set = {}, threading.Barrier(2)

    def read(language):
        with i18n.using(language):
            both_set.wait(timeout=5)  # both languages are set before either reads
            seen[language] = _("Language")

    threads = [threading.Thread(target=read, args=(lang,)) for lang in ("zh", "en")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"zh": "语言", "en": "Language"}


def test_the_resolver_answers_only_where_no_language_was_set_explicitly():
    previous = i18n.set_resolver(lambda: "zh")
    try:
        assert _("Language") == "语言"
        with i18n.using("en"):
            assert _("Language") == "Language"
    finally:
        i18n.set_resolver(previous)  # the UI's lookup, for the page tests that follow


def test_a_resolver_answer_that_is_not_a_language_falls_back_to_english():
    previous = i18n.set_resolver(lambda: "klingon")
    try:
        assert i18n.current_language() == "en"
    finally:
        i18n.set_resolver(previous)


def test_an_unknown_language_is_refused_by_name():
    with pytest.raises(ValueError, match="'fr'.*en, zh"), i18n.using("fr"):
        pass


def test_a_message_is_translated_when_read_not_when_written():
    message = Message("Language")
    with i18n.using("zh"):
        assert str(message) == "语言" and f"[{message:>4}]" == "[  语言]"
    assert str(message) == "Language"


def test_untranslated_messages_read_in_english_with_their_placeholders_filled():
    with i18n.using("zh"):
        assert _("{count} new words", count=3) == "3 new words"
        assert i18n.ngettext("{count} learner", "{count} learners", 2) == "2 learners"


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_catalogue_passes_babels_checks_and_keeps_every_placeholder():
    catalogue = i18n.read_catalogue("zh")
    problems = [(msg.id, str(error)) for msg, errors in catalogue.check() for error in errors]
    assert not problems  # Babel: %-placeholders and plural forms
    assert not [message.id for message in catalogue if message.id and message.fuzzy]
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {message.id!r}"
        expected = set().union(*(placeholders(i) for i in ids))
        for text in strings:  # {name} placeholders: Babel does not check brace format
            assert placeholders(text) <= expected, (message.id, text)
            assert placeholders(text) >= placeholders(ids[-1]) - {"count"}, (message.id, text)


def test_a_message_in_two_area_files_has_one_translation():
    seen = {}
    for path in i18n.catalogue_files("zh"):
        with path.open("rb") as po_file:
            for message in read_po(po_file, locale="zh_CN"):
                if message.id:
                    assert seen.setdefault(message.id, message.string) == message.string, (
                        path.name,
                        message.id,
                    )


def test_the_term_table_is_well_formed():
    rows = i18n.terms()
    assert len({row["english"] for row in rows}) == len(rows) >= 25
    assert all(re.fullmatch(r"\d+(\.\d+)*", row["tutorial_section"]) for row in rows)
    assert all(re.search(r"[\u4e00-\u9fff]", row["chinese"]) for row in rows)


def test_each_term_is_the_tutorials_own_word_in_the_section_named():
    rows = i18n.terms()
    if not TUTORIAL_HEADINGS.exists():
        pytest.skip("the tutorial is not next to this checkout")
    text = TUTORIAL_HEADINGS.read_text(encoding="utf-8")
    sections = set(re.findall(r"^#+ (\d+(?:\.\d+)*)", text, flags=re.MULTILINE))
    for row in rows:
        assert row["tutorial_section"] in sections, row
        core = re.sub(r"（.*?）", "", row["chinese"])
        assert core in text, row  # the tutorial's own word for it


REPO = Path(__file__).resolve().parents[1]
KEYWORDS = {"_": None, "N_": None, "Message": None, "ngettext": (1, 2)}
SOURCE_DIRS = ("app.py", "pages", "ui", "dlcore")


def translated_modules() -> list[str]:
    """The modules that have gone through the translation pass: those that use dlcore.i18n
    (the pass is per module, issue 14; when it is done this is every module)."""
    found = []
    for entry in SOURCE_DIRS:
        paths = [REPO / entry] if entry.endswith(".py") else sorted((REPO / entry).rglob("*.py"))
        for path in paths:
            text = path.read_text(encoding="utf-8")
            if "from dlcore.i18n import" in text or "from dlcore import i18n" in text:
                found.append(str(path.relative_to(REPO)))
    return [path for path in found if path != "dlcore/i18n.py"]


def extracted_ids(path: str) -> set[str]:
    with (REPO / path).open("rb") as source:
        found = extract("python", source, keywords=KEYWORDS)
        return {ids if isinstance(ids, str) else ids[0] for _, ids, _, _ in found}


def test_every_message_of_a_translated_module_has_its_chinese_translation():
    catalogue = i18n.read_catalogue("zh")
    modules = translated_modules()
    assert {"dlcore/data.py", "dlcore/images.py", "ui/language.py"} <= set(modules)
    for path in modules:
        missing = {m for m in extracted_ids(path) if m and not catalogue.get(m)}
        assert not missing, f"{path}: no Chinese for {sorted(missing)}"


def test_a_refused_upload_reads_in_each_learners_language_even_when_remembered():
    from dlcore import data
    from dlcore.errors import InvalidDataset

    raw = b"area,price\n1,2\n"
    with i18n.using("zh"), pytest.raises(InvalidDataset) as chinese:
        data.load_house_prices_csv(raw, "area", "price")
    with pytest.raises(InvalidDataset) as english:  # the same file, remembered refusal
        data.load_house_prices_csv(raw, "area", "price")
    assert str(english.value) == "The file has 1 rows; at least 10 needed."
    with i18n.using("zh"):
        assert str(chinese.value) == str(english.value) == "文件只有 1 行，至少需要 10 行。"


def test_an_uploaded_photo_is_read_in_the_learners_language():
    from dlcore import images
    from dlcore.errors import InvalidImage
    from tests.support.hostile import draw_seven, encode

    prepared = images.prepare_digit(encode(draw_seven()))
    with i18n.using("zh"):
        assert [str(name) for name, _ in prepared.stages][:2] == ["原图", "方向已校正"]
        with pytest.raises(InvalidImage) as refused:
            images.prepare_digit(b"")
        assert str(refused.value) == "文件是空的。"
    assert str(refused.value) == "The file is empty."


DISPLAY_CALLS = {
    "markdown", "caption", "write", "title", "header", "subheader", "button", "slider",
    "select_slider", "selectbox", "radio", "info", "warning", "error", "success", "toggle",
    "checkbox", "number_input", "text_input", "text_area", "file_uploader", "tabs", "expander",
    "metric", "download_button", "segmented_control", "pills", "multiselect", "toast",
    "popover", "form_submit_button", "page_link", "status", "spinner", "link_button",
    "progress", "table_title",
}  # fmt: skip
LOGS = {"logger", "logging", "warnings"}
DISPLAY_KEYWORDS = {"label", "help", "placeholder", "caption", "text", "body", "title"}


def _untranslated(node) -> bool:
    """A literal with words in it (an f-string included) where a message belongs."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.search(r"[A-Za-z]{2,}", node.value) is not None
    if isinstance(node, ast.JoinedStr):
        return any(
            isinstance(part, ast.Constant) and re.search(r"[A-Za-z]{2,}", part.value)
            for part in node.values
        )
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(_untranslated(item) for item in node.elts)
    return False


def untranslated_display_strings(path: str) -> list[str]:
    """Display calls of a module (st.markdown, labels, help=...) given literal English."""
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in DISPLAY_CALLS:
            continue
        receiver = node.func.value
        if isinstance(receiver, ast.Name) and receiver.id in LOGS:
            continue  # a log line for the operator, not a text on the page
        shown = node.args[:1] + [k.value for k in node.keywords if k.arg in DISPLAY_KEYWORDS]
        found += [f"{path}:{node.lineno}" for item in shown if _untranslated(item)]
    return found


def ui_modules() -> list[str]:
    """app.py, every page and every ui module: where learners' texts are shown."""
    paths = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]
    paths += sorted((REPO / "ui").rglob("*.py"))
    return [str(path.relative_to(REPO)) for path in paths]


def test_no_page_or_ui_module_shows_literal_english():
    """Every text shown goes through the catalogue: a page added without it fails here."""
    shown = ui_modules()
    assert [line for path in shown for line in untranslated_display_strings(path)] == []


def test_the_literal_english_scan_can_fail(tmp_path, monkeypatch):
    page = tmp_path / "page.py"
    page.write_text(
        "import streamlit as st\nfrom dlcore.i18n import _\n"
        "st.button(_('Train'), key='ok')\nst.caption(f'Trained in {t} s')\n"
        "st.slider('Epochs', 1, 9, help=_('How many passes'))\nst.latex('x^2')\n"
        "logger.warning('for the operator')\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert untranslated_display_strings("page.py") == ["page.py:4", "page.py:5"]


def test_the_chinese_readme_is_linked_and_covers_what_the_english_one_does():
    english = (REPO / "README.md").read_text(encoding="utf-8")
    chinese = (REPO / "README.zh-CN.md").read_text(encoding="utf-8")
    assert "](README.zh-CN.md)" in english.splitlines()[2] and "](README.md)" in chinese
    sections = [re.findall(r"^## ", text, flags=re.MULTILINE) for text in (english, chinese)]
    assert len(sections[0]) == len(sections[1])
    pages = [re.findall(r"^\| \*\*", text, flags=re.MULTILINE) for text in (english, chinese)]
    assert len(pages[0]) == len(pages[1]) >= 7  # one row per page, Home included
    assert chinese_share_of(chinese) > 0.5


def chinese_share_of(text: str) -> float:
    from tests.support.i18n import chinese_share

    prose = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)  # code stays code
    return chinese_share(prose)
