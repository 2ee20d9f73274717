"""Redraw images/lost_write.png, the README's figure, from the introduction's first failure run."""

from pathlib import Path

from zablib import viz
from zablib.protocols import primary_backup

sim = primary_backup.cluster(3, seed=1, mode="async")
sim.run(until=100)
sim.submit("x=1")
sim.submit("x=2")
sim.run(until=130)
sim.submit("x=3")
sim.run(until=135)
sim.crash(1)
sim.run(until=600)
fig = viz.spacetime(sim, start=90, end=340, title="asynchronous replication: an acknowledged write is lost")
out = Path(__file__).resolve().parents[1] / "images" / "lost_write.png"
# Drawn at the book's high-density resolution (2 pixels per CSS pixel): sharp on any screen;
# GitHub scales it to its column.
fig.savefig(out, dpi=viz.SCREEN_DPI * viz.PIXEL_RATIO, bbox_inches="tight",
            metadata={"Software": None})  # no matplotlib version in the file: same bytes everywhere
print(f"wrote {out}")
