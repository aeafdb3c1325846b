"""Architecture rules that keep the app fast and the engine testable."""

import ast
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


def _module_tree(name: str) -> ast.Module:
    path = REPO / "dlcore" / Path(*name.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return ast.parse(path.read_text())


def _module_level_imports(name: str) -> set[str]:
    """The dlcore modules that module ``name`` imports when it is imported (its top level)."""
    return _imports_in(name, _module_tree(name).body)


def _all_runtime_imports(name: str) -> set[str]:
    """The dlcore modules that module ``name`` imports anywhere, in functions too; not the
    ``if TYPE_CHECKING:`` blocks, which never run."""
    nodes, pending = [], list(_module_tree(name).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        nodes.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return _imports_in(name, nodes)


def _imports_in(name: str, nodes) -> set[str]:
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name.removeprefix("dlcore.") for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dlcore"):
            base = node.module.removeprefix("dlcore").removeprefix(".")
            for alias in node.names:
                full = f"{base}.{alias.name}".removeprefix(".")
                found.add(full if full in MODULES else base)
    return found & set(MODULES)


def _find_cycle(graph: dict[str, set[str]]) -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name not in done:
            for imported in sorted(graph[name]):
                visit(imported, (*path, name))
            done.add(name)

    for name in MODULES:
        visit(name, ())


def test_dlcore_has_no_import_cycles():
    """A cycle makes the import order matter and half-initialized modules possible."""
    graph = {name: _module_level_imports(name) - {name} for name in MODULES}
    _find_cycle(graph)
    assert graph["optimizers.runner"] == {"optimizers.loss_surfaces", "optimizers.rules"}


def test_dlcore_has_no_import_cycles_counting_imports_inside_functions():
    """A function-level import hides a cycle from the import order, not from the design:
    training and regression once imported each other that way."""
    graph = {name: _all_runtime_imports(name) - {name} for name in MODULES}
    _find_cycle(graph)
    assert "training" not in graph["regression"] and "regression" not in graph["training"]


def test_pages_holds_only_the_pages_the_app_lists():
    """Shared page components live in ui/; pages/ is one file per page (DESIGN.md)."""
    from ui.catalog import HOME, listed_lessons

    listed = {Path(page.path).name for page in (HOME, *listed_lessons())}
    assert {p.name for p in (REPO / "pages").glob("*.py")} == listed


def test_every_dlcore_module_is_used_by_the_product():
    """Test and benchmark helpers live in tests/support, not in the product: each dlcore
    module is imported by another dlcore module, a page, ui/, app.py or the command line."""
    product = [REPO / "app.py", *(REPO / "pages").glob("*.py"), *(REPO / "ui").rglob("*.py")]
    product += [p for p in (REPO / "dlcore").rglob("*.py")]
    sources = {path: path.read_text() for path in product}
    for name in MODULES:
        if name == "__main__" or name.endswith("__init__"):
            continue
        own = REPO / "dlcore" / Path(*name.split(".")).with_suffix(".py")
        dotted, leaf = f"dlcore.{name}", name.rsplit(".", 1)[-1]
        users = [
            path
            for path, text in sources.items()
            if path != own and (dotted in text or f"import {leaf}" in text or f" {leaf}," in text)
        ]
        assert users, f"dlcore/{name} is used by no product code (tests or bench only?)"
