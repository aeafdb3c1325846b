"""Architecture rules that keep the app fast and the engine testable."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Every module of dlcore, its subpackages' included, e.g. "optimizers.runner".
MODULES = sorted(
    ".".join(p.relative_to(REPO / "dlcore").with_suffix("").parts).removesuffix(".__init__")
    for p in (REPO / "dlcore").rglob("*.py")
    if p != REPO / "dlcore" / "__init__.py"
)


def _imported_after(code: str) -> set[str]:
    """Top-level module names imported by running `code` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def test_dlcore_never_imports_streamlit():
    imports = "\n".join(f"import dlcore.{name}" for name in MODULES if name != "__main__")
    assert "streamlit" not in _imported_after(imports)


def test_light_modules_do_not_import_tensorflow():
    """The sidebar and Home use these; importing them must not cost a TensorFlow import."""
    light = [
        m
        for m in ("configs", "errors", "settings", "cache", "jobs", "metrics", "images")
        if m in MODULES
    ]
    imported = _imported_after("\n".join(f"import dlcore.{name}" for name in light))
    assert "tensorflow" not in imported
    assert "keras" not in imported
