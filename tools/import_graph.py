"""The import graph of spikekit and ssml, read with :mod:`ast`, and the counts issue 31 asks for.

``python tools/import_graph.py`` prints, per package: modules, import cycles (strongly connected
components of more than one module), import layers (the longest chain of imports, cycles
collapsed), module-level and function-local imports of the package's own modules, and the
longest module docstring in lines. ``--json`` prints the same as JSON.

:func:`package_graph` is also what ``tests/test_import_graph.py`` checks the layer rule of
docs/architecture.md with.
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("spikekit", "ssml")
EXTENSIONS = ("spikekit._C",)
"""Compiled modules (setup.py): ``from . import _C`` imports them, not the package's ``__init__``."""


@dataclass(frozen=True)
class Import:
    """One import of a module of the repository's packages.

    ``source`` and ``target`` are dotted module names (``ssml.method``); ``line`` is where the
    statement is in the source file; ``local`` is True for an import inside a function or method.
    """

    source: str
    target: str
    line: int
    local: bool


@dataclass
class Graph:
    """Modules of the packages under a root and the imports between them."""

    modules: dict[str, Path] = field(default_factory=dict)
    imports: list[Import] = field(default_factory=list)
    local_statements: dict[str, int] = field(default_factory=dict)
    """Module -> its function-local import statements, of any module (stdlib and third party too)."""

    def edges(self) -> dict[str, set[str]]:
        """Module -> the modules it imports (module-level and function-local alike)."""
        out: dict[str, set[str]] = {name: set() for name in self.modules}
        for imp in self.imports:
            if imp.target != imp.source:
                out[imp.source].add(imp.target)
        return out


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of the graph (``a.b.c`` -> ``a.b``)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _targets(node: ast.AST, module: str, is_package: bool, modules: dict[str, Path]) -> list[str]:
    """The graph's modules one import statement brings in."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")
            if not is_package:
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        # ``from pkg import sub`` imports the submodule pkg.sub when there is one
        names = [f"{prefix}.{alias.name}" for alias in node.names] or [prefix]
        names = [n if n in EXTENSIONS or _resolve(n, modules) == n else prefix for n in names]
    out = []
    for name in names:
        if name in EXTENSIONS:
            continue
        target = _resolve(name, modules)
        if target is not None and target not in out:
            out.append(target)
    return out


def package_graph(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> Graph:
    """Parse every ``.py`` file of ``packages`` under ``root``; imports outside them are dropped.

    An import is function-local when an enclosing node is a function (``def``/``async def``/
    ``lambda``); imports under ``if TYPE_CHECKING:`` are skipped (they never run).
    """
    graph = Graph()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            graph.modules[_module_name(path, root)] = path
    for module, path in graph.modules.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"

        def visit(node: ast.AST, local: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    if local:
                        graph.local_statements[module] = graph.local_statements.get(module, 0) + 1
                    for target in _targets(child, module, is_package, graph.modules):
                        graph.imports.append(Import(module, target, child.lineno, local))
                inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                visit(child, inner)

        visit(tree, False)
    return graph


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
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
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(edges):
        if v not in index:
            strong(v)
    return sorted(out)


def layers(edges: dict[str, set[str]], among: set[str] | None = None) -> int:
    """The number of import layers: the longest import chain, each cycle counted as one module.

    With ``among``, the longest chain that starts at one of those modules (a package's depth
    in a larger graph).
    """
    component = {v: v for v in edges}
    for group in cycles(edges):
        for v in group:
            component[v] = group[0]
    dag: dict[str, set[str]] = {c: set() for c in component.values()}
    for v, targets in edges.items():
        for w in targets:
            if component[v] != component[w]:
                dag[component[v]].add(component[w])
    depth: dict[str, int] = {}

    def level(c: str) -> int:
        if c not in depth:
            depth[c] = 1 + max((level(w) for w in dag[c]), default=0)
        return depth[c]

    starts = dag if among is None else {component[v] for v in among}
    return max((level(c) for c in starts), default=0)


def docstring_lines(path: Path) -> int:
    """Lines of the module docstring of ``path`` (0 without one)."""
    doc = ast.get_docstring(ast.parse(path.read_text()), clean=False)
    return len(doc.splitlines()) if doc else 0


def counts(graph: Graph, package: str) -> dict:
    """The figures of one package: modules, cycles, layers, imports, longest docstring."""
    inside = {m for m in graph.modules if m == package or m.startswith(package + ".")}
    edges = {m: {t for t in targets if t in inside} for m, targets in graph.edges().items() if m in inside}
    own = [i for i in graph.imports if i.source in inside and i.target in inside and i.source != i.target]
    longest = max(inside, key=lambda m: (docstring_lines(graph.modules[m]), m))
    return {
        "modules": len(inside),
        "cycles": cycles(edges),
        "layers": layers(edges),
        "layers_with_dependencies": layers(graph.edges(), inside),
        "module_level_imports": sum(not i.local for i in own),
        "function_local_imports": sum(i.local for i in own),
        "function_local_import_statements": sum(graph.local_statements.get(m, 0) for m in inside),
        "longest_docstring": [longest, docstring_lines(graph.modules[longest])],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="the repository (default: this one)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    graph = package_graph(args.root)
    result = {package: counts(graph, package) for package in PACKAGES}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for package, c in result.items():
        print(f"{package}: {c['modules']} modules, {c['layers']} import layers "
              f"({c['layers_with_dependencies']} counting the spikekit modules below), "
              f"{len(c['cycles'])} cycles {c['cycles']}")
        print(f"  imports of its own modules: {c['module_level_imports']} module-level, "
              f"{c['function_local_imports']} function-local "
              f"(function-local import statements of any module: {c['function_local_import_statements']})")
        print(f"  longest module docstring: {c['longest_docstring'][0]} "
              f"({c['longest_docstring'][1]} lines)")


if __name__ == "__main__":
    main()
