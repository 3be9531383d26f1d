"""The package's layers, read from its import graph (the AST of every module, no import executed).

Layers, top to bottom; a module may import its own layer and the ones below, never one above:

* ``gsepconv`` (the facade: ``__init__``, ``__main__``, ``cli``): may import anything;
* ``companion``: the notebook runner and the book build;
* ``report``: the tables, figures and claims of the book;
* ``analysis`` and ``experiments`` (one layer; no cycle between them);
* ``equivariance``; ``models``; ``nn``; ``kernels``; ``groups``.

``data`` stands beside the model stack: ``experiments`` and the layers above may import it, the
model stack may not, and it imports only the leaves. The leaves (``errors``, ``progress``,
``version``) may be imported by every module and import nothing of gsepconv.

Every import counts: module level and inside functions, ``from x import y`` resolved to the module
``x.y`` where that is a module. Besides the order: no cycle between packages, and no name with a
leading underscore imported from another module.

One name per job: no two modules of the package share a file name (``__init__.py`` and
``__main__.py`` apart), so a name such as ``base.py`` or ``cli.py`` says which module it is.

The pages that describe the layers agree with them: the layer picture of ``book/contributing.md``
is ``LAYERS`` in order, its table and the README's layout name every package.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gsepconv"

#: top to bottom; a package at index i may import packages at index >= i
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"__init__", "__main__", "cli"}),
    frozenset({"companion"}),
    frozenset({"report"}),
    frozenset({"analysis", "experiments"}),
    frozenset({"equivariance"}),
    frozenset({"models"}),
    frozenset({"nn"}),
    frozenset({"kernels"}),
    frozenset({"groups"}),
)
LEAVES = frozenset({"errors", "progress", "version"})
DATA = "data"
#: the layers that may import ``data``: experiments and everything above it
DATA_USERS = frozenset().union(*LAYERS[:4])


@dataclass(frozen=True)
class Import:
    source: str  # importing module, e.g. "gsepconv.report.make"
    target: str  # imported module, e.g. "gsepconv.experiments.folders"
    name: str | None  # the imported name for ``from x import name``
    line: int
    in_function: bool

    def where(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}" + (f" ({self.name})" if self.name else "")


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The gsepconv modules ``module`` imports, each import resolved to the module it loads."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    target = _resolve(alias.name, modules)
                    if alias.name.split(".")[0] == "gsepconv" and target:
                        found.append(Import(module, target, None, child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    origin = ".".join(base + ([child.module] if child.module else []))
                else:
                    origin = child.module or ""
                if origin.split(".")[0] != "gsepconv":
                    continue
                for alias in child.names:
                    full = f"{origin}.{alias.name}"
                    target = full if full in modules else _resolve(origin, modules)
                    if target:
                        found.append(Import(module, target, alias.name, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


def import_graph(package: Path = PACKAGE) -> list[Import]:
    modules = module_names(package)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def unit(module: str) -> str:
    """The layer unit of a module: its subpackage or top-level module (``__init__`` for the root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def rank(unit_name: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if unit_name in layer:
            return i
    return None


def layer_violations(graph: list[Import]) -> list[str]:
    """Every import that goes up the layers, into ``data`` from below ``experiments``, or out of a
    leaf or of ``data`` into anything but a leaf."""
    bad = []
    for imp in graph:
        src, dst = unit(imp.source), unit(imp.target)
        if src == dst or dst in LEAVES:
            continue
        if src in LEAVES:
            bad.append(f"{imp.where()}: a leaf imports nothing of gsepconv")
        elif src == DATA:
            bad.append(f"{imp.where()}: data imports only the leaves")
        elif dst == DATA:
            if src not in DATA_USERS:
                bad.append(f"{imp.where()}: only experiments and the layers above use data")
        elif rank(src) is None or rank(dst) is None:
            bad.append(f"{imp.where()}: {src if rank(src) is None else dst} has no layer in LAYERS")
        elif rank(dst) < rank(src):
            bad.append(f"{imp.where()}: {dst} is a layer above {src}")
    return bad


def package_cycles(graph: list[Import]) -> list[list[str]]:
    """Strongly connected components (more than one unit) of the graph between layer units."""
    edges: dict[str, set[str]] = {}
    for imp in graph:
        src, dst = unit(imp.source), unit(imp.target)
        edges.setdefault(src, set())
        edges.setdefault(dst, set())
        if src != dst:
            edges[src].add(dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
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
                components.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return components


def shared_basenames(package: Path = PACKAGE) -> dict[str, list[str]]:
    """File names that more than one module of the package has (``__init__.py`` and ``__main__.py``
    apart), each with the paths of those modules relative to the package's parent folder."""
    paths: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        if path.name not in ("__init__.py", "__main__.py") and "__pycache__" not in path.parts:
            paths.setdefault(path.name, []).append(path.relative_to(package.parent).as_posix())
    return {name: found for name, found in sorted(paths.items()) if len(found) > 1}


def private_imports(graph: list[Import]) -> list[str]:
    """``from x import _name`` where ``x`` is another module than the importer."""
    return [
        imp.where()
        for imp in graph
        if imp.name and imp.name.startswith("_") and not imp.name.startswith("__") and imp.target != imp.source
    ]


# ----------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def graph() -> list[Import]:
    return import_graph()


def test_the_graph_is_read(graph):
    """The reader sees the imports it must judge (a broken reader would pass every rule)."""
    pairs = {(unit(i.source), unit(i.target)) for i in graph}
    assert {("nn", "groups"), ("models", "nn"), ("report", "experiments"), ("companion", "report")} <= pairs
    assert any(i.in_function for i in graph)  # imports inside functions are read too
    assert all(
        unit(i.source) == "__init__" or rank(unit(i.source)) is not None or unit(i.source) in LEAVES | {DATA}
        for i in graph
    )


def test_every_module_has_a_layer():
    units = {unit(m) for m in module_names()}
    placed = set().union(*LAYERS) | LEAVES | {DATA}
    assert units <= placed, f"give {sorted(units - placed)} a place in LAYERS (tests/test_architecture.py)"


def test_imports_go_down_the_layers(graph):
    assert layer_violations(graph) == []


def test_no_cycle_between_packages(graph):
    assert package_cycles(graph) == []


def test_no_private_name_is_imported_from_another_module(graph):
    assert private_imports(graph) == []


def test_no_two_modules_share_a_name():
    shared = shared_basenames()
    assert not shared, "modules share a file name (one name per job; rename all but one): " + "; ".join(
        f"{name}: {', '.join(paths)}" for name, paths in shared.items()
    )


def test_a_shared_name_is_caught(tmp_path):
    """The name rule fails on a package with two modules of one name, and names them; package
    ``__init__.py`` and ``__main__.py`` files repeat freely."""
    for path in ("pkg/__init__.py", "pkg/__main__.py", "pkg/a/__init__.py", "pkg/a/__main__.py", "pkg/a/cli.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    assert shared_basenames(tmp_path / "pkg") == {}
    (tmp_path / "pkg" / "b").mkdir()
    (tmp_path / "pkg" / "b" / "cli.py").write_text("")
    assert shared_basenames(tmp_path / "pkg") == {"cli.py": ["pkg/a/cli.py", "pkg/b/cli.py"]}


def test_an_upward_import_is_caught(tmp_path):
    """The rules fail on a copy of the package with one upward import added (inside a function, the
    way a cycle is usually hidden), and with a private name imported across packages."""
    import shutil

    copy = tmp_path / "gsepconv"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    with (copy / "nn" / "layers.py").open("a") as f:
        f.write("\n\ndef _upward():\n    from gsepconv.experiments.registry import PROFILES\n\n    return PROFILES\n")
    with (copy / "report" / "labels.py").open("a") as f:
        f.write("\nfrom gsepconv.companion import results_dir  # noqa: E402\n")
    with (copy / "models" / "build.py").open("a") as f:
        f.write("\nfrom gsepconv.nn.conv import _HIDDEN  # noqa: E402\n")
    bad = layer_violations(import_graph(copy))
    assert any("gsepconv.nn.layers" in b and "experiments is a layer above nn" in b for b in bad)
    assert any("gsepconv.report.labels" in b and "companion is a layer above report" in b for b in bad)
    assert any({"companion", "report"} <= set(c) for c in package_cycles(import_graph(copy)))
    assert any("_HIDDEN" in b for b in private_imports(import_graph(copy)))


# ---------------------------------------------------------------- the orientation pages agree
def _layer_picture(text: str) -> list[frozenset[str]]:
    """The names at the start of each line of the first code block after the contributing page's
    "layer by layer" heading, one set per line (``analysis, experiments`` is one layer)."""
    block = text.split("## The package, layer by layer", 1)[1].split("```\n", 2)[1]
    found = []
    for line in block.splitlines():
        m = re.match(r"^([a-z_]+(?:, [a-z_]+)*)\s{2,}", line)
        if m:
            found.append(frozenset(m.group(1).split(", ")))
    return found


def test_the_contributing_page_draws_the_layers_of_this_test():
    text = (PACKAGE.parent / "book" / "contributing.md").read_text()
    expected = [frozenset({"gsepconv"}), *LAYERS[1:], frozenset({DATA}), LEAVES]
    assert _layer_picture(text) == expected, "book/contributing.md's layer picture differs from LAYERS"
    for name in sorted({unit(m) for m in module_names()} - {"__init__", "__main__", "cli"}):
        listed = f"`gsepconv.{name}`" in text or f"`{name}.py`" in text
        assert listed, f"book/contributing.md's table of packages does not name gsepconv.{name}"


def test_the_readme_layout_lists_every_package():
    readme = (PACKAGE.parent / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    for name in sorted({unit(m) for m in module_names()} - {"__init__", "__main__"}):
        path = f"gsepconv/{name}" if (PACKAGE / name).is_dir() else f"gsepconv/{name}.py"
        assert re.search(rf"^{re.escape(path)}\s", layout, re.M), f"the README's layout has no line for {path}"
