"""Security settings a classroom deployment relies on, checked from the files themselves.

- ``.streamlit/config.toml``: upload limit sized for phone photos, XSRF protection on,
  tracebacks hidden from visitors.
- Pages never render HTML built from anything but string literals.
- Models are loaded only by the cache, only from its own directory, with Keras safe_mode.
- requirements.txt asks for the releases with the known fixes (Streamlit >= 1.54, Keras
  >= 3.14.1), and the installed versions satisfy them.

Crafted cache keys are tested in tests/test_cache.py; this file adds symbolic links, and
tests/test_cache_tampering.py everything else someone who can write the cache directory can
plant (FIFOs, sparse files, zip bombs, metadata of another key, links in ``.locks``).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UI_SOURCES = sorted([REPO / "app.py", *(REPO / "pages").glob("*.py")])
ENGINE_SOURCES = sorted((REPO / "dlcore").glob("*.py"))


def _config() -> dict:
    with open(REPO / ".streamlit" / "config.toml", "rb") as handle:
        return tomllib.load(handle)


def _calls(path: Path) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]


def _callee(call: ast.Call) -> str:
    """The called name's last part: ``st.markdown`` -> "markdown", ``col.html`` -> "html"."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO)}:{node.lineno}"


# ---------------------------------------------------------------------------------------
# .streamlit/config.toml
# ---------------------------------------------------------------------------------------


def test_upload_limit_fits_phone_photos_and_nothing_much_larger():
    limit_mb = _config()["server"]["maxUploadSize"]
    assert isinstance(limit_mb, int) and 5 <= limit_mb <= 20


def test_xsrf_protection_is_on():
    assert _config()["server"]["enableXsrfProtection"] is True


def test_visitors_never_see_tracebacks():
    assert _config()["client"]["showErrorDetails"] == "none"


def test_streamlit_reads_the_same_settings(monkeypatch):
    """The keys are spelled as Streamlit expects: its own config parser sees our values."""
    from streamlit import config

    monkeypatch.chdir(REPO)  # Streamlit reads ./.streamlit/config.toml
    config.get_config_options(force_reparse=True)
    try:
        assert config.get_option("server.maxUploadSize") == _config()["server"]["maxUploadSize"]
        assert config.get_option("server.enableXsrfProtection") is True
        assert config.get_option("client.showErrorDetails") == "none"
        # Not security but load: no source watcher re-scanning TensorFlow's modules per run.
        assert config.get_option("server.fileWatcherType") == "none"
        assert config.get_option("runner.postScriptGC") is False
    finally:
        config.get_config_options(force_reparse=True)


# ---------------------------------------------------------------------------------------
# HTML in pages
# ---------------------------------------------------------------------------------------

HTML_CALLS = {"html"}  # st.html and components.v1.html render their argument as HTML


def _renders_raw_html(call: ast.Call) -> bool:
    flag = _keyword(call, "unsafe_allow_html")
    if flag is not None and not (isinstance(flag, ast.Constant) and flag.value is False):
        return True
    return _callee(call) in HTML_CALLS


def _only_literals(call: ast.Call) -> bool:
    """Every argument that can carry content is a plain string literal."""
    content = [*call.args, *(kw.value for kw in call.keywords if kw.arg in ("body", "html"))]
    return all(isinstance(arg, ast.Constant) and isinstance(arg.value, str) for arg in content)


@pytest.mark.parametrize("path", UI_SOURCES, ids=lambda p: p.name)
def test_raw_html_is_only_ever_a_string_literal(path):
    """Nothing a learner typed, uploaded or chose can reach the page as raw HTML."""
    offenders = [
        _where(path, call)
        for call in _calls(path)
        if _renders_raw_html(call) and not _only_literals(call)
    ]
    assert offenders == [], f"raw HTML built from non-literal values at {offenders}"


def test_the_html_rule_catches_a_user_value():
    """The scan above can fail: an f-string or a variable with unsafe_allow_html is caught."""
    flagged = ast.parse(
        'st.markdown(f"<b>{name}</b>", unsafe_allow_html=True)\n'
        "st.markdown(text, unsafe_allow_html=True)\n"
        "st.html(upload)\n"
        'st.markdown("<br>", unsafe_allow_html=True)\n'
        "st.markdown(text)\n"
    )
    calls = [node for node in ast.walk(flagged) if isinstance(node, ast.Call)]
    verdicts = [_renders_raw_html(call) and not _only_literals(call) for call in calls]
    assert verdicts == [True, True, True, False, False]


# ---------------------------------------------------------------------------------------
# Loading models
# ---------------------------------------------------------------------------------------

LOADERS = {"load_model", "load_weights", "from_config", "deserialize_keras_object"}


def test_only_the_cache_loads_models_and_always_in_safe_mode():
    sites = [
        (path, call)
        for path in [*ENGINE_SOURCES, *UI_SOURCES]
        for call in _calls(path)
        if _callee(call) in LOADERS
    ]
    assert sites, "expected the cache to load models with load_model"
    places = {str(path.relative_to(REPO)) for path, _ in sites}
    assert places == {"dlcore/cache.py"}, f"models are loaded outside the cache: {places}"
    for path, call in sites:
        flag = _keyword(call, "safe_mode")
        assert isinstance(flag, ast.Constant) and flag.value is True, _where(path, call)


def test_numpy_files_are_read_without_pickle():
    for path in [*ENGINE_SOURCES, *UI_SOURCES]:
        for call in _calls(path):
            if _callee(call) == "load" and isinstance(call.func, ast.Attribute):
                owner = call.func.value
                if isinstance(owner, ast.Name) and owner.id in ("np", "numpy"):
                    flag = _keyword(call, "allow_pickle")
                    assert isinstance(flag, ast.Constant) and flag.value is False, _where(
                        path, call
                    )


@pytest.fixture
def two_caches(tmp_path, monkeypatch):
    """A real entry saved in an "outside" directory, and an empty cache directory in use."""
    from dlcore import cache
    from tests.support.results import FINGERPRINT, make_result

    outside, inside = tmp_path / "outside", tmp_path / "cache"
    result = make_result()
    key = cache.key_for(result.config, FINGERPRINT)
    monkeypatch.setenv("DLCORE_CACHE_DIR", str(outside))
    cache._forget()
    cache.save(key, result, data_fingerprint=FINGERPRINT)
    monkeypatch.setenv("DLCORE_CACHE_DIR", str(inside))
    cache._forget()
    inside.mkdir()
    yield key, outside / key, inside / key
    cache._forget()


def test_an_entry_that_is_a_link_out_of_the_cache_is_not_loaded(two_caches):
    from dlcore import cache

    key, elsewhere, entry = two_caches
    entry.symlink_to(elsewhere, target_is_directory=True)
    with pytest.warns(RuntimeWarning, match="symbolic link"):
        assert cache.load(key) is None
    assert elsewhere.is_dir() and (elsewhere / "model.keras").exists()  # outside untouched
    # The link itself is gone, not parked in the cache directory as trash.
    assert [path.name for path in entry.parent.iterdir()] == [".locks"]


def test_a_model_file_linked_from_outside_is_not_loaded(two_caches):
    import shutil

    from dlcore import cache

    key, elsewhere, entry = two_caches
    shutil.copytree(elsewhere, entry)
    (entry / "model.keras").unlink()
    (entry / "model.keras").symlink_to(elsewhere / "model.keras")  # same bytes, same checksum
    with pytest.warns(RuntimeWarning, match="symbolic link"):
        assert cache.load(key) is None
    assert (elsewhere / "model.keras").exists()


# ---------------------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------------------

# The lowest releases with the fixes we depend on: Streamlit 1.54 (current security
# fixes), Keras 3.14.1 (safe_mode bypass CVEs fixed).
FLOORS = {"streamlit": (1, 54), "keras": (3, 14, 1)}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _requirement_floors() -> dict[str, tuple[int, ...]]:
    floors = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*[^#]*?>=\s*([0-9][0-9.]*)", line)
        if match:
            floors[match.group(1).lower()] = _version(match.group(2))
    return floors


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_requirements_ask_for_the_fixed_releases(package):
    floors = _requirement_floors()
    assert package in floors, f"requirements.txt has no lower bound for {package}"
    assert floors[package] >= FLOORS[package]


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_installed_release_meets_the_floor(package):
    assert _version(importlib.metadata.version(package)) >= FLOORS[package]
