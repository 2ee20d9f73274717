"""Znode paths: ZooKeeper's rules on the server, kazoo's normalisation on the client.

ZooKeeper stores its data in a tree of *znodes* named like files: ``/app/config`` is the child
``config`` of ``/app``, whose parent is the root ``/``. Two different parties check a path:

* the **client** (kazoo) first normalises what the program passed (:func:`normalize`): it puts a
  ``/`` in front of a relative path, collapses doubled slashes, drops a trailing slash, and raises
  ``ValueError("relative paths not allowed")`` for a ``.`` or ``..`` segment;
* the **server** then checks the path it receives (:func:`validate_path`, ZooKeeper's
  ``PathUtils.validatePath``) and answers ``BadArgumentsError`` when it breaks a rule.

Both are here so that zablib's client and server apply each rule where the real ones do.
"""

from __future__ import annotations

ROOT = "/"

#: ZooKeeper's own znodes, present in every tree, which a client may not delete.
SPECIAL_PATHS = frozenset({"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"})


class InvalidPathError(ValueError):
    """A path breaks one of ZooKeeper's rules; the message names the rule and the position."""


def _bad_character(code: int) -> bool:
    # ZooKeeper compares Java chars (UTF-16 code units); a Python code point above U+FFFF is a
    # surrogate pair there, and surrogates fall in the forbidden range U+D800..U+F8FF.
    return (0 < code <= 0x1F or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xF8FF
            or 0xFFF0 <= code)


def path_problem(path: str, sequential: bool = False) -> str | None:
    """Why ZooKeeper's server would reject ``path``, or None when it is valid.

    Parameters
    ----------
    path : str
        The znode path as the server receives it.
    sequential : bool, default False
        A sequential create's path is checked with a digit appended, as the server appends the
        10-digit counter before checking it (so ``/queue/`` is a valid sequential prefix).

    Returns
    -------
    str or None
        A sentence naming the broken rule and, for a character rule, its position.
    """
    if sequential:
        path += "1"
    if path == "":
        return "path must not be empty"
    if path[0] != "/":
        return f"path {path!r} must start with '/'"
    if path == ROOT:
        return None
    if path[-1] == "/":
        return f"path {path!r} must not end with '/'"
    end = 0  # where the segment ends: the position of the '/' after it
    for segment in path[1:].split("/"):
        end += len(segment) + 1
        if segment == "":
            return f"path {path!r} has an empty node name at position {end}"
        if segment in (".", ".."):
            return f"path {path!r}: relative paths ({segment!r}) are not allowed"
    for index, char in enumerate(path):
        if char == "\0":
            return f"path {path!r} has a null character at position {index}"
        if _bad_character(ord(char)):
            return f"path {path!r} has an invalid character {char!r} at position {index}"
    return None


def validate_path(path: str, sequential: bool = False) -> str:
    """Check ``path`` against ZooKeeper's path rules (the server's check).

    The rules (``PathUtils.validatePath`` in ZooKeeper 3.8): a path starts with ``/``; only the
    root ``/`` ends with ``/``; no node name is empty (``//``), ``.`` or ``..``; no character is
    NUL, a control character (U+0001..U+001F, U+007F..U+009F), in U+D800..U+F8FF (surrogates
    and private use; every character above U+FFFF counts, as Java sees it as a surrogate pair)
    or in U+FFF0..U+FFFF.

    Parameters
    ----------
    path : str
        The path to check.
    sequential : bool, default False
        True for a sequential create, whose path is a prefix the server completes with a counter.

    Returns
    -------
    str
        ``path`` itself, so a caller can write ``path = validate_path(path)``.

    Raises
    ------
    TypeError
        If ``path`` is not a str.
    InvalidPathError
        (a ValueError) naming the broken rule; a server answers ``BadArgumentsError`` instead.
    """
    check_path_type(path)
    problem = path_problem(path, sequential)
    if problem is not None:
        raise InvalidPathError(problem)
    return path


def check_path_type(path: object) -> None:
    """Raise kazoo's TypeError when ``path`` is not a str."""
    if not isinstance(path, str):
        raise TypeError(f"Invalid type for 'path' (string expected), got {type(path).__name__}")


def normalize(path: str, trailing: bool = False) -> str:
    """Normalise a path as the kazoo client does before sending it.

    kazoo (``kazoo.protocol.paths._prefix_root`` with no chroot) accepts a relative path and
    puts it under the root, collapses empty segments (``/a//b`` becomes ``/a/b``), drops a
    trailing slash unless ``trailing`` (kazoo keeps it for a sequential create: ``/queue/``
    makes children named by the counter alone) and rejects ``.`` and ``..`` segments.

    Parameters
    ----------
    path : str
        What the program passed.
    trailing : bool, default False
        Keep a trailing slash (kazoo passes ``trailing=sequence`` on create).

    Returns
    -------
    str
        The path the client sends to the server.

    Raises
    ------
    TypeError
        If ``path`` is not a str.
    ValueError
        ``"relative paths not allowed"`` for a ``.`` or ``..`` segment (kazoo's message).

    Examples
    --------
    >>> normalize("a//b/")
    '/a/b'
    >>> normalize("/queue/", trailing=True)
    '/queue/'
    """
    check_path_type(path)
    names = [name for name in path.split("/") if name != ""]
    if any(name in (".", "..") for name in names):
        raise ValueError("relative paths not allowed")
    normal = "/" + "/".join(names)
    if trailing and path.endswith("/") and normal != ROOT:
        normal += "/"
    return normal


def parent(path: str) -> str:
    """The parent of ``path`` as the server computes it: everything before the last ``/``.

    The root's parent and the parent of ``/a`` are both the root (ZooKeeper's empty string, an
    alias of the root).
    """
    return path[: path.rfind("/")] or ROOT


def basename(path: str) -> str:
    """The last node name of ``path`` (``"b"`` for ``/a/b``; ``""`` for the root)."""
    return path[path.rfind("/") + 1:]


def join(parent_path: str, name: str) -> str:
    """The path of child ``name`` under ``parent_path``."""
    return ("" if parent_path == ROOT else parent_path) + "/" + name


def sequential_path(prefix: str, counter: int) -> str:
    """The path of a sequential znode: ``prefix`` plus the counter as 10 digits (``%010d``).

    ZooKeeper formats the parent's ``cversion`` with Java's ``%010d``: a negative counter (after
    2**31 child creations) keeps its minus sign, a counter is never wider than needed.
    """
    return f"{prefix}{counter:010d}"
