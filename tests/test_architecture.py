"""The map in ARCHITECTURE.md, enforced: who may import whom, no import circles, no private reach.

The checks read source text only (``ast``); nothing is imported or run. Each rule is first shown
to bite on a small made-up module, then applied to the real tree: zablib, the benchmarks, the
scripts, and the code cells of every chapter and exercise notebook.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "zablib"

#: Layers of zablib, lowest first. A module may import modules of its own group when the group
#: says so, and modules of any group listed in ``MAY_IMPORT`` — nothing else from zablib.
GROUPS: dict[str, tuple[str, ...]] = {
    "core": ("zablib.core",),
    "kernel": ("zablib.network", "zablib.trace", "zablib.invariants", "zablib.quorum"),
    "sim": ("zablib.sim",),
    "explore": ("zablib.explore", "zablib.linearizability"),
    "protocols": ("zablib.protocols.*",),
    "tree": ("zablib.coord.errors", "zablib.coord.paths", "zablib.coord.tree", "zablib.coord.txn"),
    "coord": ("zablib.coord.*",),
    "etcd": ("zablib.etcd", "zablib.etcd.errors", "zablib.etcd.mvcc", "zablib.etcd.server",
             "zablib.etcd.client", "zablib.etcd.simulation"),
    "recipes": ("zablib.recipes.*",),
    "models": ("zablib.models.*",),
    "faults": ("zablib.faults", "zablib.scenarios", "zablib.compare", "zablib.datadriven.*",
               "zablib.harness", "zablib.membership"),
    "etcd-contrast": ("zablib.etcd.contrast",),
    "viz": ("zablib.viz", "zablib.summary"),
    "widgets": ("zablib.widgets",),
    "grade": ("zablib.grade.*",),
    "package": ("zablib",),
}
MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "kernel": frozenset({"core"}),
    "sim": frozenset({"core", "kernel"}),
    "explore": frozenset(),
    "protocols": frozenset({"core", "kernel", "sim"}),
    "tree": frozenset(),
    "coord": frozenset({"core", "kernel", "sim", "protocols", "tree"}),
    "etcd": frozenset({"core", "kernel", "sim", "protocols"}),
    "recipes": frozenset({"tree", "explore"}),
    "models": frozenset({"core", "kernel", "sim", "explore", "protocols"}),
    "faults": frozenset({"core", "kernel", "sim", "explore", "protocols", "tree", "coord", "recipes"}),
    "etcd-contrast": frozenset({"core", "kernel", "sim", "explore", "protocols", "tree", "coord",
                                "recipes", "etcd", "faults"}),
    "viz": frozenset({"core", "kernel", "sim"}),
    "widgets": frozenset({"core", "kernel", "sim", "faults", "viz"}),
    "grade": frozenset(),
    "package": frozenset({"core", "kernel", "sim"}),
}
#: Groups whose modules may import each other (a protocol module may import the shared commit
#: module, the grader's modules each other); every other group imports only downwards.
INTRA_GROUP = frozenset({"kernel", "protocols", "tree", "coord", "etcd", "recipes", "models", "faults",
                         "grade"})
#: Protocol modules that other protocol modules may import: shared parts, not protocols.
SHARED_PROTOCOL_PARTS = frozenset({"zablib.protocols.commit", "zablib.protocols"})

#: Names that start with an underscore but are public API (namedtuple's methods, os._exit).
PUBLIC_UNDERSCORE = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults", "_exit"})


# -- reading source ---------------------------------------------------------------------------
def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def zablib_modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def notebook_code(path: Path) -> str:
    """The code cells of a notebook as one module (IPython magics and shell lines dropped)."""
    cells = json.loads(path.read_text())["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        for line in "".join(cell["source"]).splitlines():
            lines.append("" if line.lstrip().startswith(("%", "!")) else line)
        lines.append("")
    return "\n".join(lines)


def other_sources() -> Iterator[tuple[str, ast.Module]]:
    """Benchmarks, scripts and notebooks: code that uses zablib from outside."""
    for pattern in ("benchmarks/*.py", "scripts/*.py"):
        for path in sorted(ROOT.glob(pattern)):
            yield str(path.relative_to(ROOT)), ast.parse(path.read_text(), str(path))
    notebooks = [ROOT / "intro.ipynb", *ROOT.glob("chapters/**/*.ipynb"), *ROOT.glob("exercises/**/*.ipynb")]
    for path in sorted(notebooks):
        if ".ipynb_checkpoints" in path.parts:
            continue
        yield str(path.relative_to(ROOT)), ast.parse(notebook_code(path), str(path))


# -- the rules ----------------------------------------------------------------------------------
def imports_of(name: str, tree: ast.Module, known: Iterable[str]) -> set[str]:
    """The zablib modules that module ``name`` imports anywhere (lazy imports included)."""
    known = set(known)
    package = name if (PACKAGE / Path(*name.split(".")[1:]) / "__init__.py").exists() else \
        name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from zablib.coord import txn`` runs the package's __init__ first, then loads the
            # module: an edge to both. (Hence ``import zablib.coord.txn as txn`` between siblings.)
            targets = [base] + [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
        else:
            continue
        found.update(t for t in targets if t == "zablib" or t.startswith("zablib."))
    found.discard(name)
    return found


def group_of(module: str) -> str:
    for group, patterns in GROUPS.items():
        for pattern in patterns:
            if module == pattern or (pattern.endswith(".*") and
                                     (module == pattern[:-2] or module.startswith(pattern[:-1]))):
                return group
    raise AssertionError(f"{module} is in no group of ARCHITECTURE.md's map; add it there and here")


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        mine = group_of(module)
        for target in sorted(targets):
            theirs = group_of(target)
            if theirs == mine:
                if mine not in INTRA_GROUP:
                    bad.append(f"{module} imports {target}: same layer, not allowed")
                elif mine == "protocols" and target not in SHARED_PROTOCOL_PARTS:
                    bad.append(f"{module} imports {target}: a protocol must stand alone "
                               "(share code through zablib.protocols.commit or the kernel)")
            elif theirs not in MAY_IMPORT[mine]:
                bad.append(f"{module} ({mine}) imports {target} ({theirs})")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def private_reach(where: str, tree: ast.Module) -> list[str]:
    """Uses of another module's private names: ``from m import _x``, ``obj._x`` with ``obj`` not
    ``self``/``cls``, and ``self._x`` where this module never defines ``_x`` (an inherited
    private, e.g. a Simulation subclass calling ``self._apply``)."""
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
            defined.add(node.attr)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    bad: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("zablib"):
            for alias in node.names:
                if alias.name.startswith("_"):
                    bad.append((node.lineno, f"imports private {node.module}.{alias.name}"))
        elif isinstance(node, ast.Attribute):
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__") or attr in PUBLIC_UNDERSCORE:
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                if attr not in defined:
                    bad.append((node.lineno, f"{owner.id}.{attr} is private to another module"))
            else:
                bad.append((node.lineno, f"reaches into private .{attr}"))
    return [f"{where}:{line}: {what}" for line, what in sorted(bad)]


def zablib_graph() -> dict[str, set[str]]:
    modules = zablib_modules()
    return {name: imports_of(name, tree, modules) for name, tree in modules.items()}


# -- the rules bite ---------------------------------------------------------------------------
def test_a_made_up_import_circle_is_found():
    graph = {"zablib.protocols.twopc": {"zablib.models.commit_impl"},
             "zablib.models.commit_impl": {"zablib.protocols.threepc"},
             "zablib.protocols.threepc": {"zablib.protocols.twopc"},
             "zablib.sim": {"zablib.core"}, "zablib.core": set()}
    assert cycles(graph) == [["zablib.models.commit_impl", "zablib.protocols.threepc",
                              "zablib.protocols.twopc"]]
    bad = layering_violations(graph)
    assert "zablib.protocols.twopc (protocols) imports zablib.models.commit_impl (models)" in bad
    assert any("zablib.protocols.threepc imports zablib.protocols.twopc" in b for b in bad)


def test_a_lazy_import_inside_a_function_counts():
    tree = ast.parse("def model():\n    from zablib.models.commit_impl import CommitModel\n")
    known = {"zablib.models.commit_impl", "zablib.protocols.twopc"}
    assert imports_of("zablib.protocols.twopc", tree, known) == {"zablib.models.commit_impl"}


def test_from_package_import_module_is_an_edge_to_the_package_and_the_module():
    tree = ast.parse("from zablib import viz\nfrom zablib import InvariantViolation\n")
    known = {"zablib", "zablib.viz", "zablib.widgets"}
    assert imports_of("zablib.widgets", tree, known) == {"zablib.viz", "zablib"}
    tree = ast.parse("import zablib.coord.errors as errors\n")
    known = {"zablib.coord", "zablib.coord.errors", "zablib.coord.txn"}
    assert imports_of("zablib.coord.txn", tree, known) == {"zablib.coord.errors"}


def test_a_package_that_imports_its_modules_eagerly_makes_a_circle_with_them():
    """The circle this session first shipped: zablib/coord/__init__.py imported the client, and the
    client's modules took their siblings with ``from zablib.coord import errors``."""
    known = {"zablib.coord", "zablib.coord.client", "zablib.coord.errors"}
    package = ast.parse("from zablib.coord.client import KazooClient\n")
    client = ast.parse("from zablib.coord import errors\n")
    graph = {"zablib.coord": imports_of("zablib.coord", package, known),
             "zablib.coord.client": imports_of("zablib.coord.client", client, known),
             "zablib.coord.errors": set()}
    assert cycles(graph) == [["zablib.coord", "zablib.coord.client"]]


def test_private_reach_is_found():
    source = (
        "from zablib.network import _describe_ids\n"
        "class Sub(Simulation):\n"
        "    def deliver(self):\n"
        "        self._apply(1, out)\n"      # inherited private of sim.py
        "        self._mine = 1\n"
        "        return self._mine\n"        # defined here: fine
        "def f(sim, p):\n"
        "    sim.now = 3\n"
        "    return sim._heap, p._replace(a=1)\n"   # _heap is private, _replace is namedtuple API
    )
    bad = private_reach("m.py", ast.parse(source))
    assert bad == ["m.py:1: imports private zablib.network._describe_ids",
                   "m.py:4: self._apply is private to another module",
                   "m.py:9: reaches into private ._heap"]


# -- the real tree ----------------------------------------------------------------------------
def test_zablib_has_no_import_circle():
    assert cycles(zablib_graph()) == []


def test_every_import_follows_the_map_of_architecture_md():
    assert layering_violations(zablib_graph()) == []


def test_the_map_names_every_module():
    text = (ROOT / "ARCHITECTURE.md").read_text()

    def named(module: str) -> bool:
        # A sub-package's modules are covered by the package's own entry (``grade``).
        parts = module.split(".")[1:]
        return any(f"`{'.'.join(parts[:k])}`" in text or f"`{'/'.join(parts[:k])}/`" in text
                   for k in range(1, len(parts) + 1))

    missing = [m for m in zablib_graph() if m != "zablib" and not named(m)]
    assert missing == [], f"ARCHITECTURE.md does not mention {missing}"


@pytest.mark.parametrize("name", sorted(zablib_modules()))
def test_no_private_reach_in_zablib(name):
    assert private_reach(name, zablib_modules()[name]) == []


def test_no_private_reach_in_notebooks_benchmarks_and_scripts():
    bad = [b for where, tree in other_sources() for b in private_reach(where, tree)]
    assert bad == []


def test_no_exercise_monkeypatches():
    """Students' code is plugged in through documented doors (``cluster(rules=...)``), never by
    replacing a class's method or patching a module."""
    bad = []
    for where, tree in other_sources():
        if not where.startswith("exercises"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("patch", "patch_object", "setattr"):
                bad.append(f"{where}:{node.lineno}: uses .{node.attr}")
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute):
                        bad.append(f"{where}:{node.lineno}: assigns to {ast.unparse(target)}")
                    if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                            and target.value.id in ("raft", "zab", "twopc", "threepc", "primary_backup")):
                        bad.append(f"{where}:{node.lineno}: assigns to {ast.unparse(target)}")
    assert bad == []


def test_the_data_tree_loads_no_consensus_and_no_service():
    """Importing the data tree runs ``zablib.coord``'s __init__ first: it must pull in neither ZAB
    nor the service (the package loads its public names lazily)."""
    import subprocess
    import sys

    code = ("import sys, zablib.coord.tree, zablib.coord.txn; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('zablib.'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT).stdout.split()
    assert [m for m in loaded if m.startswith("zablib.protocols")] == []
    assert sorted(m for m in loaded if m.startswith("zablib.coord.")) == [
        "zablib.coord.errors", "zablib.coord.paths", "zablib.coord.tree", "zablib.coord.txn"]
