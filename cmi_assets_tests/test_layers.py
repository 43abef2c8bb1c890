"""The package's layers point one way, read from the source (every import, at module level or
inside a function): production libraries never import the synthetic generator; no library
imports the Dagster definitions; the shared reference package imports nothing else of the
project; and no module imports itself back through others (no cycles)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "cmi_assets"
# The commands that generate a world or load the code location sit above every layer.
ENTRY_POINTS = {"cmi_assets.cli", "cmi_assets.demo", "cmi_assets.definitions"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE_DIR.rglob("*.py")}
    graph = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        imported = imported_names(tree, module, path.name == "__init__.py")
        graph[module] = {name for name in imported if name in paths and name != module}
    return graph


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in sorted(graph.items()):
        if module in ENTRY_POINTS:
            continue
        for target in sorted(targets):
            if layer(target) == "synthetic" and layer(module) != "synthetic":
                found.append(f"{module} imports the generator ({target})")
            if layer(target) == "defs" and layer(module) != "defs":
                found.append(f"library {module} imports the definitions ({target})")
            if layer(module) == "reference" and layer(target) != "reference":
                found.append(f"reference module {module} imports {target}")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_the_graph_is_read_from_every_module(graph):
    assert "cmi_assets.cfsr.recurrence" in graph
    assert "cmi_assets.reference.ncands_codes" in graph["cmi_assets.cfsr.recurrence"]
    # an import inside a function counts too (cli generates worlds lazily)
    assert "cmi_assets.synthetic.world" in graph["cmi_assets.cli"]


def test_layers_point_one_way(graph):
    assert layer_violations(graph) == []


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def test_the_checks_see_a_violation_and_a_cycle():
    planted = {
        "cmi_assets.linkage.standardise": {"cmi_assets.synthetic.names"},
        "cmi_assets.cfsr.dq": {"cmi_assets.cfsr.recurrence"},
        "cmi_assets.cfsr.recurrence": {"cmi_assets.cfsr.dq"},
        "cmi_assets.prm.fit": {"cmi_assets.defs.prm.assets"},
        "cmi_assets.reference.names": {"cmi_assets.tables"},
        "cmi_assets.defs.prm.assets": set(),
        "cmi_assets.synthetic.names": set(),
        "cmi_assets.tables": set(),
    }
    assert len(layer_violations(planted)) == 3
    assert cycles(planted) == [["cmi_assets.cfsr.dq", "cmi_assets.cfsr.recurrence"]]
