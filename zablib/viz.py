"""Pictures of simulations: space-time (Lamport) diagrams, cluster graphs and log grids.

Every function here is pure plotting: it reads a :class:`~zablib.sim.Simulation` (its trace, its
nodes' status reports, ``sim.status(i)``, and its network) and returns a
:class:`matplotlib.figure.Figure`. Nothing here changes a
simulation, and no protocol module imports this one. Figures have fixed sizes (at most
:data:`FIG_WIDTH` inches, 680 CSS pixels at :data:`SCREEN_DPI`, so that they fit the book's output
column, :data:`COLUMN_PX`, unshrunk), no text smaller than :data:`MIN_FONT_PT` points at that
size, and no randomness, so the
same simulation always gives the same picture, which keeps notebook outputs stable.

The figures are created through :mod:`matplotlib.pyplot` and closed before they are returned (so
that Jupyter does not show them a second time, and a long-running notebook does not accumulate
open figures). Return one as the last expression of a cell, or pass it to ``display``, to show
it. In IPython, importing this module makes every matplotlib figure display as a PNG drawn at
:data:`PIXEL_RATIO` times the screen's resolution with its width, in CSS pixels, in the output's
metadata (:func:`png_for_screen`): a high-density screen gets a sharp picture, and the page lays
it out at its normal size. Strict nbval skips ``image/png`` and output metadata, so the stored
text outputs of the notebooks do not change.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from math import cos, pi, sin
from typing import Any

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from zablib.core import NodeId
from zablib.network import describe_groups
from zablib.sim import Simulation

# -- shared style ------------------------------------------------------------------------------

#: Fill colour of a node by its ``role`` (lower case). Unknown roles are drawn in ``OTHER_COLOR``.
ROLE_COLORS: dict[str, str] = {
    "leader": "gold",
    "primary": "gold",
    "leading": "gold",
    "follower": "lightskyblue",
    "backup": "lightskyblue",
    "following": "lightskyblue",
    "candidate": "orange",
    "looking": "orange",
    "coordinator": "mediumpurple",
    "participant": "lightgreen",
    "observer": "plum",
    "observing": "plum",
}
OTHER_COLOR = "lightgrey"
#: Colours of further roles no entry of ``ROLE_COLORS`` names, in sorted order of their names
#: (the first unknown role of a cluster is ``OTHER_COLOR``), so that no two roles share a colour.
EXTRA_ROLE_COLORS = ("#c9daf8", "#d9ead3", "#fce5cd", "#ead1dc", "#fff2cc", "#d0e0e3")
CRASHED_COLOR = "0.62"
CUT_COLOR = "tab:red"
DROP_COLOR = "tab:red"
NOTE_COLOR = "darkmagenta"
CLIENT_COLOR = "tab:green"
TIMER_COLOR = "0.45"
LOST_COLOR = "0.3"
PARTITION_FILL = "#f4c7c3"
#: Colours of message arrows, given to message classes in sorted order of their names. None is
#: another legend entry's colour (green: client requests, red: losses, magenta: notes, greys),
#: and a run with more message classes than colours here gets further hues
#: (:func:`message_colors`), so that no two classes share a colour.
MESSAGE_PALETTE = ("tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
                   "tab:cyan", "navy", "darkgoldenrod", "teal", "mediumvioletred", "black",
                   "yellowgreen", "chocolate", "slateblue", "lightcoral")

_LABEL_BOX = dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none", alpha=0.75)
#: CSS pixels of the book's output column (measured: pydata-sphinx-theme in a 1280-pixel window).
COLUMN_PX = 688
#: CSS pixels per inch of a figure on the page.
SCREEN_DPI = 100
#: Width of a figure in inches, chosen so that with its margin (``png_for_screen``) it fills the
#: column unshrunk and the text of a figure is shown at the size it was drawn.
FIG_WIDTH = 6.8
#: Device pixels per CSS pixel in the PNGs shown in notebooks and pages; 2 is sharp on a
#: high-density ("retina") screen, and the page still lays the picture out SCREEN_DPI per inch.
PIXEL_RATIO = 2
#: The smallest font, in points at the displayed size, of any text a figure here writes.
MIN_FONT_PT = 8.0
LABEL_PT = MIN_FONT_PT  # labels on the drawing: as small as readable, to leave room for data
#: Event kinds :func:`spacetime` can draw (``send`` events are drawn as part of their arrows).
DRAWN_KINDS = ("deliver", "drop", "timer", "note", "client", "crash", "partition")
#: :func:`spacetime` labels arrows with message names automatically up to this many arrows.
AUTO_LABEL_ARROWS = 24
#: ... and labels notes with text up to this many notes (beyond it, markers only).
AUTO_LABEL_NOTES = 40


def role_color(role: str) -> str:
    """The fill colour of a node whose ``role`` is ``role`` (case-insensitive)."""
    return ROLE_COLORS.get(str(role).lower(), OTHER_COLOR)


def role_of(sim: Simulation, node: NodeId) -> str:
    """What the figures call ``node``'s role now: ``"crashed"`` while it is down, else its status
    role (``sim.status(node).role``).

    A crashed node's status report is the one it had when it crashed (``up`` is False), so a
    leader that crashed still reports ``"leader"``; a picture must not say so.
    """
    return str(sim.status(node).role) if sim.is_up(node) else "crashed"


def message_colors(names: Iterable[str]) -> dict[str, str]:
    """One colour per message class, distinct for every class: :data:`MESSAGE_PALETTE` in sorted
    order of the names, then further evenly spaced hues."""
    names = sorted(set(names))
    colors = dict(zip(names, MESSAGE_PALETTE, strict=False))
    extra = names[len(MESSAGE_PALETTE):]
    for k, name in enumerate(extra):
        hue = (k + 0.5) / len(extra)
        colors[name] = mcolors.to_hex(mcolors.hsv_to_rgb((hue, 0.9, 0.55 + 0.3 * (k % 2))))
    return colors


def _role_colors(roles: Iterable[str]) -> dict[str, str]:
    known = {r: role_color(r) for r in roles if r.lower() in ROLE_COLORS}
    unknown = sorted({r for r in roles if r.lower() not in ROLE_COLORS and r != "crashed"})
    palette = (OTHER_COLOR, *EXTRA_ROLE_COLORS)
    known.update({r: palette[k % len(palette)] for k, r in enumerate(unknown)})
    return known


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render ``fig`` to PNG bytes (for ``IPython.display.Image`` or a file)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def png_for_screen(fig: Figure) -> tuple[bytes, dict[str, int]]:
    """``fig`` as a sharp PNG for a page, and the size the page should show it at.

    The PNG is drawn at ``SCREEN_DPI * PIXEL_RATIO`` dots per inch and cropped to what the
    figure draws (``bbox_inches="tight"``); the metadata, ``{"width": w}``, is its width in CSS
    pixels (``SCREEN_DPI`` per inch), the form Jupyter and MyST-NB read from an output's
    ``metadata["image/png"]``. Only the width is given, so a narrower column scales the picture
    down with its proportions kept. The bytes are the same for the same figure.

    Returns
    -------
    (bytes, dict)
        The PNG and ``{"width": css_pixels}``.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=SCREEN_DPI * PIXEL_RATIO, bbox_inches="tight",
                pad_inches=0.04)
    data = buffer.getvalue()
    width = int.from_bytes(data[16:20], "big")  # the IHDR chunk: width, then height
    return data, {"width": round(width / PIXEL_RATIO)}


def display_data(fig: Figure, *, panel: bool = False) -> dict[str, Any]:
    """A Jupyter ``display_data`` output (a dict in nbformat's shape) showing ``fig`` sharply.

    For code that writes outputs itself, e.g. an ``ipywidgets.Output``'s ``outputs``: the PNG of
    :func:`png_for_screen` (with ``panel``, of :func:`png_for_panel`: one pass, not cropped),
    base64-encoded, with its width in the output's metadata.
    """
    data, size = (png_for_panel if panel else png_for_screen)(fig)
    return {"output_type": "display_data", "metadata": {"image/png": size},
            "data": {"image/png": base64.b64encode(data).decode("ascii"), "text/plain": "<figure>"}}


class _PanelCanvas(FigureCanvasAgg):
    """An Agg canvas that draws every figure of one size into the same renderer.

    matplotlib caches text extents per renderer; a panel redraws figures of the same few sizes
    over and over, so keeping their renderers keeps the extents of its labels too (about 5 % of
    a redraw). Each draw clears the pixels first, so what is drawn does not depend on what was
    drawn before.
    """

    renderers: dict[tuple[int, int, float], RendererAgg] = {}
    KEEP = 8  # sizes kept (a panel's two figures; a cluster graph's height follows its labels)

    def get_renderer(self) -> RendererAgg:
        w, h = self.figure.bbox.size
        key = (int(w), int(h), self.figure.dpi)
        renderer = self.renderers.pop(key, None)
        if renderer is None:
            renderer = RendererAgg(int(w), int(h), self.figure.dpi)
        self.renderers[key] = renderer  # most recently used last
        while len(self.renderers) > self.KEEP:
            del self.renderers[next(iter(self.renderers))]
        self.renderer = renderer
        return renderer


def rgba_png(pixels: Any) -> bytes:
    """An RGBA PNG of ``pixels`` (rows x columns x 4 bytes, e.g. an Agg canvas's ``buffer_rgba()``),
    written with no row filter and zlib at level 1: on a figure's large plain areas about as small
    as Pillow's PNG at that level and twice as fast (Pillow tries five filters on every row).
    The same pixels give the same bytes."""
    height, width = pixels.shape[:2]
    rows = np.empty((height, 1 + 4 * width), np.uint8)
    rows[:, 0] = 0  # each row starts with its filter type: 0, none
    rows[:, 1:] = np.asarray(pixels).reshape(height, 4 * width)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1))
            + chunk(b"IEND", b""))


def png_for_panel(fig: Figure) -> tuple[bytes, dict[str, int]]:
    """``fig`` as a sharp PNG for a widget panel, drawn in one pass, and the size to show it at.

    As sharp as :func:`png_for_screen` (``SCREEN_DPI * PIXEL_RATIO`` dots per inch, the CSS width
    in the metadata) but made for a redraw that a reader waits for: the figure is drawn once
    (``savefig`` draws a figure with a layout engine twice, and ``bbox_inches="tight"`` once more),
    into a renderer kept for its size (``_PanelCanvas``), and its pixels are written as a PNG
    without row filters and with fast compression (:func:`rgba_png`). The whole figure is kept, not
    cropped: panel figures are laid out to fill their size. The bytes are the same for the same
    figure.

    Returns
    -------
    (bytes, dict)
        The PNG and ``{"width": css_pixels}``.
    """
    canvas, dpi = fig.canvas, fig.dpi
    try:
        fig.set_dpi(SCREEN_DPI * PIXEL_RATIO)
        drawn = _PanelCanvas(fig)
        drawn.draw()
        data = rgba_png(drawn.buffer_rgba())
    finally:  # the figure keeps its own size and canvas (its text repr says the same)
        fig.set_dpi(dpi)
        fig.set_canvas(canvas)
    return data, {"width": round(int.from_bytes(data[16:20], "big") / PIXEL_RATIO)}


def _show_figures_sharply_in_ipython() -> None:
    """Make every Figure shown in IPython a high-density PNG with its CSS width in its metadata.

    This replaces the inline backend's PNG (drawn at the figure's own 100 dpi, blurred on a
    high-density screen), and it also serves other backends (``MPLBACKEND=Agg``, say), where a
    returned figure would otherwise print only as ``<Figure ...>``. The text repr is unchanged.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to register
        return
    shell = get_ipython()
    if shell is None:
        return
    import matplotlib

    try:
        backend = matplotlib.get_backend(auto_select=False)
    except TypeError:  # matplotlib before 3.10 resolves the backend on its own
        backend = matplotlib.get_backend()
    if backend is not None and "inline" in backend:
        # pyplot loads its backend at the first figure; the inline backend then chooses its
        # figure formats, once per kernel, replacing ours. Load it now, so that it has chosen.
        import matplotlib_inline.backend_inline  # noqa: F401
    shell.display_formatter.formatters["image/png"].for_type(Figure, png_for_screen)


_show_figures_sharply_in_ipython()


def _finish(fig: Figure, owned: bool) -> Figure:
    if owned:
        plt.close(fig)  # shown by the caller; see the module docstring
    return fig


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes, bool]:
    if ax is not None:
        return ax.figure, ax, False
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax, True


def _short(value: Any, width: int) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


# -- space-time diagram ------------------------------------------------------------------------

@dataclass(frozen=True)
class Arrow:
    """A delivered message: sent by ``src`` at ``sent``, handled by ``dst`` at ``arrived``."""

    msg_id: int
    src: NodeId
    dst: NodeId
    sent: float
    arrived: float
    label: str
    duplicate: bool


@dataclass(frozen=True)
class Drop:
    """A lost message. ``at_send`` is true when it was lost as it left (loss, partition)."""

    msg_id: int
    src: NodeId
    dst: NodeId
    sent: float
    dropped: float
    label: str
    reason: str
    at_send: bool


@dataclass(frozen=True)
class Mark:
    """A point event on a lifeline (note, timer or client request) with its label."""

    node: NodeId
    time: float
    label: str


@dataclass(frozen=True)
class SpacetimeLayout:
    """Everything :func:`spacetime` draws, as plain data (handy for tests and custom plots).

    Times are milliseconds; intervals whose end is ``None`` are still open.
    """

    nodes: tuple[NodeId, ...]
    start: float
    end: float
    arrows: tuple[Arrow, ...]
    drops: tuple[Drop, ...]
    notes: tuple[Mark, ...]
    timers: tuple[Mark, ...]
    clients: tuple[Mark, ...]
    crashes: tuple[tuple[NodeId, float, float | None], ...]
    partitions: tuple[tuple[tuple[frozenset[NodeId], ...], float, float | None], ...]


def _note_label(event) -> str:
    if event.tag:  # a tag and its value: short, written whole (a value's str, e.g. a ballot "2.1")
        return event.tag if event.value is None else f"{event.tag} {event.value}"
    return _short(event.text, 24)


#: A ``focus=(a, b)`` window shows this fraction of ``b - a`` before ``a`` and after ``b``.
FOCUS_MARGIN = 0.1


def focus_window(focus: tuple[float, float] | None, start: float | None = None,
                 end: float | None = None) -> tuple[float | None, float | None]:
    """The ``(start, end)`` a figure draws, given either a window or a moment to focus on.

    ``focus=(a, b)`` names the moment a figure is about, e.g. from a crash to the new leader's
    first commit: the window is ``[a, b]`` widened by :data:`FOCUS_MARGIN` of its length on each
    side (never before 0), so what leads to the moment and what follows it stay in view and the
    moment fills the width instead of a few pixels of the whole run. Without ``focus``,
    ``start`` and ``end`` are returned unchanged.
    """
    if focus is None:
        return start, end
    if start is not None or end is not None:
        raise ValueError("give either focus=(a, b) or start=/end=, not both")
    try:
        a, b = (float(t) for t in focus)
    except (TypeError, ValueError):
        raise ValueError(f"focus must be a pair of times (a, b) in ms, got {focus!r}") from None
    if b < a:
        raise ValueError(f"focus=({a}, {b}) ends before it starts")
    margin = FOCUS_MARGIN * max(b - a, 1.0)
    return max(0.0, a - margin), b + margin


def lanes(sim: Simulation) -> tuple[NodeId, ...]:
    """The nodes a space-time diagram of ``sim`` draws by default, in ``sim.node_ids`` order.

    Every node, except client slots that never did anything: a coordination service's
    simulation (``zablib.coord.Ensemble``) builds its client nodes up front, 16 by default, and
    a run usually uses a few. A node counts as a client slot when its status role is
    ``"client"``; it is left out when the trace holds nothing about it but its start.
    """
    busy: set[NodeId] = set()
    for e in sim.trace:
        if e.kind != "start":
            busy.add(e.node)
            busy.add(e.peer)
    return tuple(i for i in sim.node_ids if i in busy or sim.status(i).role != "client")


def spacetime_layout(
    sim: Simulation,
    *,
    start: float | None = None,
    end: float | None = None,
    kinds: Iterable[str] = DRAWN_KINDS,
    notes: str = "tagged",
    nodes: Iterable[NodeId] | None = None,
    hide: Iterable[str] = (),
) -> SpacetimeLayout:
    """Extract from ``sim`` what a space-time diagram of ``[start, end]`` shows.

    Parameters are those of :func:`spacetime`. A message is kept when its send or its delivery
    (or drop) falls in the window, both its ends are drawn lifelines and its class is not in
    ``hide``.
    """
    drawn = lanes(sim) if nodes is None else tuple(nodes)
    unknown_nodes = [i for i in drawn if i not in sim.node_ids]
    if unknown_nodes or len(set(drawn)) != len(drawn) or not drawn:
        raise ValueError(f"nodes must be distinct nodes of the simulation, got {list(drawn)}")
    on_lane = set(drawn)
    hidden = frozenset(hide)
    kinds = tuple(kinds)
    unknown = set(kinds) - set(DRAWN_KINDS) - {"send"}
    if unknown:
        raise ValueError(f"spacetime cannot draw event kind(s) {sorted(unknown)}; use {DRAWN_KINDS}")
    if notes not in ("tagged", "all", "none"):
        raise ValueError(f"notes must be 'tagged', 'all' or 'none', got {notes!r}")
    events = list(sim.trace)
    last = max([sim.now] + [e.time for e in events[-1:]])
    lo = 0.0 if start is None else float(start)
    hi = last if end is None else float(end)
    if hi < lo:
        raise ValueError(f"end={end} is before start={start}")
    if hi == lo:
        hi = lo + 1.0  # an empty window still gets an axis

    def inside(*times: float) -> bool:
        return any(lo <= t <= hi for t in times)

    sends = {e.msg_id: e for e in events if e.kind == "send"}
    arrows, drops, note_marks, timers, clients = [], [], [], [], []
    for e in events:
        if e.node not in on_lane or (e.peer is not None and e.peer not in on_lane) \
                or (e.message is not None and type(e.message).__name__ in hidden):
            continue
        if e.kind == "deliver" and "deliver" in kinds:
            s = sends.get(e.msg_id)
            sent = s.time if s is not None else e.time
            if inside(sent, e.time):
                arrows.append(Arrow(e.msg_id, e.peer, e.node, sent, e.time,
                                    type(e.message).__name__, e.text == "duplicate"))
        elif e.kind == "drop" and "drop" in kinds:
            s = sends.get(e.msg_id)
            sent = s.time if s is not None else e.time
            if inside(sent, e.time):
                at_send = s is not None and s.seq == e.seq - 1 and sent == e.time
                drops.append(Drop(e.msg_id, e.peer, e.node, sent, e.time,
                                  type(e.message).__name__, e.text, at_send))
        elif not lo <= e.time <= hi:
            continue
        elif e.kind == "note" and "note" in kinds:
            if notes == "all" or (notes == "tagged" and e.tag):
                note_marks.append(Mark(e.node, e.time, _note_label(e)))
        elif e.kind == "timer" and "timer" in kinds:
            timers.append(Mark(e.node, e.time, e.text))
        elif e.kind == "client" and "client" in kinds:
            clients.append(Mark(e.node, e.time, _short(e.text, 12)))

    def overlaps(a: float, b: float | None) -> bool:
        return a <= hi and (b is None or b >= lo)

    crashes = (tuple(c for c in sim.crash_intervals if c[0] in on_lane and overlaps(c[1], c[2]))
               if "crash" in kinds else ())
    parts = (tuple(p for p in sim.partition_intervals if overlaps(p[1], p[2]))
             if "partition" in kinds else ())
    if set(sim.node_ids) - on_lane:  # name only the drawn nodes in each group
        parts = tuple((tuple(g & on_lane for g in groups if g & on_lane), a, b) for groups, a, b in parts)
    return SpacetimeLayout(drawn, lo, hi, tuple(arrows), tuple(drops),
                           tuple(note_marks), tuple(timers), tuple(clients), crashes, parts)


class _LabelRoom:
    """Where labels already sit on a space-time diagram, to write new ones only where they
    overprint none of them and stay inside the time window (never cut at its edge)."""

    def __init__(self, lo: float, hi: float, char_ms: float, line_rows: float) -> None:
        self.lo, self.hi, self.char_ms, self.line_rows = lo, hi, char_ms, line_rows
        self.boxes: list[tuple[float, float, float, float]] = []  # x0, x1, y0, y1 (data units)

    def place(self, right_of: float, left_of: float, y: float, chars: int,
              va: str) -> tuple[float, str] | None:
        """A free spot for ``chars`` characters: ``(x, ha)`` starting at ``right_of`` (leftward,
        ending at ``left_of``, when the right has no room), or None."""
        width = (chars + 0.5) * self.char_ms
        gap = self.char_ms  # between two labels on one line: they must not read as one
        y0 = y - self.line_rows / 2 if va == "center" else y
        y1 = y0 + self.line_rows
        for x0, x, ha in ((right_of, right_of, "left"), (left_of - width, left_of, "right")):
            x1 = x0 + width
            if x0 < self.lo or x1 > self.hi:
                continue
            if any(x0 < b1 + gap and b0 < x1 + gap and y0 < c1 and c0 < y1
                   for b0, b1, c0, c1 in self.boxes):
                continue
            self.boxes.append((x0, x1, y0, y1))
            return x, ha
        return None


def _message_colors(layout: SpacetimeLayout) -> dict[str, str]:
    return message_colors({a.label for a in layout.arrows} | {d.label for d in layout.drops})


def spacetime(
    sim: Simulation,
    *,
    start: float | None = None,
    end: float | None = None,
    kinds: Iterable[str] = DRAWN_KINDS,
    labels: bool | None = None,
    notes: str = "tagged",
    title: str | None = None,
    ax: Axes | None = None,
    nodes: Iterable[NodeId] | None = None,
    hide: Iterable[str] = (),
    names: Mapping[NodeId, str] | None = None,
    spans: Iterable[tuple[NodeId, float, float | None, str]] = (),
    marks: Iterable[tuple[NodeId, float, str]] = (),
    focus: tuple[float, float] | None = None,
) -> Figure:
    """Draw a space-time (Lamport) diagram of ``sim.trace``.

    One horizontal lifeline per node (node 1 at the top), time in milliseconds to the right. Each
    delivered message is an arrow from its ``send`` to its ``deliver`` (a duplicated message gives
    two arrows), coloured by message class. A lost message is a dashed stub ending in a red ✗:
    when it was lost on the way (loss, partition) the stub points a little toward its destination;
    when it arrived at a crashed, restarted or cut-off node it reaches that lifeline. Crashes are
    grey hatched bands on the lifeline, partitions pink background spans labelled with their
    groups, notes small diamonds (with short labels when there are few), timers tiny ticks and
    client requests green triangles.

    Parameters
    ----------
    sim : Simulation
        The run to draw (it is not changed).
    start, end : float, optional
        The time window in milliseconds (default: from 0 to the simulation's current time). A
        whole run squeezes a moment of a few milliseconds into a few pixels: zoom to it.
    kinds : iterable of str
        Which of :data:`DRAWN_KINDS` to draw, e.g. ``("deliver", "crash")`` for arrows and crashes.
    labels : bool, optional
        Write each arrow's message class at its midpoint. Default: only when there are at most
        :data:`AUTO_LABEL_ARROWS` arrows.
    notes : {"tagged", "all", "none"}
        Which ``note`` events to mark: only tagged ones (the default, which avoids clutter), all,
        or none.
    title : str, optional
        Axes title.
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure (the caller then owns the figure).
    nodes : iterable of int, optional
        The lifelines to draw, top to bottom (default :func:`lanes`: every node but unused
        client slots). A coordination service's clients (101, 102, ...) are lanes below its
        servers, separated from them by a dotted line; messages to or from a node not drawn
        are left out.
    hide : iterable of str
        Message classes not to draw, e.g. ``("Ping", "Pong", "Touches", "TouchesSeen")`` for the
        servers' own heartbeats, to leave the clients' requests and answers.
    names : mapping of int to str, optional
        A label for some lifelines instead of the node id, e.g. ``{101: "101 A"}``.
    spans : iterable of (node, start, end, label)
        Intervals to draw as translucent bars on a lifeline, e.g. when a client believed it
        held a lock (``end`` None: to the end of the window). Each label is written once, at
        the bar's start; bars with the same label share a colour.
    marks : iterable of (node, time, label)
        Moments to mark with a star and a label on a lifeline, e.g. a write the protected
        resource refused.
    focus : (float, float), optional
        The moment the figure is about, instead of ``start`` and ``end``: the window is
        ``focus`` with a margin on each side (:func:`focus_window`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    start, end = focus_window(focus, start, end)
    layout = spacetime_layout(sim, start=start, end=end, kinds=kinds, notes=notes, nodes=nodes,
                              hide=hide)
    nodes = layout.nodes
    row = {n: k for k, n in enumerate(nodes)}
    fig, ax, owned = _axes(ax, (FIG_WIDTH, 1.7 + 0.5 * len(nodes)))
    lo, hi = layout.start, layout.end
    span = hi - lo
    # Width of one character of the labels' text, in milliseconds, for spacing labels. A figure
    # of our own is laid out later: its axes will span the width but for the lifelines' names.
    axes_inches = max(fig.get_figwidth() - 0.6 if owned else ax.get_position().width * fig.get_figwidth(),
                      1.0)
    char_ms = span * (LABEL_PT * 0.56 / 72) / axes_inches

    ax.hlines(range(len(nodes)), lo, hi, colors="0.25", linewidth=0.9, zorder=1)
    # Height of a line of label text in rows (lifelines are 1 apart), from the axes' height.
    rows_shown = len(nodes) + (0.5 if layout.partitions else 0.0)
    axes_height = max(ax.get_position().height * fig.get_figheight(), 0.5)
    room = _LabelRoom(lo, hi, char_ms, 1.3 * LABEL_PT / 72 * rows_shown / axes_height)
    handles: list[Any] = []

    for groups, a, b in layout.partitions:
        b = hi if b is None else b
        ax.axvspan(max(a, lo), min(b, hi), color=PARTITION_FILL, alpha=0.55, linewidth=0, zorder=0,
                   gid="partition")
        ax.text(max(a, lo) + 0.5 * char_ms, -0.62, "partition " + describe_groups(groups), fontsize=LABEL_PT,
                color="darkred", va="bottom", ha="left", zorder=6, clip_on=True)
    if layout.partitions:
        handles.append(Patch(facecolor=PARTITION_FILL, alpha=0.55, label="partition"))

    for node, a, b in layout.crashes:
        b = hi if b is None else b
        a, b = max(a, lo), min(b, hi)
        ax.broken_barh([(a, b - a)], (row[node] - 0.13, 0.26), facecolors=CRASHED_COLOR,
                       edgecolors="0.4", hatch="////", linewidth=0.6, zorder=2, gid="crash")
    if layout.crashes:
        handles.append(Patch(facecolor=CRASHED_COLOR, edgecolor="0.4", hatch="////", label="crashed"))

    colors = _message_colors(layout)
    if layout.arrows:
        x = [a.sent for a in layout.arrows]
        y = [row[a.src] for a in layout.arrows]
        u = [a.arrived - a.sent for a in layout.arrows]
        v = [row[a.dst] - row[a.src] for a in layout.arrows]
        many = len(layout.arrows) > 150
        ax.quiver(x, y, u, v, color=[colors[a.label] for a in layout.arrows],
                  angles="xy", scale_units="xy", scale=1, width=0.0016 if many else 0.0022,
                  headwidth=5, headlength=6, headaxislength=5.5, alpha=0.55 if many else 0.85,
                  zorder=3, gid="messages")
        if labels if labels is not None else len(layout.arrows) <= AUTO_LABEL_ARROWS:
            for a in layout.arrows:
                for f in (0.5, 0.3, 0.7):  # at the middle of the arrow, or nearer one of its ends
                    at = a.sent + f * (a.arrived - a.sent)
                    y = row[a.src] + f * (row[a.dst] - row[a.src])
                    spot = room.place(at + 0.4 * char_ms, at - 0.4 * char_ms, y, len(a.label), "center")
                    if spot is not None:
                        break
                else:
                    continue  # it would overprint another label: the colour still tells
                x, ha = spot
                ax.text(x, y, a.label, fontsize=LABEL_PT, color=colors[a.label], va="center", ha=ha,
                        zorder=5, clip_on=True, gid="message-label", bbox=_LABEL_BOX)

    if layout.drops:
        stub_ms = max(0.012 * span, 1.0)
        segments, xs, ys = [], [], []
        for d in layout.drops:
            y0, y1 = row[d.src], row[d.dst]
            if d.at_send:  # lost as it left: point a third of the way toward the destination
                end_xy = (d.sent + stub_ms, y0 + 0.35 * (y1 - y0))
            else:
                end_xy = (d.dropped, y1)
            segments.append([(d.sent, y0), end_xy])
            xs.append(end_xy[0])
            ys.append(end_xy[1])
        ax.add_collection(LineCollection(segments, colors=[colors[d.label] for d in layout.drops],
                                         linestyles=(0, (3, 2)), linewidths=0.9, alpha=0.8,
                                         zorder=3, gid="drop-stubs"))
        ax.scatter(xs, ys, marker="x", s=22, linewidths=1.3, color=DROP_COLOR, zorder=4, gid="drops")
        handles.append(Line2D([], [], color=LOST_COLOR, linestyle=(0, (3, 2)), marker="x",
                              markeredgecolor=DROP_COLOR, markersize=5, label="lost message"))

    if layout.timers:
        ax.scatter([m.time for m in layout.timers], [row[m.node] for m in layout.timers],
                   marker="|", s=30, linewidths=0.8, color=TIMER_COLOR, zorder=2, gid="timers")
        handles.append(Line2D([], [], color=TIMER_COLOR, marker="|", linestyle="none",
                              markersize=5, label="timer"))

    if layout.clients:
        ax.scatter([m.time for m in layout.clients], [row[m.node] - 0.2 for m in layout.clients],
                   marker="v", s=22, color=CLIENT_COLOR, zorder=4, gid="clients")
        handles.append(Line2D([], [], color=CLIENT_COLOR, marker="v", linestyle="none",
                              markersize=5, label="client request"))

    if layout.notes:
        ax.scatter([m.time for m in layout.notes], [row[m.node] for m in layout.notes],
                   marker="D", s=16, color=NOTE_COLOR, zorder=5, gid="notes")
        handles.append(Line2D([], [], color=NOTE_COLOR, marker="D", linestyle="none",
                              markersize=4, label="note"))
        if len(layout.notes) <= AUTO_LABEL_NOTES:
            for m in layout.notes:
                spot = room.place(m.time, m.time - 0.4 * char_ms, row[m.node] + 0.2, len(m.label),
                                  "top")
                if spot is None:
                    continue  # no room: keep the marker, skip the text
                x, ha = spot
                ax.text(x, row[m.node] + 0.2, m.label, fontsize=LABEL_PT, color=NOTE_COLOR,
                        va="top", ha=ha, zorder=6, clip_on=True, gid="note-label",
                        bbox=_LABEL_BOX)

    handles += _draw_lane_extras(ax, sim, row, lo, hi, char_ms, spans, marks)

    for name, color in colors.items():
        handles.append(Line2D([], [], color=color, linewidth=1.5, label=name))

    ax.set_xlim(lo, hi)
    # Node 1 at the top, with room above it for partition labels.
    ax.set_ylim(len(nodes) - 0.5, -1.0 if layout.partitions else -0.5)
    ax.set_yticks(range(len(nodes)), [(names or {}).get(n, str(n)) for n in nodes])
    ax.set_ylabel("node")
    ax.set_xlabel("time (ms)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    if title:
        ax.set_title(title, fontsize=10)
    if handles:
        style = dict(handles=handles, ncol=min(5, len(handles)), fontsize=LABEL_PT, frameon=False,
                     handlelength=1.8, columnspacing=1.2)
        if owned:  # below the axes, where it cannot hide data; constrained layout makes room
            fig.legend(loc="outside lower center", **style)
        else:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), **style)
    return _finish(fig, owned)


#: Colours of :func:`spacetime`'s spans, by label in order of first appearance.
SPAN_PALETTE = ("#f6b26b", "#93c47d", "#6fa8dc", "#c27ba0", "#ffd966", "#76a5af")
MARK_COLOR = "crimson"


def _draw_lane_extras(ax: Axes, sim: Simulation, row: Mapping[NodeId, int], lo: float, hi: float,
                      char_ms: float, spans: Iterable[tuple[NodeId, float, float | None, str]],
                      marks: Iterable[tuple[NodeId, float, str]]) -> list[Any]:
    """The client-lane parts of a space-time diagram: the line between servers and clients, the
    caller's spans and marks. Returns their legend handles."""
    handles: list[Any] = []
    clients = [r for n, r in row.items() if sim.status(n).role == "client"]
    if clients and len(clients) < len(row):
        ax.axhline(min(clients) - 0.5, color="0.55", linewidth=0.7, linestyle=":", zorder=1,
                   gid="lane-separator")
    spans = [(n, a, b, label) for n, a, b, label in spans
             if n in row and a <= hi and (b is None or b >= lo)]
    palette: dict[str, str] = {}
    bands: dict[NodeId, list[str]] = {}  # per lane, its labels: one band each, stacked
    for n, _, _, label in spans:
        if label not in bands.setdefault(n, []):
            bands[n].append(label)
    for n, a, b, label in spans:
        color = palette.setdefault(label, SPAN_PALETTE[len(palette) % len(SPAN_PALETTE)])
        a, b = max(a, lo), min(hi if b is None else b, hi)
        height = 0.6 / len(bands[n])
        top = row[n] - 0.3 + bands[n].index(label) * height
        ax.broken_barh([(a, max(b - a, 0.0))], (top, height), facecolors=color, alpha=0.45,
                       linewidth=0, zorder=1, gid="span")
        ax.text(a + 0.5 * char_ms, top + height / 2, label, fontsize=LABEL_PT, color="0.2", va="center",
                ha="left", zorder=6, clip_on=True, gid="span-label")
    handles += [Patch(facecolor=c, alpha=0.45, label=label) for label, c in palette.items()]
    marks = [(n, t, label) for n, t, label in marks if n in row and lo <= t <= hi]
    if marks:
        ax.scatter([t for _, t, _ in marks], [row[n] for n, _, _ in marks], marker="*", s=70,
                   color=MARK_COLOR, zorder=7, gid="marks")
        for n, t, label in marks:
            right = t + (len(label) + 2) * char_ms > hi  # no room on the right: write it leftwards
            # above the lane's spans, where the text cannot cover a span's label
            ax.text(t - 0.8 * char_ms if right else t + 0.8 * char_ms, row[n] - 0.31, label,
                    fontsize=LABEL_PT, color=MARK_COLOR, va="bottom", ha="right" if right else "left",
                    zorder=7, clip_on=True, gid="mark-label", bbox=_LABEL_BOX)
    return handles


# -- a coordination service's runs: client lanes, and the tree over time -----------------------------

#: Message classes a coordination service's servers (``zablib.coord``) exchange among themselves
#: (ZAB's election, synchronisation and broadcast, forwarded requests, session upkeep) and the
#: heartbeats of its clients: :func:`client_lanes` hides them to leave what clients ask and are
#: told.
SERVER_MESSAGES = (
    "Ping", "Pong", "Touches", "TouchesSeen", "ClientPing", "ClientPong", "Notification",
    "FollowerInfo", "NewEpoch", "AckEpoch", "NewLeader", "AckNewLeader", "UpToDate", "Diff", "Trunc",
    "Snap", "Proposal", "Ack", "Commit", "Forward", "Revalidate", "Revalidated", "SyncDone")


def client_lanes(run: Any, *, start: float | None = None, end: float | None = None,
                 servers_talk: bool = False, title: str | None = None, ax: Axes | None = None,
                 focus: tuple[float, float] | None = None) -> Figure:
    """The space-time diagram of a coordination-service run, its clients as lanes below the servers.

    Parameters
    ----------
    run : zablib.scenarios.CoordRun
        A run of :mod:`zablib.scenarios` (any object with ``ens``, ``start``, ``names``,
        ``spans``, ``marks`` and ``lanes()``): its servers and clients are the lifelines, its
        spans and marks are drawn on them.
    start, end : float, optional
        The time window (default: from ``run.start``, when the scenario began, to the end).
    servers_talk : bool
        Also draw what the servers say among themselves (hidden by default:
        :data:`SERVER_MESSAGES`), and the clients' heartbeats.
    title : str, optional
        Axes title.
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure.
    focus : (float, float), optional
        The moment to zoom to, instead of ``start`` and ``end`` (:func:`focus_window`).
    """
    start, end = focus_window(focus, start, end)
    return spacetime(run.ens.sim, start=run.start if start is None else start, end=end,
                     kinds=("deliver", "drop", "crash", "partition"), notes="none",
                     nodes=run.lanes(), hide=() if servers_talk else SERVER_MESSAGES, names=run.names,
                     spans=run.spans, marks=run.marks, title=title, ax=ax)


def znode_tree(run: Any, *, under: str = "/", title: str | None = None, ax: Axes | None = None,
               start: float | None = None, end: float | None = None,
               focus: tuple[float, float] | None = None) -> Figure:
    """The tree of a coordination-service run over time (:func:`tree_timeline` of ``run.lives()``),
    from when the scenario began to its end (or in the window ``start``/``end`` or ``focus``,
    as for :func:`client_lanes`), with the run's moments marked."""
    start, end = focus_window(focus, start, end)
    return tree_timeline(run.lives(under), start=run.start if start is None else start,
                         end=run.ens.now if end is None else end, moments=run.moments,
                         title=title, ax=ax)



PERSISTENT_COLOR = "tab:blue"
EPHEMERAL_COLOR = "tab:orange"


def tree_timeline(
    lives: Iterable[Any],
    *,
    start: float | None = None,
    end: float | None = None,
    moments: Iterable[tuple[float, str]] = (),
    title: str | None = None,
    ax: Axes | None = None,
    focus: tuple[float, float] | None = None,
) -> Figure:
    """Draw a ZooKeeper tree over time: one row per path, one bar per life of a znode.

    Each bar runs from the znode's creation to its deletion (to the right edge while it still
    exists), persistent znodes in blue, ephemeral ones in orange with their owner written on the
    bar. A path deleted and created again gets two bars on its row. Rows are sorted by path, so
    that a parent comes right above its children.

    Parameters
    ----------
    lives : iterable
        Objects with attributes ``path`` (str), ``created`` (ms), ``deleted`` (ms or None while
        it exists), ``ephemeral`` (bool) and ``owner`` (str or None: who owns an ephemeral
        znode), e.g. the :class:`zablib.scenarios.ZnodeLife` list that
        :func:`zablib.scenarios.znode_lives` reads from an ensemble's trace.
    start, end : float, optional
        The time window in ms (default: from the first creation to the last event of a life).
    moments : iterable of (time, label)
        Vertical dotted lines with a label at the top, e.g. ``(812.0, "provider crashes")``.
    title, ax, focus
        As for :func:`spacetime`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    start, end = focus_window(focus, start, end)
    lives = list(lives)
    moments = list(moments)
    paths = sorted({life.path for life in lives})
    times = [life.created for life in lives] + [life.deleted for life in lives if life.deleted is not None]
    lo = float(start) if start is not None else min(times, default=0.0)
    hi = float(end) if end is not None else max(times + [t for t, _ in moments], default=lo + 1.0)
    if hi < lo:
        raise ValueError(f"end={end} is before start={start}")
    if hi == lo:
        hi = lo + 1.0
    row = {path: k for k, path in enumerate(paths)}
    fig, ax, owned = _axes(ax, (FIG_WIDTH, 1.3 + 0.24 * max(len(paths), 1)))
    axes_inches = max(ax.get_position().width * fig.get_figwidth(), 1.0)
    char_ms = (hi - lo) * (LABEL_PT * 0.56 / 72) / axes_inches
    for kind, color in (("persistent", PERSISTENT_COLOR), ("ephemeral", EPHEMERAL_COLOR)):
        bars = [(life, max(life.created, lo), min(hi if life.deleted is None else life.deleted, hi))
                for life in lives if life.ephemeral == (kind == "ephemeral")
                and life.created <= hi and (life.deleted is None or life.deleted >= lo)]
        for life, a, b in bars:
            ax.broken_barh([(a, max(b - a, 0.0))], (row[life.path] - 0.32, 0.64), facecolors=color,
                           alpha=0.8, linewidth=0, zorder=2, gid=kind)
            if life.deleted is not None and lo <= life.deleted <= hi:
                ax.plot([life.deleted], [row[life.path]], marker="|", markersize=7, color="0.15",
                        zorder=3, gid="deleted")
            if kind == "ephemeral" and life.owner and (b - a) > (len(life.owner) + 1) * char_ms:
                ax.text(a + 0.5 * char_ms, row[life.path], life.owner, fontsize=LABEL_PT, color="white",
                        va="center", ha="left", zorder=4, clip_on=True, gid="owner")
    for t, label in moments:
        if not lo <= t <= hi:  # outside the window: its label would hang outside the axes
            continue
        ax.axvline(t, color="0.35", linewidth=0.8, linestyle=":", zorder=1, gid="moment")
        ax.text(t, -0.7, label, fontsize=LABEL_PT, color="0.2", ha="center", va="bottom", clip_on=False,
                gid="moment-label")
    ax.set_xlim(lo, hi)
    ax.set_ylim(max(len(paths), 1) - 0.5, -0.5)
    ax.set_yticks(range(len(paths)), paths, fontsize=LABEL_PT)
    ax.set_xlabel("time (ms)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    style = dict(handles=[Patch(facecolor=PERSISTENT_COLOR, alpha=0.8, label="persistent znode"),
                          Patch(facecolor=EPHEMERAL_COLOR, alpha=0.8, label="ephemeral znode (owner)"),
                          Line2D([], [], color="0.15", marker="|", linestyle="none", label="deleted")],
                 ncol=3, fontsize=LABEL_PT, frameon=False)
    if owned:  # below the axes, as spacetime's legend
        fig.legend(loc="outside lower center", **style)
    else:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), **style)
    if title:
        ax.set_title(title, fontsize=10, pad=14 if moments else 6)
    return _finish(fig, owned)


# -- cluster graph -----------------------------------------------------------------------------

def _circle(nodes: tuple[NodeId, ...]) -> dict[NodeId, tuple[float, float]]:
    """Fixed positions: the first node at the top, the others clockwise around it."""
    if len(nodes) == 1:
        return {nodes[0]: (0.0, 0.0)}
    return {n: (sin(2 * pi * k / len(nodes)), cos(2 * pi * k / len(nodes))) for k, n in enumerate(nodes)}


#: Status lines in :func:`cluster_graph` are wrapped to lines of about this many characters.
STATUS_WIDTH = 20
CLUSTER_HEIGHT = 4.6  # inches, of a cluster graph's figure
LEGEND_WIDTH = 1.4  # inches on the right of a cluster graph for its legend
TITLE_HEIGHT = 0.35  # inches above a cluster graph for its title
MAX_RADIUS = 1.6  # inches: a cluster graph's circle of nodes is at most this large
CHAR_EM = 0.6  # the width of a character of the labels' font, in ems (a generous average)
# A word of a status line: brackets keep what they hold together ("last=(0, 0)" is one word).
_WORD = re.compile(r"(?:[^\s(\[{]|\([^)]*\)|\[[^\]]*\]|\{[^}]*\})+")


def wrap_label(text: str, width: int = STATUS_WIDTH) -> str:
    """``text`` on lines of at most ``width`` characters, broken between words, never cut.

    A word longer than ``width`` gets a line of its own, whole; a bracketed group such as
    ``(0, 0)`` counts as part of its word, so ``last=(0, 0)`` is never split.
    """
    lines: list[str] = []
    for word in _WORD.findall(str(text)):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


@dataclass(frozen=True)
class ClusterState:
    """All that :func:`cluster_graph` draws of a simulation, as a value: two runs whose states are
    equal give the same picture, so a panel need not draw it again (compare with ``==``).

    Attributes
    ----------
    nodes : tuple of int
        The node ids, in the order they sit on the circle.
    up : tuple of bool
        Whether each node is up.
    roles : tuple of str
        Each node's role (:func:`role_of`: "crashed" for a crashed node).
    labels : tuple of str
        The text beside each node: its status line wrapped (:func:`wrap_label`), or "crashed".
    cut : tuple of (int, int)
        The pairs of nodes whose link the current partition cuts (either way).
    now : float
        The simulation's time, in the default title.
    """

    nodes: tuple[NodeId, ...]
    up: tuple[bool, ...]
    roles: tuple[str, ...]
    labels: tuple[str, ...]
    cut: tuple[tuple[NodeId, NodeId], ...]
    now: float


def cluster_state(sim: Simulation) -> ClusterState:
    """What :func:`cluster_graph` would draw of ``sim`` now (see :class:`ClusterState`)."""
    nodes = tuple(sim.node_ids)
    up = tuple(sim.is_up(n) for n in nodes)
    connected = sim.network.connected
    return ClusterState(
        nodes=nodes, up=up, roles=tuple(role_of(sim, n) for n in nodes),
        labels=tuple(wrap_label(sim.status(n).text) if alive else "crashed"
                     for n, alive in zip(nodes, up, strict=True)),
        cut=tuple((a, b) for k, a in enumerate(nodes) for b in nodes[k + 1:]
                  if not (connected(a, b) and connected(b, a))),
        now=sim.now)


def cluster_graph(sim: Simulation, *, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Draw the cluster now: nodes coloured by role, crashed nodes greyed, cut links in red.

    Nodes sit on a circle in ascending id order (the first at the top). Each node shows its id,
    and beside it, on the side away from the circle's centre, its status line,
    ``sim.status(i).text``, wrapped on a few lines (:func:`wrap_label`), or "crashed"; its colour
    is its role's, ``sim.status(i).role`` (:func:`role_of`: a crashed node's role is
    "crashed", whatever it was when it crashed). Links the current partition cuts are red and
    dashed; links to a crashed node are faint.

    Parameters
    ----------
    sim : Simulation
        The cluster to draw (it is not changed).
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    state = cluster_state(sim)
    nodes = state.nodes
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    pairs = [(a, b) for k, a in enumerate(nodes) for b in nodes[k + 1:]]
    graph.add_edges_from(pairs)
    pos = _circle(nodes)
    if ax is None:  # laid out by hand: the circle is sized so that every label fits (see below)
        fig = plt.figure(figsize=(FIG_WIDTH, CLUSTER_HEIGHT))
        ax = fig.add_axes((0.0, 0.0, 1 - LEGEND_WIDTH / FIG_WIDTH, 1 - TITLE_HEIGHT / CLUSTER_HEIGHT))
        owned = True
    else:
        fig, owned = ax.figure, False

    up = dict(zip(nodes, state.up, strict=True))
    cut = list(state.cut)
    faint = [(a, b) for a, b in pairs if (a, b) not in cut and not (up[a] and up[b])]
    live = [(a, b) for a, b in pairs if (a, b) not in cut and (a, b) not in faint]
    nx.draw_networkx_edges(graph, pos, edgelist=live, ax=ax, edge_color="0.35", width=1.4)
    nx.draw_networkx_edges(graph, pos, edgelist=faint, ax=ax, edge_color="0.75", width=1.0,
                           style="dotted")
    cut_edges = nx.draw_networkx_edges(graph, pos, edgelist=cut, ax=ax, edge_color=CUT_COLOR,
                                       width=1.6, style="dashed")
    if cut_edges is not None and cut:
        cut_edges.set_gid("cut-links")

    roles = dict(zip(nodes, state.roles, strict=True))
    alive = [n for n in nodes if up[n]]
    down = [n for n in nodes if not up[n]]
    colors = _role_colors([roles[n] for n in alive])
    size = 1200 if len(nodes) <= 5 else 900
    if alive:
        coll = nx.draw_networkx_nodes(graph, pos, nodelist=alive, ax=ax, node_size=size,
                                      node_color=[colors[roles[n]] for n in alive],
                                      edgecolors="0.2", linewidths=1.2)
        coll.set_gid("live-nodes")
    if down:
        coll = nx.draw_networkx_nodes(graph, pos, nodelist=down, ax=ax, node_size=size,
                                      node_color=CRASHED_COLOR, edgecolors="0.3", linewidths=1.2)
        coll.set_linestyle("--")
        coll.set_gid("crashed-nodes")
        ax.scatter([pos[n][0] for n in down], [pos[n][1] for n in down], marker="x",
                   s=size * 0.45, color="0.35", linewidths=1.5, zorder=3, gid="crash-marks")
    nx.draw_networkx_labels(graph, pos, labels={n: str(n) for n in nodes}, ax=ax, font_size=12,
                            font_weight="bold")
    gap = size ** 0.5 / 2 + 3  # points from a node's centre to its label: its radius and a bit
    boxes = []  # per node: its label's extent around the node's centre, in inches
    for n, status in zip(nodes, state.labels, strict=True):
        x, y = pos[n]
        # The label sits on the side of the node away from the centre: left of the nodes on the
        # left, right of those on the right, above the top one, below the bottom ones.
        ha = "left" if x > 0.3 else "right" if x < -0.3 else "center"
        va = "bottom" if y > 0.5 else "top" if y < -0.5 else "center"
        dx = gap * (1 if ha == "left" else -1 if ha == "right" else 0)
        dy = gap * (1 if va == "bottom" else -1 if va == "top" else 0)
        ax.annotate(status, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                    fontsize=LABEL_PT, linespacing=1.15, color="0.1" if up[n] else "0.35",
                    gid="status", bbox=_LABEL_BOX, annotation_clip=False)
        lines = status.split("\n")
        w = max(len(line) for line in lines) * CHAR_EM * LABEL_PT / 72 + 0.04
        h = len(lines) * 1.15 * 1.2 * LABEL_PT / 72 + 0.04
        x0 = {"left": dx / 72, "right": dx / 72 - w, "center": -w / 2}[ha]
        y0 = {"bottom": dy / 72, "top": dy / 72 - h, "center": -h / 2}[va]
        boxes.append((x, y, min(x0, -gap / 72), max(x0 + w, gap / 72), min(y0, -gap / 72),
                      max(y0 + h, gap / 72)))
    _fit_circle(ax, boxes, owned)
    handles: list[Any] = [Patch(facecolor=colors[role], edgecolor="0.2", label=role)
                          for role in sorted(colors)]
    if down:
        handles.append(Patch(facecolor=CRASHED_COLOR, edgecolor="0.3", linestyle="--", label="crashed"))
    if cut:
        handles.append(Line2D([], [], color=CUT_COLOR, linestyle="--", label="link cut"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=LABEL_PT,
                  frameon=False)
    ax.axis("off")
    ax.set_title(title or f"t = {state.now:.1f} ms", fontsize=10)
    return _finish(fig, owned)


def _fit_circle(ax: Axes, boxes: list[tuple[float, float, float, float, float, float]],
                owned: bool) -> None:
    """Set ``ax``'s limits so that the unit circle of nodes, with each node's label box around it
    (``(x, y, left, right, bottom, top)``: the node's place on the circle and its label's extent
    in inches from it), fits the axes, as large as it can be up to ``MAX_RADIUS`` inches, and
    equally scaled in x and y (the circle stays round). When the figure is ``owned``, its height
    shrinks to what is drawn."""
    position = ax.get_position()
    width = position.width * ax.figure.get_figwidth()
    height = position.height * ax.figure.get_figheight()
    radius = MAX_RADIUS
    for x, y, left, right, bottom, top in boxes:
        # the box, at radius r, spans r*x + left .. r*x + right: keep it in +-width/2
        for coord, low, high, half in ((x, left, right, width / 2), (y, bottom, top, height / 2)):
            if coord > 1e-9:
                radius = min(radius, (half - high) / coord)
            elif coord < -1e-9:
                radius = min(radius, (half + low) / -coord)
    radius = max(radius, 0.3)  # a tiny axes: crowded rather than inverted
    ax.set_xlim(-width / 2 / radius, width / 2 / radius)
    ax.set_ylim(-height / 2 / radius, height / 2 / radius)
    if owned:  # a figure of our own: as tall as what it draws (three nodes leave room below)
        low = min(radius * y + bottom for x, y, _, _, bottom, _ in boxes) - 0.08
        high = max(radius * y + top for x, y, _, _, _, top in boxes) + 0.08
        if high - low < height:
            # whole pixels at 100 dpi: the text repr "<Figure size 680x384 ...>" stays an integer,
            # as the notebooks' output sanitizer expects
            high = low + round((high - low + TITLE_HEIGHT) * 100) / 100 - TITLE_HEIGHT
            figure_height = high - low + TITLE_HEIGHT
            ax.figure.set_figheight(figure_height)
            ax.set_position((position.x0, 0.0, position.width, (high - low) / figure_height))
            ax.set_ylim(low / radius, high / radius)


# -- log grid ----------------------------------------------------------------------------------

def log_grid(
    sim: Simulation | None,
    logs: Mapping[NodeId, Iterable[Any]] | None = None,
    *,
    colors: Mapping[Any, str] | Callable[[Any], str] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Draw logs as a grid: one row per node, one cell per entry with its value written in it.

    Parameters
    ----------
    sim : Simulation or None
        Used to mark crashed nodes (their row label says "down"), and, without ``logs``, to read
        the logs; may be None when ``logs`` is given.
    logs : mapping of node id -> sequence, optional
        Each node's log, first entry first, e.g. ``{i: sim.committed(i) for i in sim.node_ids}``.
        Default: every node's log rows (``sim.status(i).log``, :class:`zablib.core.LogRow`),
        crashed nodes included, drawn as :func:`status_logs` says: the command, "nop" for a
        no-op, "cfg" for a change of members and an empty, hatched cell for a Paxos slot the node
        knows nothing of, coloured by term (:func:`epoch_color`) with a legend of the terms.
    colors : mapping or callable, optional
        Cell colour of an entry: ``colors[entry]`` (entries missing from the mapping stay white)
        or ``colors(entry)``. Later chapters colour Raft entries by term this way.
    title : str, optional
        Axes title.
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if logs is None:
        if sim is None:
            raise ValueError("log_grid needs a simulation or the logs to draw")
        return _log_rows_grid(sim, ax=ax, title=title)
    rows = sorted(logs)
    entries = {n: list(logs[n]) for n in rows}
    width = max([len(v) for v in entries.values()] + [1])
    fig, ax, owned = _axes(ax, (FIG_WIDTH, 0.9 + 0.42 * max(len(rows), 1)))

    def color_of(entry: Any) -> str:
        if colors is None:
            return "aliceblue"
        if callable(colors):
            return colors(entry)
        try:
            return colors.get(entry, "white")
        except TypeError:  # an unhashable entry
            return "white"

    columns = max(width, MIN_LOG_COLUMNS)
    chars = _cell_chars(ax, columns)
    for r, n in enumerate(rows):
        for k, entry in enumerate(entries[n]):
            ax.add_patch(plt.Rectangle((k, r), 1, 1, facecolor=color_of(entry), edgecolor="0.3",
                                       linewidth=0.8, gid="cell"))
            ax.text(k + 0.5, r + 0.5, _cell_text(entry, chars), ha="center", va="center",
                    fontsize=LABEL_PT, linespacing=1.0, clip_on=True, gid="cell-text")
    ax.set_xlim(0, columns)  # short logs keep roughly square cells
    ax.set_ylim(max(len(rows), 1), 0)
    ax.set_yticks([r + 0.5 for r in range(len(rows))])
    labels = []
    for n in rows:
        down = sim is not None and n in sim.node_ids and not sim.is_up(n)
        labels.append(f"{n} (down)" if down else str(n))
    ax.set_yticklabels(labels)
    step = 1 if width <= 20 else 5
    ax.set_xticks([k + 0.5 for k in range(0, width, step)], [str(k + 1) for k in range(0, width, step)])
    ax.set_xlabel("log index")
    ax.set_ylabel("node")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return _finish(fig, owned)


#: A log grid has at least this many columns, so that a short log's cells stay about square.
MIN_LOG_COLUMNS = 12


def _cell_chars(ax: Axes, cells: int) -> int:
    """How many characters of LABEL_PT text fit in one of ``cells`` cells across ``ax``."""
    inches = ax.get_position().width * ax.figure.get_figwidth() * 0.9  # less the tick labels
    return max(2, int(inches / cells * 72 / (CHAR_EM * LABEL_PT)))


def _cell_text(value: Any, chars: int) -> str:
    """A log cell's text: on one line when it fits, else on two lines broken between words
    (``"1.1 a"`` as ``"1.1"`` over ``"a"``), shortened with "…" only when two lines are not
    enough."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= chars:
        return text
    lines = wrap_label(text, chars).split("\n")
    if len(lines) <= 2 and all(len(line) <= chars for line in lines):
        return "\n".join(lines)
    return _short(text, chars)


def status_logs(sim: Simulation) -> dict[NodeId, list[tuple[int | None, str, str]]]:
    """Every node's log rows (``sim.status(i).log``) as ``(term, label, kind)`` cells.

    The label is the command (``str``), "nop" for a no-op (a new Raft leader's first entry, a
    Paxos gap filled by a new leader), "cfg" for a change of members, and "" for a Paxos slot
    the node knows nothing of yet (kind ``"empty"``). Crashed nodes' logs are included: what
    they persisted.
    """
    names = {"noop": "nop", "config": "cfg", "empty": ""}
    return {i: [(row.term, names.get(row.kind, str(row.command)), row.kind)
                for row in sim.status(i).log]
            for i in sim.node_ids}


def _log_rows_grid(sim: Simulation, *, title: str | None, ax: Axes | None) -> Figure:
    logs = status_logs(sim)
    keyed = {i: [(k, cell) for k, cell in enumerate(log)] for i, log in logs.items()}

    def color(entry: tuple[int, tuple[int | None, str, str]]) -> str:
        term, _, kind = entry[1]
        return "white" if kind == "empty" or term is None else epoch_color(term)

    fig = log_grid(sim, keyed, colors=color, title=title, ax=ax)
    grid = ax if ax is not None else fig.axes[0]
    chars = _cell_chars(grid, max(MIN_LOG_COLUMNS, max((len(v) for v in logs.values()), default=1)))
    cells = [cell for i in sorted(logs) for cell in logs[i]]
    for text, patch, (_, label, kind) in zip(grid.texts, [p for p in grid.patches
                                                             if p.get_gid() == "cell"],
                                                cells, strict=True):
        text.set_text(_cell_text(label, chars))
        if kind == "empty":
            patch.set_hatch("///")
            patch.set_edgecolor("0.6")
    terms = sorted({term for log in logs.values() for term, _, kind in log
                    if term is not None and kind != "empty"})
    handles = [Patch(facecolor=epoch_color(t), edgecolor="0.3", label=f"term {t}") for t in terms]
    if any(kind == "empty" for log in logs.values() for _, _, kind in log):
        handles.append(Patch(facecolor="white", edgecolor="0.6", hatch="///", label="empty slot"))
    if handles:
        grid.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                    fontsize=LABEL_PT, frameon=False)
    return fig


#: Cell colours of log entries by epoch or term (1, 2, 3, ...), cycling after the last.
EPOCH_COLORS = ("#cfe2f3", "#d9ead3", "#fff2cc", "#f4cccc", "#d9d2e9", "#fce5cd")


def epoch_color(epoch: int) -> str:
    """The cell colour of entries of ``epoch`` (or Raft term) ``epoch``."""
    return EPOCH_COLORS[(epoch - 1) % len(EPOCH_COLORS)] if epoch >= 1 else "white"


def zxid_grid(sim: Simulation, *, title: str | None = None, ax: Axes | None = None) -> Figure:
    """Every server's ZAB history as a grid of ``epoch.counter txn`` cells coloured by epoch.

    Reads the log rows of every node's status report (``sim.status(i).log``), crashed ones
    included (their row is marked down); rows without a zxid (another protocol's) are left out.
    """
    logs = {
        i: [(row.zxid, row.command) for row in sim.status(i).log if row.zxid is not None]
        for i in sim.node_ids
    }
    labelled = {i: [f"{e}.{c} {txn}" for (e, c), txn in entries] for i, entries in logs.items()}
    colors = {f"{e}.{c} {txn}": epoch_color(e) for entries in logs.values()
              for (e, c), txn in entries}
    return log_grid(sim, labelled, colors=colors, title=title, ax=ax)


def raft_scope(sim: Simulation, *, title: str = "") -> Figure:
    """A RaftScope-like picture: the servers above (role, term, log, commit index), the logs below.

    Each log cell shows the entry's command ("nop" for a no-op, "cfg" for a configuration change)
    and is coloured by the entry's term (:func:`epoch_color`), with a legend of the terms. Reads
    the log rows of every node's status report (``sim.status(i).log``), crashed ones included.
    """
    height = 7.2
    fig = plt.figure(figsize=(FIG_WIDTH, height))
    top = fig.add_axes((0.0, 0.4, 1 - LEGEND_WIDTH / FIG_WIDTH, 0.6 - TITLE_HEIGHT / height))
    bottom = fig.add_axes((0.1, 0.07, 0.72, 0.27))
    cluster_graph(sim, ax=top, title=f"t = {sim.now:.1f} ms   {title}".rstrip())
    _log_rows_grid(sim, ax=bottom, title=None)
    return _finish(fig, True)


def state_graph(
    result: Any,
    *,
    highlight: Callable[[Any], bool] | None = None,
    highlight_label: str = "highlighted",
    label: Callable[[Any], str] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Draw the state graph an exploration found (``explore(model, keep_graph=True)``).

    States are laid out in columns by breadth-first depth (the initial state on the left), so
    the picture reads as time moving right; it needs no random layout and is the same every run.

    Parameters
    ----------
    result : zablib.explore.Result
        An exploration made with ``keep_graph=True``.
    highlight : callable, optional
        ``highlight(state) -> bool``: states drawn in red (e.g. blocked states).
    highlight_label : str
        Legend text for the highlighted states.
    label : callable, optional
        ``label(state) -> str``: text inside each node (keep it to a few characters).
    title : str, optional
        Figure title.
    ax : Axes, optional
        Draw into these axes instead of a new figure.
    """
    if getattr(result, "graph", None) is None:
        raise ValueError("the exploration kept no graph: call explore(model, keep_graph=True)")
    graph: dict = result.graph
    g = nx.DiGraph()
    order = list(graph)  # insertion order = breadth-first order: deterministic
    index = {s: k for k, s in enumerate(order)}
    for state in order:
        g.add_node(index[state])
        for _, nxt in graph[state]:
            if nxt in index and nxt != state:
                g.add_edge(index[state], index[nxt])
    depth = {0: 0}
    for k in range(len(order)):  # BFS order: a node's depth is fixed before its successors
        for nxt in g.successors(k):
            depth.setdefault(nxt, depth[k] + 1)
    columns: dict[int, list[int]] = {}
    for k in range(len(order)):
        columns.setdefault(depth.get(k, 0), []).append(k)
    pos = {}
    for d, members in columns.items():
        for row, k in enumerate(members):
            pos[k] = (d, -(row - (len(members) - 1) / 2))
    tallest = max(len(m) for m in columns.values())
    fig, ax, owned = _axes(ax, (FIG_WIDTH, max(3.0, min(9.0, 0.28 * tallest + 1.2))))
    marked = [k for k, s in enumerate(order) if highlight is not None and highlight(s)]
    plain = [k for k in range(len(order)) if k not in set(marked)]
    terminal = {index[s] for s in getattr(result, "terminal", []) if s in index}
    nx.draw_networkx_edges(g, pos, ax=ax, edge_color="0.7", width=0.5, arrows=True,
                           arrowsize=5, node_size=70)
    nx.draw_networkx_nodes(g, pos, nodelist=plain, ax=ax, node_size=70, node_color="lightsteelblue",
                           edgecolors=["black" if k in terminal else "none" for k in plain])
    if marked:
        nx.draw_networkx_nodes(g, pos, nodelist=marked, ax=ax, node_size=70, node_color="tab:red",
                               edgecolors=["black" if k in terminal else "none" for k in marked])
    if label is not None:
        nx.draw_networkx_labels(g, pos, {k: label(s) for k, s in enumerate(order)}, ax=ax,
                                font_size=LABEL_PT)
    handles = [Line2D([], [], marker="o", linestyle="none", color="lightsteelblue",
                      label=f"state ({len(order)} in all)"),
               Line2D([], [], marker="o", linestyle="none", color="lightsteelblue",
                      markeredgecolor="black", label="no way forward (terminal)")]
    if highlight is not None:
        handles.append(Line2D([], [], marker="o", linestyle="none", color="tab:red",
                              label=f"{highlight_label} ({len(marked)})"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3,
              fontsize=LABEL_PT, frameon=False)
    ax.set_axis_off()
    ax.set_title(title or "state graph, by breadth-first depth", fontsize=10)
    return _finish(fig, owned)


# -- measurements: curves of measured numbers (zablib.coord.measure) -----------------------------

#: Colours of the series of :func:`measured_curves`, in order: Okabe and Ito's palette, distinct
#: for the common colour-vision deficiencies (and each series has its own marker as well).
CURVE_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000")
CURVE_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
#: Colour of the marks of points that never finished (an infinite measurement).
NEVER_COLOR = "tab:red"


def _thousands(value: float, _pos: Any = None) -> str:
    return f"{value:,.0f}" if value >= 10 or value == 0 else f"{value:g}"


def measured_curves(series: Mapping[str, Iterable[tuple[float, float]]], *, xlabel: str, ylabel: str,
                    title: str | None = None, logy: bool = False, percent_x: bool = False,
                    xticks: Iterable[float] | None = None, ax: Axes | None = None) -> Figure:
    """Measured points joined by lines, one labelled series each, e.g. latency against value size.

    Parameters
    ----------
    series : mapping of str -> iterable of (x, y)
        The points of each series, in the order to join them; the legend shows the labels in
        this order. A point whose ``y`` is infinite (a run that never finished) is drawn as a
        red cross on the top edge, with a legend entry of its own.
    xlabel, ylabel : str
        Axis labels.
    title : str, optional
        Axes title.
    logy : bool
        A logarithmic y axis (for numbers spanning orders of magnitude).
    percent_x : bool
        ``x`` values are shares from 0 to 1, labelled as percentages.
    xticks : iterable of float, optional
        Where to put the x axis's ticks (e.g. the ensemble sizes measured); default: automatic.
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure.
    """
    import math

    from matplotlib.ticker import FuncFormatter, PercentFormatter

    if not series:
        raise ValueError("measured_curves needs at least one series")
    fig, ax, owned = _axes(ax, (FIG_WIDTH, 3.6))
    never: list[float] = []
    for k, (label, points) in enumerate(series.items()):
        points = list(points)
        finite = [(x, y) for x, y in points if math.isfinite(y)]
        never += [x for x, y in points if not math.isfinite(y)]
        color = CURVE_COLORS[k % len(CURVE_COLORS)]
        ax.plot([x for x, _ in finite], [y for _, y in finite], marker=CURVE_MARKERS[k % len(CURVE_MARKERS)],
                color=color, label=label, linewidth=1.6, markersize=5)
    if logy:
        ax.set_yscale("log")
    if never:
        ax.plot(never, [1.0] * len(never), linestyle="none", marker="x", color=NEVER_COLOR,
                markersize=8, markeredgewidth=2, transform=ax.get_xaxis_transform(), clip_on=False,
                label="never finished")
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    if percent_x:
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    else:
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    if xticks is not None:
        ax.set_xticks(list(xticks))
    ax.set_xlabel(xlabel, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=10)
    ax.tick_params(labelsize=9)
    ax.grid(True, which="major", color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.legend(fontsize=9, frameon=False, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    return _finish(fig, owned)


def throughput_curves(runs: Mapping[Any, Any], *, title: str | None = None, logy: bool = True,
                      ax: Axes | None = None) -> Figure:
    """The ZooKeeper paper's Figure 5 from measured runs: operations per second against the share
    of reads, one curve per ensemble.

    Parameters
    ----------
    runs : mapping
        Measurements, e.g. ``zablib.coord.measure.sweep(...)``'s ``{(servers, ratio): Throughput}``
        (only the values are read: any objects with ``servers``, ``observers``, ``read_ratio`` and
        ``ops_per_second``, and optionally ``fault``). Runs of the same servers, observers and
        fault make one curve, in the order of their first appearance, their points in order of
        read ratio.
    title : str, optional
        Axes title.
    logy : bool
        A logarithmic y axis (default): all writes and all reads differ a hundredfold.
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure.
    """
    curves: dict[str, list[tuple[float, float]]] = {}
    for run in runs.values():
        label = f"{run.servers} servers" + (f" + {run.observers} observers" if run.observers else "")
        label += f", {run.fault}" if getattr(run, "fault", None) else ""
        curves.setdefault(label, []).append((run.read_ratio, run.ops_per_second))
    return measured_curves({label: sorted(points) for label, points in curves.items()},
                           xlabel="share of reads", ylabel="operations per simulated second",
                           title=title, logy=logy, percent_x=True, ax=ax)
