"""
The benchmark modules import one another without a cycle (sections import the shared
code, only the registries and entry points import sections): `benchmarks/import_graph.py`
reads the imports with `ast`, so this test imports none of the benchmarks' libraries.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if sys.path[:1] != [ROOT]:
    sys.path.insert(0, ROOT)
from benchmarks import bootstrap  # noqa: E402,F401  (this repository's `benchmarks`, not fairscale's)
from benchmarks import import_graph  # noqa: E402


def test_the_benchmark_modules_import_one_another_without_a_cycle():
    graph = import_graph.import_graph()
    assert "run_all" in graph and "scale" in graph
    assert import_graph.cycles(graph) == []


def test_no_section_imports_an_entry_point_or_a_registry():
    graph = import_graph.import_graph()
    sections = graph["registry"] | graph["scale"]
    assert {"output_layers", "memory", "scale_loader", "scale_allreduce"} <= sections
    for section in sections:
        assert not graph[section] & {"run_all", "registry", "scale"}, (section, graph[section])


def test_a_cycle_is_found_wherever_the_import_stands(tmp_path):
    (tmp_path / "first.py").write_text("from benchmarks.second import thing\n")
    (tmp_path / "second.py").write_text("thing = 1\n\nif __name__ == '__main__':\n    from benchmarks import third\n")
    (tmp_path / "third.py").write_text("def main():\n    import first\n")
    (tmp_path / "alone.py").write_text("import os\nfrom . import alone\n")
    graph = import_graph.import_graph(str(tmp_path))
    assert graph == {"alone": set(), "first": {"second"}, "second": {"third"}, "third": {"first"}}
    assert import_graph.cycles(graph) == [["first", "second", "third"]]
