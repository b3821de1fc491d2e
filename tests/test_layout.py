"""The package's shape: no import cycle inside `mnist/`, layers that import one way only, and
nothing in `mnist/` that reaches for the app (`ui`, `streamlit`).

Imports are read from the source with `ast` (module level and inside functions alike), so a
lazy import inside a function counts as much as one at the top of a file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "mnist"

# A package may import from its own package and from packages of a lower rank, never upward
# and never sideways (two packages of one rank know nothing of each other).
RANKS = {
    "errors": 0, "constants": 0,
    "data": 1, "nn": 1, "drawing": 1,
    "training": 2,
    "search": 3, "analysis": 3,
    "plots": 4, "engine": 4,
    "cli": 5, "__init__": 6, "__main__": 6,
}
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(path: Path, module: str) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import in the file, with `from a import b`
    resolved to the submodule a.b when b is one."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        level_top = id(node) in top
        if isinstance(node, ast.Import):
            found += [(a.name, level_top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                pkg = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.append((sub if sub in MODULES else base, level_top))
    return found


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_mnist_never_imports_the_app():
    bad = [(m, imp) for m, p in MODULES.items() for imp, _ in _imports(p, m)
           if imp.split(".")[0] in ("ui", "streamlit", "pages", "app", "streamlit_drawable_canvas")]
    assert bad == []


def test_every_package_has_a_rank():
    assert {_package(m) for m in MODULES} <= set(RANKS)


def test_layers_import_downward_only():
    wrong = []
    for m, p in MODULES.items():
        here = _package(m)
        for imp, _ in _imports(p, m):
            if not imp.startswith("mnist.") or m == "mnist":
                continue
            there = _package(imp)
            if there != here and RANKS[there] >= RANKS[here]:
                wrong.append(f"{m} imports {imp}")
    assert wrong == []


def find_cycles(graph: dict[str, list[str]]) -> list[str]:
    """Every back edge of a depth-first search, as 'a -> b -> a'."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(m: str, stack: list[str]):
        state[m] = 1
        for n in graph.get(m, ()):
            if state.get(n) == 1:
                cycles.append(" -> ".join(stack[stack.index(n):] + [n]))
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])
    return cycles


def test_no_import_cycle():
    # module-level imports only: a lazy import inside a function cannot deadlock an import
    graph = {m: sorted({imp for imp, top in _imports(p, m) if top and imp in MODULES and imp != m})
             for m, p in MODULES.items()}
    assert find_cycles(graph) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_file_is_short_enough_to_read(module):
    n = len(MODULES[module].read_text().splitlines())
    assert n <= MAX_LINES, f"{MODULES[module]}: {n} lines"


def test_the_checks_can_fail(tmp_path):
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == ["a -> b -> c -> a"]
    assert find_cycles({"a": ["b"], "b": [], "c": ["a", "b"]}) == []
    f = tmp_path / "f.py"
    f.write_text("import mnist.errors\nfrom mnist import errors\ndef g():\n    import ui\n")
    assert _imports(f, "mnist.x") == [("mnist.errors", True), ("mnist.errors", True), ("ui", False)]


def test_test_files_have_unique_names():
    # pytest's default import mode collects tests/ by basename: two test_x.py in different
    # folders cannot both be collected in one run
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
