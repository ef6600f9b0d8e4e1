"""
The import graph of the benchmark modules (`benchmarks/*.py`), read with `ast`
(nothing is imported), and the import cycles in it.  Every import counts, at the
top of a module or inside a function or an `if __name__ == "__main__":` block:
`import benchmarks.x`, `from benchmarks import x`, `from benchmarks.x import y`,
relative imports, and `import x` of a sibling module (scripts run by path).  The
layout it keeps: sections and parts import only the shared code (`common`,
`report`, `timing`, `variants`, `suite`, `scale_common`, ...), and only the
registries (`registry.py`, `scale.py`) and entry points import sections.

    .venv/bin/python benchmarks/import_graph.py    # exits 1 and lists the cycles if there are any
"""
import ast
import os
import sys
from typing import Dict, List, Set

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "benchmarks"


def module_names(directory: str) -> Set[str]:
    """The modules of a directory: its `*.py` files, without `.py`."""
    return {name[:-3] for name in os.listdir(directory) if name.endswith(".py")}


def imported_modules(source: str, siblings: Set[str]) -> Set[str]:
    """Which of `siblings` a module's source imports, anywhere in it."""
    found: Set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == PACKAGE and len(parts) > 1:
                    found.add(parts[1])
                elif len(parts) == 1:
                    found.add(parts[0])
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".") if node.module else []
            if node.level == 0 and parts[:1] != [PACKAGE]:
                continue
            inside = parts[1:] if node.level == 0 else parts
            if inside:
                found.add(inside[0])
            else:  # `from benchmarks import x` or `from . import x`
                found.update(alias.name for alias in node.names)
    return found & siblings


def import_graph(directory: str = HERE) -> Dict[str, Set[str]]:
    """Module -> the sibling modules it imports."""
    siblings = module_names(directory)
    graph = {}
    for name in sorted(siblings):
        with open(os.path.join(directory, name + ".py"), encoding="utf-8") as stream:
            graph[name] = imported_modules(stream.read(), siblings) - {name}
    return graph


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted: the import cycles."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def main() -> int:
    graph = import_graph()
    found = cycles(graph)
    for component in found:
        print("import cycle among: " + ", ".join(f"{name}.py" for name in component))
    if not found:
        print(f"no import cycle among the {len(graph)} modules of benchmarks/")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
