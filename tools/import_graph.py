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

SOURCE = Path(__file__).resolve().parents[1] / "src"
"""The folder that holds the packages (the src/ layout)."""
PACKAGES = ("spikekit", "ssml")
EXTENSIONS = ("spikekit._C",)
"""Compiled modules (setup.py): ``from . import _C`` imports them, not the package's ``__init__``."""


LAYERS = (
    ("base", ("spikekit._version", "spikekit._memory", "spikekit.ops", "spikekit.firing", "spikekit.progress",
              "spikekit.plugins", "spikekit.threads", "spikekit.errors")),
    ("io", ("spikekit.io",)),
    ("helpers", ("spikekit.metrics", "spikekit.noref", "spikekit.staticref", "spikekit.stats", "spikekit.collection")),
    ("simulate, recon", ("spikekit.simulate", "spikekit.recon")),
    ("spikekit API", ("spikekit",)),
    ("spikekit commands", ("spikekit.cli", "spikekit.cliutils", "spikekit.info_cmd", "spikekit.demo",
                           "spikekit.__main__", "spikekit.simulate.cli", "spikekit.recon.cli")),
    ("ssml networks", ("ssml.layers", "ssml.amim", "ssml.attention", "ssml.networks", "ssml.lite")),
    ("ssml inference", ("ssml.method", "ssml.weights_io", "ssml.precision", "ssml.binning", "ssml.ensemble",
                        "ssml.sequence")),
    ("ssml training", ("ssml.cases", "ssml.config", "ssml.data", "ssml.losses", "ssml.train", "ssml.checkpoint",
                       "ssml.validation", "ssml.video")),
    ("ssml commands and API", ("ssml", "ssml.cli", "ssml.adapt", "ssml.export", "ssml.__main__")),
)
"""The layers of docs/architecture.md, bottom first: a module imports only from its own layer and
the layers below it. A name covers the module and the modules under it (a top-level package's
name, :data:`PACKAGES`, only its ``__init__``); the longest name that matches wins
(``spikekit.recon.cli`` is a command, the rest of ``spikekit.recon`` is not)."""
SIBLINGS = (("spikekit.simulate", "spikekit.recon"),)
"""Packages of one layer that never import each other."""


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of ``module``: the layer of its longest matching name.

    Raises:
        KeyError: no layer names it (a new module must be placed in docs/architecture.md and here).
    """
    best, found = -1, None
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            inside = module.startswith(name + ".") and name not in PACKAGES
            if (module == name or inside) and len(name) > best:
                best, found = len(name), index
    if found is None:
        raise KeyError(f"{module}: in no layer of tools/import_graph.py LAYERS")
    return found


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


def package_graph(root: Path = SOURCE, packages: tuple[str, ...] = PACKAGES) -> Graph:
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


def _placed(module: str) -> bool:
    try:
        layer_of(module)
    except KeyError:
        return False
    return True


def layer_violations(graph: Graph) -> list[str]:
    """Every module in no layer (``"m: in no layer"``) and every import against :data:`LAYERS`
    and :data:`SIBLINGS`, as ``"a (layer) -> b (layer), line N"``."""
    out = sorted(f"{m}: in no layer" for m in graph.modules if not _placed(m))
    for imp in graph.imports:
        if not (_placed(imp.source) and _placed(imp.target)):
            continue
        src, dst = layer_of(imp.source), layer_of(imp.target)
        sibling = any(imp.source.startswith(a) and imp.target.startswith(b) or
                      imp.source.startswith(b) and imp.target.startswith(a) for a, b in SIBLINGS)
        if dst > src or (sibling and imp.source.split(".")[:2] != imp.target.split(".")[:2]):
            out.append(f"{imp.source} ({LAYERS[src][0]}) -> {imp.target} ({LAYERS[dst][0]}), line {imp.line}"
                       + (" (function-local)" if imp.local else ""))
    return out


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
    parser.add_argument("--root", type=Path, default=SOURCE, help="the folder holding the packages (default: this repository's src/)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    graph = package_graph(args.root)
    result = {package: counts(graph, package) for package in PACKAGES}
    result["layer_violations"] = layer_violations(graph)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for package in PACKAGES:
        c = result[package]
        print(f"{package}: {c['modules']} modules, {c['layers']} import layers "
              f"({c['layers_with_dependencies']} counting the spikekit modules below), "
              f"{len(c['cycles'])} cycles {c['cycles']}")
        print(f"  imports of its own modules: {c['module_level_imports']} module-level, "
              f"{c['function_local_imports']} function-local "
              f"(function-local import statements of any module: {c['function_local_import_statements']})")
        print(f"  longest module docstring: {c['longest_docstring'][0]} "
              f"({c['longest_docstring'][1]} lines)")
    print(f"imports against the layers of docs/architecture.md: {len(result['layer_violations'])}")
    for line in result["layer_violations"]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
