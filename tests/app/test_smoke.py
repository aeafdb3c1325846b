"""Every page the navigation lists renders through app.py without an exception."""

import pytest

from dlcore import device, i18n
from tests.app.conftest import page_test
from tests.support.i18n import chinese_share, visible_text
from ui.catalog import HOME, TUTORIAL, listed_lessons, tutorial_sections


def test_app_shell_shows_home_and_the_sidebar_status():
    at = page_test("app.py").run()
    assert not at.exception
    assert at.title[0].value.endswith("Deep Learning Playground")
    captions = " ".join(c.value for c in at.caption)
    assert "Cached trained models: **0**" in captions
    assert "Compute:" in captions


@pytest.mark.parametrize("path", [HOME.path] + [p.path for p in listed_lessons()])
def test_every_listed_page_renders(path):
    at = page_test("app.py", timeout=180).run()
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{path} shows no title"


@pytest.mark.parametrize("path", [HOME.path] + [p.path for p in listed_lessons()])
def test_every_listed_page_reads_in_chinese_with_lang_zh(path):
    """?lang=zh in the URL: the page, its sidebar and its navigation read in Chinese (the
    Home glossary and the tutorial's title keep some English by design: both terms)."""
    at = page_test("app.py", timeout=180)
    at.query_params["lang"] = "zh"
    with i18n.using("zh"):  # AppTest formats widget labels in this thread, outside the run
        at.run()
        at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    assert chinese_share(visible_text(at)) > 0.8, visible_text(at)
    assert any(widget.label == "语言" for widget in at.sidebar.get("segmented_control"))


def test_the_sidebar_switch_changes_the_language_in_one_rerun_and_keeps_it_across_pages():
    at = page_test("app.py", timeout=180)
    at.query_params["lang"] = "zh"
    at.run()
    assert at.session_state["language"] == "zh"
    with i18n.using("zh"):
        at.sidebar.get("segmented_control")[0].set_value("en").run()
    assert at.session_state["language"] == "en" and chinese_share(visible_text(at)) < 0.2
    at.switch_page("pages/losses.py").run()
    shown = visible_text(at).replace(TUTORIAL, "")  # the tutorial's own (Chinese) title
    assert chinese_share(shown) == 0  # still English on the next page


def compute_help(at) -> str:
    """The hover help of the sidebar's compute line (shown once a page has loaded TensorFlow,
    as every page but Home does)."""
    import tensorflow  # noqa: F401

    at.run()
    return next(c.help for c in at.caption if c.value.startswith("Compute:"))


def configured_as(plan: device.DevicePlan) -> device.DeviceInfo:
    return device.DeviceInfo(
        plan.kind, plan.name, plan.count, plan.policy, None, plan.summary, plan.precision_reason
    )


@pytest.mark.parametrize(
    ("gpus", "cpu_flags", "why"),
    [
        ([], {"amx_bf16"}, "It is on here: this CPU has native bfloat16 instructions"),
        ([], {"avx2"}, "It is off here (float32 throughout): this CPU has no native bfloat16"),
        ([device.GpuSpec("Tesla T4", (7, 5))], set(), "It is on here: every GPU has tensor cores"),
        ([device.GpuSpec("Tesla K80", (3, 7))], set(), "It is off here (float32 throughout)"),
    ],
)
def test_the_sidebar_says_what_mixed_precision_is_and_why_the_device_chose(
    gpus, cpu_flags, why, monkeypatch
):
    """The compute line's help follows dlcore.device's decision (planned here for machines
    this runner is not); a policy forced by DLCORE_PRECISION is said to be forced."""
    chosen = configured_as(device.plan_device(gpus, cpu_flags, 2))
    monkeypatch.setattr(device, "configure", lambda: chosen)
    help_text = compute_help(page_test("app.py").run())
    assert help_text.startswith("Mixed precision: the MNIST network's hidden layers compute")
    assert why in help_text

    forced = configured_as(device.plan_device(gpus, cpu_flags, 2, override="float32"))
    monkeypatch.setattr(device, "configure", lambda: forced)
    help_text = compute_help(page_test("app.py").run())
    assert "Here float32 is set by the server's DLCORE_PRECISION setting" in help_text
    assert why not in help_text


def test_the_sidebar_help_matches_this_machine(monkeypatch):
    monkeypatch.delenv("DLCORE_PRECISION", raising=False)
    at = page_test("app.py").run()
    on = device.configure().policy != "float32"
    assert ("It is on here" in compute_help(at)) is on
    assert ("It is off here" in compute_help(at)) is not on


def test_with_a_broker_the_sidebar_says_trainings_run_on_the_shared_workers(monkeypatch):
    monkeypatch.setenv("DLCORE_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing is contacted
    at = page_test("app.py").run()
    assert not at.exception
    assert any("shared workers" in c.value for c in at.sidebar.caption)
    monkeypatch.delenv("DLCORE_BROKER_URL")
    assert not any("shared workers" in c.value for c in page_test("app.py").run().sidebar.caption)


def test_the_sidebar_device_line_reads_in_the_learners_language():
    import tensorflow  # noqa: F401  (the line shows once a page has loaded TensorFlow)

    at = page_test("app.py")
    at.session_state["language"] = "zh"
    at.run()
    line = next(c.value for c in at.sidebar.caption if "CPU" in c.value or "GPU" in c.value)
    info = device.configure()
    cpu = f"CPU · {info.count} 核 · {info.policy}"
    assert (cpu if info.kind == "CPU" else f"GPU · {info.name}") in line, line


@pytest.mark.parametrize("path", [p.path for p in listed_lessons()])
def test_each_lesson_names_the_tutorial_sections_it_follows_in_both_languages(path):
    sections = tutorial_sections(path)
    assert sections, f"{path} maps to no section of the tutorial"
    for language, lead in (("en", "This lesson follows the tutorial"), ("zh", "本课对应教程")):
        at = page_test("app.py", timeout=180)
        at.query_params["lang"] = language
        with i18n.using(language):
            at.run()
            at.switch_page(path).run()
        line = next(c.value for c in at.sidebar.caption if c.value.startswith(lead))
        assert all(f"§{number} " in line for number, _ in sections), line
