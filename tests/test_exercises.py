"""Every exercise grades both ways, on the real notebooks (DESIGN §6).

The reference solution scores full marks, the untouched student copy scores zero on every graded
cell, and plausible wrong answers (the mistakes a student is likely to make) lose points.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from zablib.grade import check_exercises

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"

#: Plausible wrong answers: case -> notebook -> {solution cell id: source}.
WRONG_ANSWERS = {
    "majority-off-by-one": {
        "01_replication.ipynb": {
            "solution-majority": "def majority(n):\n    return (n + 1) // 2\n",
        },
    },
    "majority-accepts-anything": {
        "01_replication.ipynb": {
            "solution-majority": "def majority(n):\n    return int(n) // 2 + 1\n",
        },
    },
    "lost-writes-unordered": {
        "01_replication.ipynb": {
            "solution-lost": (
                "def acknowledged_but_lost(acknowledged, new_log):\n"
                "    return sorted(set(acknowledged) - set(new_log))\n"
            ),
        },
    },
    "crash-after-the-batch-shipped": {
        "01_replication.ipynb": {
            "solution-crash-time": "def crash_time():\n    return 300.0\n",
        },
    },
}


def _write_wrong_answers(root: Path) -> None:
    for case, notebooks in WRONG_ANSWERS.items():
        for name, answers in notebooks.items():
            nb = nbformat.read(EXERCISES / "solutions" / name, as_version=4)
            ids = {c.get("id") for c in nb.cells}
            assert set(answers) <= ids, f"{case}: no solution cell {set(answers) - ids} in {name}"
            for cell in nb.cells:
                if cell.get("id") in answers:
                    cell.source = "# solution\n" + answers[cell.id]
            (root / case).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, root / case / name)


def test_every_exercise_has_a_solution_and_wrong_answers() -> None:
    names = sorted(p.name for p in EXERCISES.glob("*.ipynb"))
    assert names, "no exercise notebooks found"
    for name in names:
        assert (EXERCISES / "solutions" / name).is_file(), f"{name} has no reference solution"
        assert any(name in nbs for nbs in WRONG_ANSWERS.values()), f"{name} has no wrong answer"


def test_solutions_full_marks_stubs_zero_wrong_answers_caught(tmp_path: Path) -> None:
    _write_wrong_answers(tmp_path)
    problems = check_exercises(EXERCISES, wrong_dir=tmp_path, timeout=60)
    assert problems == []
