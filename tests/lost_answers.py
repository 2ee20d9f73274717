"""Lose a call's answer after the server has applied it: ConnectionLoss with the write done.

That is the ambiguous outcome a recipe must handle: a ``create`` or ``set`` whose connection broke
before the answer came back may have been applied. :func:`lose_answers` makes it happen on
purpose, on either backend: the client's own class is given a subclass whose ``create`` and
``set`` make the real call (the server applies it) and then raise the backend's
``ConnectionLoss`` instead of returning, the given number of times. The recipe under test sees
exactly what a dropped connection would show it, and its retry goes on with the same session.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


class _LosesAnswers:
    """Mixed in front of the client's class (see :func:`lose_answers`)."""

    losing: dict[str, int]
    lost_errors: ModuleType

    def _lose(self, method: str, answer: Any) -> Any:
        if self.losing.get(method, 0) > 0:
            self.losing[method] -= 1
            raise self.lost_errors.ConnectionLoss()
        return answer

    def create(self, *args: Any, **kwargs: Any) -> Any:
        return self._lose("create", super().create(*args, **kwargs))

    def set(self, *args: Any, **kwargs: Any) -> Any:
        return self._lose("set", super().set(*args, **kwargs))


def lose_answers(client: Any, errors: ModuleType, **counts: int) -> Any:
    """Make ``client`` lose the answers of its next ``counts[method]`` calls of ``create``/``set``
    (after the server applied them), raising ``errors.ConnectionLoss``; returns ``client``.

    ``client.losing`` shows how many losses are still to come."""
    unknown = set(counts) - {"create", "set"}
    if unknown:
        raise ValueError(f"only create and set answers can be lost, not {sorted(unknown)}")
    if not isinstance(client, _LosesAnswers):
        client.__class__ = type(f"Losing{type(client).__name__}", (_LosesAnswers, type(client)), {})
    client.losing = dict(counts)
    client.lost_errors = errors
    return client
