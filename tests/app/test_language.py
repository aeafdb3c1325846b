"""The learner's language: browser default, ?lang= override, sidebar switch, per session."""

from streamlit.testing.v1 import AppTest


def language_demo():
    import streamlit as st

    from dlcore import i18n
    from ui import language

    language.choose_language()
    language.render_switch()
    st.markdown(i18n._("Language"))
    st.caption(str(i18n.Message("Language")))


def shown(at: AppTest) -> list[str]:
    return [at.markdown[0].value, at.caption[0].value]


def run(at: AppTest) -> AppTest:
    at.run(timeout=30)
    assert not at.exception, at.exception
    return at


def test_the_browser_locale_is_the_default():
    chinese = AppTest.from_function(language_demo)
    chinese.context["locale"] = "zh-CN"
    assert shown(run(chinese)) == ["语言", "语言"]
    english = AppTest.from_function(language_demo)
    english.context["locale"] = "en-GB"
    assert shown(run(english)) == ["Language", "Language"]


def test_lang_in_the_url_overrides_the_browser_and_the_switch_overrides_both():
    at = AppTest.from_function(language_demo)
    at.context["locale"] = "en-US"
    at.query_params["lang"] = "zh"
    assert shown(run(at)) == ["语言", "语言"]
    at.sidebar.get("segmented_control")[0].set_value("en")
    assert shown(run(at)) == ["Language", "Language"]
    assert shown(run(at)) == ["Language", "Language"]  # and it stays on the next rerun


def test_two_sessions_keep_their_own_language():
    first, second = AppTest.from_function(language_demo), AppTest.from_function(language_demo)
    first.query_params["lang"] = "zh"
    second.query_params["lang"] = "en"
    run(first), run(second)
    assert shown(run(first)) == ["语言", "语言"] and shown(second) == ["Language", "Language"]
