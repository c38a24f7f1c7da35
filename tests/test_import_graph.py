"""The layer rule of docs/architecture.md, read from the source with ``ast`` (tools/import_graph.py):
no import cycle in spikekit or ssml, no import from a higher layer, spikekit never imports ssml.
Function-local imports count like module-level ones."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import import_graph  # noqa: E402

GRAPH = import_graph.package_graph()


@pytest.mark.parametrize("package", import_graph.PACKAGES)
def test_no_import_cycle(package):
    assert import_graph.counts(GRAPH, package)["cycles"] == []


def test_every_module_has_a_layer():
    for module in GRAPH.modules:
        import_graph.layer_of(module)  # KeyError names a module docs/architecture.md does not place


def test_no_import_from_a_higher_layer():
    assert import_graph.layer_violations(GRAPH) == []


def test_spikekit_never_imports_ssml():
    bad = [i for i in GRAPH.imports if i.source.split(".")[0] == "spikekit" and i.target.split(".")[0] == "ssml"]
    assert bad == []


def test_the_graph_sees_module_level_and_function_local_imports(tmp_path):
    pkg = tmp_path / "spikekit"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import x\n")
    (tmp_path / "ssml").mkdir()
    (tmp_path / "ssml" / "__init__.py").write_text("import spikekit.a\n")
    graph = import_graph.package_graph(tmp_path)
    assert {(i.source, i.target, i.local) for i in graph.imports} == {
        ("spikekit.a", "spikekit.b", False), ("spikekit.b", "spikekit.a", True), ("ssml", "spikekit.a", False)}
    assert import_graph.cycles(graph.edges()) == [["spikekit.a", "spikekit.b"]]
    assert import_graph.layers(graph.edges()) == 2
