"""The syntax of one command line: a name, positional values and ``key=value`` options.

::

    partition (1,2) (3,4,5)          # positional values; a parenthesised list is a tuple
    cluster raft n=3 seed=16 spares=1 election_ms=(5000,6000)
    submit 'two words'               # quote a string that has spaces (Python syntax)

Values are read the same way everywhere: ``3`` is an int, ``0.1`` a float, ``True``, ``False`` and
``None`` are themselves, ``'...'`` or ``"..."`` is a string, ``(a,b,...)`` is a tuple of values and
any other word is a string (``x``, ``commit-previous-term``, ``raft.figure8``). A ``#`` at the
start of a word begins a comment that runs to the end of the line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
_WORD_VALUES = {"True": True, "False": False, "None": None}


@dataclass(frozen=True)
class Command:
    """A parsed command line.

    Attributes
    ----------
    name : str
        The first word, e.g. ``"run"``.
    args : tuple
        Positional values, converted (see the module docstring).
    options : dict
        ``key=value`` options, converted.
    """

    name: str
    args: tuple[Any, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


def parse_command(line: str) -> Command:
    """Split a command line into a :class:`Command`.

    Raises
    ------
    ValueError
        For an unbalanced parenthesis or quote, a repeated option, or a value that cannot be read.
    """
    words = _split(line)
    if not words:
        raise ValueError("empty command")
    name, rest = words[0], words[1:]
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise ValueError(f"a command name is a lower-case word, got {name!r}")
    args: list[Any] = []
    options: dict[str, Any] = {}
    for word in rest:
        key = _KEY.match(word)
        if key:
            k = key.group()[:-1]
            if k in options:
                raise ValueError(f"option {k}= given twice")
            options[k] = convert(word[key.end():])
        elif options:
            raise ValueError(f"positional value {word!r} after a key=value option; put it first")
        else:
            args.append(convert(word))
    return Command(name, tuple(args), options)


def convert(text: str) -> Any:
    """Read one value (see the module docstring)."""
    if not text:
        raise ValueError("missing value (nothing after '=')")
    if text[0] == "(":
        if text[-1] != ")":
            raise ValueError(f"unbalanced parentheses in {text!r}")
        items = _split_items(text[1:-1])
        return tuple(convert(item) for item in items)
    if text[0] in "'\"":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ValueError(f"cannot read the quoted string {text}") from None
        if not isinstance(value, str):
            raise ValueError(f"cannot read the quoted string {text}")
        return value
    if text in _WORD_VALUES:
        return _WORD_VALUES[text]
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if any(c in text for c in "()'\","):
        raise ValueError(f"cannot read {text!r}: quote a string that holds ( ) ' \" or ,")
    return text


def _split(line: str) -> list[str]:
    """Split at spaces outside quotes and parentheses; stop at a word that starts with '#'."""
    return [word for word in _scan(line, str.isspace, comments=True) if word]


def _split_items(inner: str) -> list[str]:
    """The comma-separated items of a parenthesised list (nested lists and quotes respected)."""
    items = [item.strip() for item in _scan(inner, ",".__eq__, comments=False)]
    if items == [""]:
        return []  # ()
    if len(items) > 1 and items[-1] == "":
        items.pop()  # a trailing comma, as in (1,)
    if "" in items:
        raise ValueError(f"empty item in ({inner})")
    return items


def _scan(text: str, separates: Callable[[str], bool], *, comments: bool) -> list[str]:
    """Cut ``text`` at the characters ``separates`` accepts outside quotes and parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for c in text:
        if quote:
            current.append(c)
            if c == quote:
                quote = ""
        elif depth == 0 and separates(c):
            parts.append("".join(current))
            current = []
        elif comments and c == "#" and depth == 0 and not current:
            break
        else:
            current.append(c)
            if c in "'\"":
                quote = c
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth < 0:
                    raise ValueError(f"unbalanced ')' in {text.strip()!r}")
    if quote:
        raise ValueError(f"unterminated {quote} quote in {text.strip()!r}")
    if depth:
        raise ValueError(f"unbalanced '(' in {text.strip()!r}")
    parts.append("".join(current))
    return parts
