"""The project's import graph: no cycles, and dependencies that point one way.

The graph is built from the source with :mod:`ast` (nothing is imported): every
``import`` and ``from ... import`` statement of a module, at module level, inside a
function or under ``if TYPE_CHECKING:``, is an edge to the project module it names.
``from package import name`` is an edge to ``package.name`` when that is a module,
else to the package (its ``__init__``). Parent packages a dotted import runs
implicitly are not edges (every module would then depend on its package).

Layering (issue #11):

* ``thresholds`` (the pure engine) imports nothing from ``alerts`` or ``streams``;
* ``alerts`` imports nothing from ``streams``;
* inside ``streams`` the layers point one way, each importing only those before it:
  ``exceptions``/``logs`` <- ``contract`` <- ``rules`` <- ``pipeline`` <- ``runtime``
  and ``notify`` <- ``cli`` and ``dev`` (``thresholds`` and ``alerts`` sit below
  ``rules``; see the README's architecture section);
* the development tools ``streams.dev.simulator`` and ``streams.dev.embedded_broker`` are
  imported only by the tools themselves, the CLI and the demo (and by tests and
  benchmarks, which are outside the packages).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("thresholds", "alerts", "streams")

#: Modules allowed to import the development tools (besides the tools themselves).
TOOL_USERS = frozenset({"streams.cli.main", "streams.cli.demo"})
TOOLS = ("streams.dev.simulator", "streams.dev.embedded_broker")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _imported(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: dict[str, Path]
) -> Iterator[str]:
    """The project modules one import statement names."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in known:
                yield alias.name
        return
    if node.level:  # relative: resolve against the importing module's package
        base = module.split(".")
        if not is_package:
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    for alias in node.names:
        if f"{target}.{alias.name}" in known:
            yield f"{target}.{alias.name}"
        elif target in known:
            yield target


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in its source)."""
    known = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = graph.setdefault(module, set())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges.update(_imported(node, module, path.name == "__init__.py", known))
        edges.discard(module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each
    sorted: every one of them holds at least one import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


GRAPH = import_graph()


def test_the_graph_sees_the_packages_and_their_imports() -> None:
    # A guard against a graph that is empty by mistake (wrong root, parser change).
    assert {
        "thresholds",
        "alerts",
        "streams.runtime.worker",
        "streams.dev.simulator.catalog",
    } <= set(GRAPH)
    assert "streams.runtime.intake_process" in GRAPH["streams.runtime.worker"]
    assert "thresholds.decision" in GRAPH["alerts.metrics"]


def test_cycle_finder_finds_a_cycle_through_a_function_level_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert cycles(GRAPH) == []


@pytest.mark.parametrize(
    ("lower", "upper"), [("thresholds", "alerts"), ("thresholds", "streams"), ("alerts", "streams")]
)
def test_layers_point_one_way(lower: str, upper: str) -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if _in(module, lower)
        for target in targets
        if _in(target, upper)
    )
    assert wrong == [], f"{lower} must not import {upper}"


#: Rank of each layer of ``streams`` (longest prefix wins): a module may import only
#: modules of its own or a lower rank.
STREAMS_LAYERS: dict[str, int] = {
    "streams": 0,
    "streams.exceptions": 0,
    "streams.logs": 0,
    "streams.contract": 1,
    "streams.rules": 2,
    "streams.pipeline": 3,
    "streams.risk": 3,
    "streams.runtime": 4,
    "streams.notify": 4,
    "streams.cli": 5,
    "streams.dev": 5,
}


def _rank(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for prefix, rank in STREAMS_LAYERS.items():
        if _in(module, prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), rank)
    return None if best is None else best[1]


def test_every_streams_module_has_a_layer() -> None:
    assert [
        m
        for m in GRAPH
        if m.startswith("streams.")
        and m.count(".") == 1
        and _rank(m) == 0
        and m not in STREAMS_LAYERS
    ] == []


def test_streams_layers_point_one_way() -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if (mine := _rank(module)) is not None
        and (theirs := _rank(target)) is not None
        and theirs > mine
    )
    assert wrong == []


def test_development_tools_are_imported_only_by_the_cli_and_the_demo() -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if any(_in(target, tool) for tool in TOOLS)
        and module not in TOOL_USERS
        and not any(_in(module, tool) for tool in TOOLS)
    )
    assert wrong == []
