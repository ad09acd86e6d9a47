"""The package's shape: layers import downwards only, no import cycles, no module over 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# Lowest first; a module may import only from its own layer or a lower one.
LAYERS = ["util", "tasks", "core", "instruments|training", "study", "cli"]
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    mods = {}
    for path in sorted((SRC / "mollify").rglob("*.py")):
        parts = path.with_suffix("").relative_to(SRC).parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """mollify modules `name` imports, at top level or inside functions (a lazy import is still
    a dependency). `from pkg import child` counts as importing the child module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            for alias in node.names:
                child = f"{module}.{alias.name}"
                found.add(child if child in known else module)
    return {m for m in found if m in known and m != name}


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    for i, names in enumerate(LAYERS):
        if top in names.split("|"):
            return i
    return len(LAYERS)  # the package root and __main__: the public face, above everything


MODULES = _modules()
GRAPH = {name: _imports(name, path, MODULES) for name, path in MODULES.items()}


def _is_reexport(a: str, b: str) -> bool:
    """A package __init__ importing its own children (allowed, and not a loop)."""
    return b.startswith(a + ".")


def test_every_top_level_folder_has_a_layer():
    tops = {m.split(".")[1] for m in MODULES if m.count(".") >= 1}
    loose = {t for t in tops if _layer(f"mollify.{t}") == len(LAYERS)} - {"__main__"}
    assert not loose, f"modules outside every layer folder: {sorted(loose)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    upward = [
        dep
        for dep in GRAPH[module]
        if _layer(dep) > _layer(module) and not _is_reexport(module, dep)
    ]
    assert not upward, f"{module} (layer {_layer(module)}) imports higher layers: {upward}"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    edges = {m: {d for d in deps if not _is_reexport(m, d)} for m, deps in GRAPH.items()}
    cycles = _cycles(edges)
    assert not cycles, f"modules importing each other (directly or round a loop): {cycles}"


def test_the_checker_can_fail():
    """The graph reader finds real edges (lazy imports too) and the cycle finder finds a loop of
    three, or the tests above would pass vacuously."""
    assert "mollify.core.slices" in GRAPH["mollify.instruments.landscape"]
    assert "mollify.study.sweep" in GRAPH["mollify.study.reproduce"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _layer("mollify.cli.common") > _layer("mollify.study.sweep") > _layer("mollify.core")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module):
    lines = MODULES[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{module}: {lines} lines (split it; the limit is {MAX_LINES})"
