"""The student version of an exercise: solutions stripped, hidden test cells removed.

An instructor keeps the exercises' *source*: notebooks whose ``solution`` cells hold the
reference solution and whose test cells may be tagged ``hidden`` as well as ``tests``. Grading
runs the source (hidden tests included; the solution cells are always replaced, by the student's
or by a stub); ``python -m zablib.grade release SOURCE OUT`` writes what students get:

* each ``solution`` cell stubbed by :func:`stub_source`: between nbgrader-style markers
  ``### BEGIN SOLUTION`` / ``### END SOLUTION`` the code becomes ``raise NotImplementedError``;
  without markers every function keeps its signature and docstring and its body becomes
  ``raise NotImplementedError`` (leading comments are kept, other statements dropped);
* every cell tagged ``hidden`` removed (hidden tests, and setup only they need);
* outputs, execution counts and run-time metadata cleared.

The book's own student copies are exactly this release of ``exercises/solutions``.
"""

from __future__ import annotations

import ast
import copy
import io
import os
import re
import shutil
import tokenize
from pathlib import Path

import nbformat

from zablib.grade.notebook import SOLUTION_TAG, GradeInputError, cell_source, cell_tags

__all__ = [
    "HIDDEN_TAG",
    "STUB",
    "defined_names",
    "release_exercises",
    "release_notebook",
    "stub_source",
]

#: tag of cells that students never see (hidden tests); they run only at grading
HIDDEN_TAG = "hidden"
#: what a stripped solution does
STUB = "raise NotImplementedError"

_BEGIN = re.compile(r"^(\s*)#+\s*BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*#+\s*END SOLUTION\s*$")


def _python(source: str) -> str:
    """`source` as plain Python: IPython's magics and shell escapes turned into calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def defined_names(source: str) -> list[str]:
    """The names a cell binds at its top level (functions, classes, assignments, imports).

    Parameters
    ----------
    source : str
        A cell's source (IPython syntax allowed).

    Returns
    -------
    list of str
        In order of first appearance; empty if the cell cannot be parsed.
    """
    try:
        tree = ast.parse(_python(source))
    except (SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in tree.body:
        found: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found = [node.name]
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(node, ast.Import | ast.ImportFrom):
            found = [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
        names += [n for n in found if n not in names]
    return names


def _between_markers(lines: list[str]) -> list[str]:
    out: list[str] = []
    inside = False
    for line in lines:
        if not inside and (m := _BEGIN.match(line)):
            out.append(f"{m.group(1)}{STUB}")
            inside = True
        elif inside and _END.match(line):
            inside = False
        elif not inside:
            out.append(line)
    return out


def _header_end(node: ast.FunctionDef | ast.AsyncFunctionDef, source: str) -> tuple[int, int]:
    """(line, column) just after the colon that ends a function's signature."""
    depth = 0
    started = False
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if not started:
            started = tok.start[0] == node.lineno and tok.string == "def"
            continue
        if tok.string in "([{" and tok.type == tokenize.OP:
            depth += 1
        elif tok.string in ")]}" and tok.type == tokenize.OP:
            depth -= 1
        elif tok.string == ":" and depth == 0:
            return tok.end
    raise GradeInputError(f"cannot find where the signature of {node.name} ends")


def _docstring(node: ast.AST) -> ast.Expr | None:
    body = getattr(node, "body", [])
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        return first if isinstance(first.value.value, str) else None
    return None


def _stub_function(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], source: str) -> list[str]:
    """A function's decorators, signature and docstring, and ``raise NotImplementedError``."""
    first = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
    end_line, end_col = _header_end(node, source)
    head = lines[first : end_line - 1] + [lines[end_line - 1][:end_col]]
    doc = _docstring(node)
    if node.body[0].lineno == end_line:  # `def f(): return 1`: the body shares the line
        indent = " " * (node.col_offset + 4)
    else:
        indent = " " * node.body[0].col_offset
    if doc is not None and doc.lineno > end_line:
        head += lines[doc.lineno - 1 : doc.end_lineno]
    return head + [f"{indent}{STUB}"]


def stub_source(source: str) -> str:
    """A solution cell's source with the solution stripped.

    Parameters
    ----------
    source : str
        The instructor's solution cell.

    Returns
    -------
    str
        Between ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, if any, the code becomes
        ``raise NotImplementedError``. Otherwise each top-level function keeps its decorators,
        signature and docstring over a body of ``raise NotImplementedError`` (methods of a
        top-level class likewise); leading comment lines are kept and every other statement is
        dropped. A stub is its own stub.

    Raises
    ------
    GradeInputError
        If the cell has no markers and is not valid Python.
    """
    lines = source.splitlines()
    if any(_BEGIN.match(line) for line in lines):
        return "\n".join(_between_markers(lines))
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise GradeInputError(
            f"a solution cell is not valid Python ({exc.msg}, line {exc.lineno}); mark what to "
            "strip with ### BEGIN SOLUTION / ### END SOLUTION"
        ) from exc
    head = []
    for line in lines[: tree.body[0].lineno - 1] if tree.body else lines:
        if line.strip().startswith("#") or not line.strip():
            head.append(line)
    while head and not head[-1].strip():
        head.pop()
    stubs = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stubs.append("\n".join(_stub_function(node, lines, source)))
        elif isinstance(node, ast.ClassDef):
            stubs.append(_stub_class(node, lines, source))
    text = "\n\n\n".join(stubs or [STUB])  # no function: the cell fails until it is written
    return "\n".join([*head, text])


def _stub_class(node: ast.ClassDef, lines: list[str], source: str) -> str:
    """A class's header and docstring, with each method stubbed."""
    first = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
    out = lines[first : node.body[0].lineno - 1]
    doc = _docstring(node)
    if doc is not None:
        out += lines[doc.lineno - 1 : doc.end_lineno]
    methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for method in methods:
        out += ["", *_stub_function(method, lines, source)]
    if doc is None and not methods:
        out.append(" " * node.body[0].col_offset + "pass")
    return "\n".join(out)


def release_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of an instructor's exercise notebook.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The instructor's source; not modified.

    Returns
    -------
    nbformat.NotebookNode
        A copy without ``hidden`` cells, with stubbed ``solution`` cells, and with no outputs,
        execution counts or ``execution`` timing metadata.
    """
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if HIDDEN_TAG not in cell_tags(c)]
    for cell in out.cells:
        cell.get("metadata", {}).pop("execution", None)
        if cell.get("cell_type") != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        if SOLUTION_TAG in cell_tags(cell):
            cell.source = stub_source(cell_source(cell))
    return out


def release_exercises(source_dir: str | os.PathLike, out_dir: str | os.PathLike) -> list[Path]:
    """Write the student version of every exercise of a source folder.

    Parameters
    ----------
    source_dir : path
        The instructor's exercises (``*.ipynb`` at top level, and helper files).
    out_dir : path
        Where the student versions go (created; must not be `source_dir`). Helper files (top
        level, not hidden) are copied; sub-folders are not.

    Returns
    -------
    list of Path
        The notebooks written.

    Raises
    ------
    GradeInputError
        If `source_dir` holds no notebook, `out_dir` is `source_dir`, or a solution cell cannot
        be stubbed.
    """
    source, out = Path(source_dir), Path(out_dir)
    notebooks = sorted(p for p in source.glob("*.ipynb") if p.is_file())
    if not notebooks:
        raise GradeInputError(f"{source}: no exercise notebooks (*.ipynb) in it")
    if out.resolve() == source.resolve():
        raise GradeInputError("the release folder must not be the source folder")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        try:
            student = release_notebook(nb)
        except GradeInputError as exc:
            raise GradeInputError(f"{path}: {exc}") from exc
        nbformat.write(student, out / path.name)
        written.append(out / path.name)
    for helper in sorted(source.iterdir()):
        if helper.is_file() and helper.suffix != ".ipynb" and not helper.name.startswith("."):
            shutil.copy2(helper, out / helper.name)
    return written
