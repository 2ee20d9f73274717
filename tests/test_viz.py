"""Pictures of a primary-backup run with a crash, a partition and message loss (zablib.viz).

The figures are checked through their artists (found by ``gid``) and through
:func:`zablib.viz.spacetime_layout`, the plain data behind the space-time diagram.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from zablib import viz  # noqa: E402
from zablib.protocols import pingpong, primary_backup  # noqa: E402


def broken_run():
    """Node 1 (primary) crashes at 300 and returns at 700; {1, 2} | {3} from 500 to 800; 10% loss."""
    sim = primary_backup.cluster(3, seed=1)
    sim.set_loss(0.1)
    sim.run(until=100)
    sim.submit("a")
    sim.run(until=200)
    sim.submit("b")
    sim.run(until=300)
    sim.crash(1)
    sim.run(until=500)
    sim.partition({1, 2}, {3})
    sim.run(until=700)
    sim.recover(1)
    sim.run(until=800)
    sim.heal()
    sim.run(until=1000)
    return sim


@pytest.fixture(scope="module")
def sim():
    return broken_run()


def artist(fig, gid):
    found = [a for a in fig.axes[0].get_children() if a.get_gid() == gid]
    assert len(found) <= 1, f"several artists with gid {gid}"
    return found[0] if found else None


def artists(fig, gid):
    return [a for a in fig.axes[0].get_children() if a.get_gid() == gid]


def test_one_arrow_per_delivered_message_and_one_cross_per_drop(sim):
    delivered = sim.trace.of_kind("deliver")
    dropped = sim.trace.of_kind("drop")
    assert delivered and dropped  # the run really has both
    fig = viz.spacetime(sim)
    arrows = artist(fig, "messages")
    assert len(arrows.U) == len(delivered)
    assert len(artist(fig, "drops").get_offsets()) == len(dropped)
    assert len(artist(fig, "drop-stubs").get_segments()) == len(dropped)


def test_arrows_run_from_send_to_deliver(sim):
    layout = viz.spacetime_layout(sim)
    sends = {e.msg_id: e for e in sim.trace.of_kind("send")}
    for arrow, event in zip(layout.arrows, sim.trace.of_kind("deliver"), strict=True):
        assert (arrow.msg_id, arrow.src, arrow.dst) == (event.msg_id, event.peer, event.node)
        assert (arrow.sent, arrow.arrived) == (sends[event.msg_id].time, event.time)
        assert arrow.label == type(event.message).__name__


def test_a_duplicated_message_gives_two_arrows():
    dup = primary_backup.cluster(3, seed=4)
    dup.set_duplication(0.5)
    dup.run(until=300)
    layout = viz.spacetime_layout(dup)
    ids = [a.msg_id for a in layout.arrows]
    twice = {i for i in ids if ids.count(i) == 2}
    assert twice, "with 50% duplication some message must arrive twice"
    assert any(a.duplicate for a in layout.arrows if a.msg_id in twice)
    assert len(layout.arrows) == len(dup.trace.of_kind("deliver"))


def test_drops_at_send_are_short_stubs_and_drops_at_arrival_reach_the_lifeline(sim):
    layout = viz.spacetime_layout(sim)
    at_send = [d for d in layout.drops if d.at_send]
    at_arrival = [d for d in layout.drops if not d.at_send]
    # Loss and the partition drop messages as they leave; node 1 being down drops them on arrival.
    assert {d.reason for d in at_send} == {"lost", "partition"}
    assert {d.reason for d in at_arrival} == {"node 1 is down"}
    fig = viz.spacetime(sim)
    rows = {n: k for k, n in enumerate(sim.node_ids)}
    crosses = artist(fig, "drops").get_offsets()
    for d, (x, y) in zip(layout.drops, crosses, strict=True):
        if d.at_send:
            assert d.sent < x < d.sent + 0.05 * (layout.end - layout.start)
            assert min(rows[d.src], rows[d.dst]) < y < max(rows[d.src], rows[d.dst])
        else:
            assert (x, y) == (d.dropped, rows[d.dst])


def test_crash_is_a_band_on_the_crashed_lifeline(sim):
    fig = viz.spacetime(sim)
    band = artist(fig, "crash")
    (x0, y0), (x1, y1) = band.get_paths()[0].get_extents().get_points()
    assert (x0, x1) == (300, 700)
    assert y0 < 0 < y1  # row 0 is node 1
    assert len(artists(fig, "crash")) == len(sim.crash_intervals) == 1


def test_partition_is_shaded_and_labelled_with_its_groups(sim):
    fig = viz.spacetime(sim)
    span = artist(fig, "partition")
    assert (span.get_x(), span.get_x() + span.get_width()) == (500, 800)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "partition {1, 2} | {3}" in texts


def test_tagged_notes_are_marked_and_timers_ticked(sim):
    fig = viz.spacetime(sim)
    tagged = [e for e in sim.trace.of_kind("note") if e.tag]
    assert len(artist(fig, "notes").get_offsets()) == len(tagged)
    assert len(artist(fig, "timers").get_offsets()) == len(sim.trace.of_kind("timer"))
    labels = [t.get_text() for t in artists(fig, "note-label")]
    assert "ack a" in labels and "primary 2" in labels
    none = viz.spacetime(sim, notes="none", kinds=("deliver",))
    assert artist(none, "notes") is None and artist(none, "timers") is None
    assert artist(none, "drops") is None


def test_window_keeps_only_messages_that_touch_it(sim):
    layout = viz.spacetime_layout(sim, start=100, end=200)
    assert layout.arrows
    assert all(100 <= a.sent <= 200 or 100 <= a.arrived <= 200 for a in layout.arrows)
    fig = viz.spacetime(sim, start=100, end=200)
    assert fig.axes[0].get_xlim() == (100, 200)
    assert not viz.spacetime_layout(sim, start=100, end=200).crashes  # the crash starts at 300


def test_message_names_are_written_only_when_few_arrows(sim):
    busy = viz.spacetime(sim)
    assert len(viz.spacetime_layout(sim).arrows) > viz.AUTO_LABEL_ARROWS
    assert not artists(busy, "message-label")
    quiet = viz.spacetime(sim, start=95, end=130)
    names = {t.get_text() for t in artists(quiet, "message-label")}
    assert "Heartbeat" in names
    assert not artists(viz.spacetime(sim, start=95, end=130, labels=False), "message-label")
    assert artists(viz.spacetime(sim, labels=True), "message-label")


def test_same_simulation_same_picture(sim):
    a, b = viz.spacetime(sim), viz.spacetime(broken_run())
    qa, qb = artist(a, "messages"), artist(b, "messages")
    assert (qa.X == qb.X).all() and (qa.U == qb.U).all() and (qa.V == qb.V).all()
    assert (artist(a, "drops").get_offsets() == artist(b, "drops").get_offsets()).all()
    assert viz.to_png(a) == viz.to_png(b)
    assert viz.to_png(viz.cluster_graph(sim)) == viz.to_png(viz.cluster_graph(broken_run()))


def test_figures_are_closed_and_sized_for_the_book(sim):
    before = plt.get_fignums()
    fig = viz.spacetime(sim)
    assert plt.get_fignums() == before  # Jupyter shows it once, when returned
    assert fig.get_figwidth() == viz.FIG_WIDTH
    assert viz.to_png(fig).startswith(b"\x89PNG")


def test_drawing_into_a_given_axes(sim):
    fig, (top, bottom) = plt.subplots(2, figsize=(7, 6))
    assert viz.spacetime(sim, ax=top) is fig
    assert viz.cluster_graph(sim, ax=bottom) is fig
    assert any(a.get_gid() == "messages" for a in top.get_children())
    plt.close(fig)


def test_bad_arguments_are_named(sim):
    with pytest.raises(ValueError, match="event kind.*'sends'"):
        viz.spacetime(sim, kinds=("sends",))
    with pytest.raises(ValueError, match="before start"):
        viz.spacetime(sim, start=500, end=100)
    with pytest.raises(ValueError, match="notes must be"):
        viz.spacetime(sim, notes="some")


def fill_of(collection, k=0):
    return mcolors.to_hex(collection.get_facecolors()[k])


def test_cluster_graph_colours_roles_and_greys_a_crashed_node():
    sim = primary_backup.cluster(3, seed=1)
    sim.run(until=100)
    sim.crash(3)
    fig = viz.cluster_graph(sim)
    live = artist(fig, "live-nodes")
    assert [fill_of(live, k) for k in range(2)] == [mcolors.to_hex("gold"), mcolors.to_hex("lightskyblue")]
    down = artist(fig, "crashed-nodes")
    assert fill_of(down) == mcolors.to_hex(viz.CRASHED_COLOR)
    assert len(down.get_offsets()) == 1 and down.get_linestyle()[0][1] is not None  # dashed
    assert artist(fig, "crash-marks") is not None
    status = [t.get_text() for t in artists(fig, "status")]
    assert status == ["primary v1 log=0", "backup v1 log=0", "crashed"]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["backup", "primary", "crashed"]
    assert artist(fig, "cut-links") is None


def test_cluster_graph_draws_links_cut_by_the_partition():
    sim = primary_backup.cluster(5, seed=1)
    sim.partition({1, 2}, {3, 4, 5})
    fig = viz.cluster_graph(sim)
    cut = artist(fig, "cut-links")
    assert len(cut.get_paths()) == 2 * 3  # every link between the two sides
    assert "link cut" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    sim.heal()
    assert artist(viz.cluster_graph(sim), "cut-links") is None


def test_cluster_graph_of_any_protocol_uses_grey_for_unknown_roles():
    sim = pingpong.cluster(4, seed=0)
    sim.run()
    fig = viz.cluster_graph(sim)
    assert fill_of(artist(fig, "live-nodes")) == mcolors.to_hex(viz.OTHER_COLOR)
    assert [t.get_text() for t in artists(fig, "status")] == ["received 10"] * 4


def test_log_grid_has_one_cell_per_entry_with_its_value(sim):
    logs = {i: sim.committed(i) for i in sim.node_ids}
    fig = viz.log_grid(sim, logs, colors={"a": "gold"})
    cells = artists(fig, "cell")
    assert len(cells) == sum(len(v) for v in logs.values()) == 6
    assert mcolors.to_hex(cells[0].get_facecolor()) == mcolors.to_hex("gold")
    assert mcolors.to_hex(cells[1].get_facecolor()) == "#ffffff"  # "b" has no colour given
    assert [t.get_text() for t in fig.axes[0].texts] == ["a", "b"] * 3
    by_function = viz.log_grid(None, {1: [(1, "x"), (2, "y")]}, colors=lambda e: f"C{e[0]}")
    assert [mcolors.to_hex(c.get_facecolor()) for c in artists(by_function, "cell")] == [
        mcolors.to_hex("C1"), mcolors.to_hex("C2")]


def test_log_grid_marks_crashed_nodes():
    sim = primary_backup.cluster(3, seed=1)
    sim.crash(2)
    fig = viz.log_grid(sim, {i: sim.committed(i) for i in sim.node_ids})
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["1", "2 (down)", "3"]


def test_state_graph_marks_exactly_the_highlighted_states() -> None:
    from zablib.explore import explore
    from zablib.models import TwoPhase

    result = explore(TwoPhase(rms=2), keep_graph=True)

    def waiting(state) -> bool:  # a prepared RM with no decision sent yet
        return "prepared" in state[0] and not ({("Commit",), ("Abort",)} & set(state[3]))

    fig = viz.state_graph(result, highlight=waiting, highlight_label="waiting")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    expected = sum(1 for s in result.graph if waiting(s))
    assert expected > 0
    assert f"waiting ({expected})" in legend
    assert f"state ({result.distinct_states} in all)" in legend
    with pytest.raises(ValueError, match="keep_graph"):
        viz.state_graph(explore(TwoPhase(rms=2)))


def test_zxid_grid_shows_each_servers_history_coloured_by_epoch() -> None:
    from zablib.protocols import zab

    sim, _ = zab.scenario_crash_after_logged(2)
    fig = viz.zxid_grid(sim, title="histories")
    texts = {t.get_text() for t in fig.axes[0].texts}
    leader = sim.leader()
    for row in sim.status(leader).log:
        epoch, counter = row.zxid
        assert f"{epoch}.{counter} {row.command}" in texts
    assert viz.epoch_color(1) != viz.epoch_color(2)
    assert viz.epoch_color(1 + len(viz.EPOCH_COLORS)) == viz.epoch_color(1)


def test_raft_scope_labels_each_log_cell_with_its_command_and_colours_it_by_term() -> None:
    from zablib.protocols import raft

    sim = raft.scenario_figure8("correct", "b")
    fig = viz.raft_scope(sim, title="Figure 8 (b)")
    grid = fig.axes[1]
    rows = [row for i in sim.node_ids for row in sim.status(i).log]
    assert [t.get_text() for t in grid.texts] == [
        "nop" if row.kind == "noop" else str(row.command) for row in rows]
    legend = [t.get_text() for t in grid.get_legend().get_texts()]
    assert legend == [f"term {t}" for t in sorted({row.term for row in rows})]


# -- a coordination service's run: client lanes, and the tree over time ---------------------------
def two_clients_run():
    """Two clients of a 3-server ensemble each create an ephemeral znode; client A is then cut
    off from every server (its session expires later)."""
    from zablib.coord import Ensemble

    ens = Ensemble(3, seed=0)
    a, b = ens.client(), ens.client()

    def program(zk, name):
        zk.start()
        zk.create(f"/lock/{name}", b"", ephemeral=True, makepath=True)

    ens.spawn(program, a, "a")
    ens.spawn(program, b, "b")
    ens.run()
    ens.isolate_client(a)
    ens.run_for(100)
    return ens, a, b


@pytest.fixture(scope="module")
def coord():
    return two_clients_run()


def test_client_slots_that_never_took_part_get_no_lane(coord):
    ens, a, b = coord
    assert len(ens.sim.node_ids) == 3 + 16  # sixteen client slots are built up front
    assert viz.lanes(ens.sim) == (1, 2, 3, a.node_id, b.node_id)
    fig = viz.spacetime(ens.sim)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["1", "2", "3", "101", "102"]
    separator = artist(fig, "lane-separator")
    assert separator.get_ydata()[0] == 2.5  # between the last server and the first client


def test_chosen_lanes_keep_only_their_messages_and_name_only_their_nodes(coord):
    ens, a, b = coord
    layout = viz.spacetime_layout(ens.sim, nodes=(1, 2, 3, a.node_id))
    assert layout.nodes == (1, 2, 3, a.node_id)
    assert layout.arrows and all({x.src, x.dst} <= {1, 2, 3, a.node_id} for x in layout.arrows)
    assert any(a.node_id in (x.src, x.dst) for x in layout.arrows)
    # a's isolation is a partition; its groups mention the drawn nodes only
    (groups, _, _), = layout.partitions
    assert sorted(map(sorted, groups)) == [[1, 2, 3], [a.node_id]]
    with pytest.raises(ValueError, match="nodes must be distinct nodes"):
        viz.spacetime_layout(ens.sim, nodes=(1, 99))


def test_hidden_message_classes_are_not_drawn(coord):
    ens, _, _ = coord
    everything = viz.spacetime_layout(ens.sim)
    assert "Ping" in {x.label for x in everything.arrows}
    quiet = viz.spacetime_layout(ens.sim, hide=("Ping", "Pong", "Touches", "TouchesSeen"))
    labels = {x.label for x in quiet.arrows}
    assert not labels & {"Ping", "Pong", "Touches", "TouchesSeen"}
    assert {"Request", "Response"} <= labels
    assert len(quiet.arrows) < len(everything.arrows)


def test_spans_marks_and_lane_names_are_drawn_where_asked(coord):
    ens, a, b = coord
    fig = viz.spacetime(ens.sim, start=200, nodes=(1, 2, 3, a.node_id, b.node_id),
                        names={a.node_id: "101 A"},
                        spans=[(a.node_id, 250.0, None, "holds the lock"), (99, 0, 1, "not a lane")],
                        marks=[(b.node_id, 300.0, "refused")])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["1", "2", "3", "101 A", "102"]
    span, = artists(fig, "span")
    assert span.get_paths()[0].get_extents().x0 == 250.0
    assert span.get_paths()[0].get_extents().x1 == fig.axes[0].get_xlim()[1]  # open: to the end
    assert [t.get_text() for t in artists(fig, "span-label")] == ["holds the lock"]
    assert artist(fig, "marks").get_offsets().tolist() == [[300.0, 4.0]]
    assert [t.get_text() for t in artists(fig, "mark-label")] == ["refused"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "holds the lock" in legend


def test_tree_timeline_draws_one_bar_per_life_of_a_znode():
    from types import SimpleNamespace as Life

    lives = [Life(path="/lock", created=10.0, deleted=None, ephemeral=False, owner=None),
             Life(path="/lock/n-0000000000", created=20.0, deleted=60.0, ephemeral=True, owner="A"),
             Life(path="/lock/n-0000000001", created=30.0, deleted=None, ephemeral=True, owner="B"),
             Life(path="/lock/n-0000000000", created=70.0, deleted=80.0, ephemeral=True, owner="C")]
    fig = viz.tree_timeline(lives, end=100.0, moments=[(60.0, "A's session expires")])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "/lock", "/lock/n-0000000000", "/lock/n-0000000001"]  # parents above their children
    persistent, = artists(fig, "persistent")
    assert persistent.get_paths()[0].get_extents().x1 == 100.0  # still there: to the right edge
    ephemeral = sorted((p.get_paths()[0].get_extents().x0, p.get_paths()[0].get_extents().x1)
                       for p in artists(fig, "ephemeral"))
    assert ephemeral == [(20.0, 60.0), (30.0, 100.0), (70.0, 80.0)]
    assert sorted(line.get_xdata()[0] for line in artists(fig, "deleted")) == [60.0, 80.0]
    assert {t.get_text() for t in artists(fig, "owner")} == {"A", "B", "C"}
    assert [t.get_text() for t in artists(fig, "moment-label")] == ["A's session expires"]
    with pytest.raises(ValueError, match="before start"):
        viz.tree_timeline(lives, start=50, end=10)


# -- figures for screens: sharp, readable, labels whole and apart, colours distinct -----------------
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from zablib.protocols import paxos, raft, twopc, zab  # noqa: E402


def drawn(fig):
    """Lay ``fig`` out and draw it (it is closed: give it a canvas), for measuring its texts."""
    FigureCanvasAgg(fig).draw()
    return fig


def texts_of(fig):
    """Every visible, non-empty text of ``fig`` with its box in pixels: labels, tick labels,
    titles and the legend (as one box)."""
    renderer = drawn(fig).canvas.get_renderer()
    found = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.axes is not None
             and not any(t in (leg.get_texts() + [leg.get_title()]) for leg in legends(fig))]
    found += [("legend", leg.get_window_extent(renderer)) for leg in legends(fig)]
    return found


def legends(fig):
    return [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]


def legend_colors(fig):
    """(label, RGB) of every legend entry: a patch's fill, a line's colour (its marker's when it
    has no line)."""
    found = []
    for leg in legends(fig):
        for handle, text in zip(leg.legend_handles, leg.get_texts(), strict=True):
            if hasattr(handle, "get_facecolor") and not isinstance(handle, plt.Line2D):
                color = handle.get_facecolor()
            elif handle.get_linestyle() in ("None", "none", "", " "):
                color = handle.get_markerfacecolor()
            else:
                color = handle.get_color()
            found.append((text.get_text(), mcolors.to_rgb(color)))
    return found


def assert_distinct(colors, at_least=0.12):
    """No two entries share a colour, nor have colours closer than ``at_least`` (RGB distance)."""
    for k, (a, ca) in enumerate(colors):
        for b, cb in colors[k + 1:]:
            distance = sum((x - y) ** 2 for x, y in zip(ca, cb, strict=True)) ** 0.5
            assert distance >= at_least, f"legend entries {a!r} and {b!r} look alike: {ca} {cb}"


def crashed_leader_run(protocol, n):
    """An n-node run of ZAB, Raft, Paxos (Multi-Paxos) or 2PC (n - 1 participants): a command
    committed, then the leader crashed and a new one elected (2PC: a committed transaction)."""
    if protocol == "2pc":
        sim = twopc.cluster(n - 1, seed=1)
        sim.run(until=400)
        return sim
    sim = {"zab": zab, "raft": raft, "paxos": paxos}[protocol].cluster(n, seed=1)
    sim.run(until=300)
    sim.submit("a")
    sim.run(until=600)
    sim.crash(sim.leader())
    sim.run(until=1500)
    return sim


@pytest.mark.parametrize("protocol", ["zab", "raft", "paxos", "2pc"])
def test_cluster_graph_labels_are_whole_apart_and_inside_the_figure_for_three_to_seven_nodes(protocol):
    for n in range(3, 8):
        sim = crashed_leader_run(protocol, n)
        fig = viz.cluster_graph(sim)
        status = {t.get_text().replace("\n", " ") for t in artists(fig, "status")}
        assert status == {sim.status(i).text if sim.is_up(i) else "crashed" for i in sim.node_ids}
        found = texts_of(fig)
        box = fig.bbox
        for k, (a, ba) in enumerate(found):
            assert box.x0 <= ba.x0 and ba.x1 <= box.x1 and box.y0 <= ba.y0 and ba.y1 <= box.y1, \
                f"{protocol}, {n} nodes: {a!r} sticks out of the figure"
            for b, bb in found[k + 1:]:
                assert not ba.overlaps(bb), f"{protocol}, {n} nodes: {a!r} overlaps {b!r}"


def test_a_long_status_line_is_wrapped_between_words_never_cut():
    text = "following 2 e2 last=(1, 1) committed=(1, 1)"
    wrapped = viz.wrap_label(text, 18)
    assert wrapped == "following 2 e2\nlast=(1, 1)\ncommitted=(1, 1)"
    assert wrapped.replace("\n", " ") == text
    assert viz.wrap_label("a-word-longer-than-the-width x", 10) == "a-word-longer-than-the-width\nx"


def every_figure():
    """One of each kind of figure, drawn from runs the book draws."""
    from types import SimpleNamespace as Life

    sim = crashed_leader_run("zab", 5)
    lives = [Life(path="/lock", created=10.0, deleted=None, ephemeral=False, owner=None),
             Life(path="/lock/n-0000000000", created=20.0, deleted=60.0, ephemeral=True, owner="A")]
    from zablib.explore import explore
    from zablib.models import TwoPhase
    return {
        "spacetime": viz.spacetime(sim, focus=(250, 400)),
        "spacetime, whole run": viz.spacetime(sim),
        "cluster_graph": viz.cluster_graph(sim),
        "log_grid": viz.log_grid(sim),
        "zxid_grid": viz.zxid_grid(sim),
        "raft_scope": viz.raft_scope(raft.scenario_figure8("correct", "b"), title="(b)"),
        "tree_timeline": viz.tree_timeline(lives, end=100.0, moments=[(60.0, "A's session expires")]),
        "state_graph": viz.state_graph(explore(TwoPhase(rms=2), keep_graph=True)),
    }


def test_no_text_is_smaller_than_eight_points_at_the_size_the_page_shows():
    for name, fig in every_figure().items():
        data, size = viz.png_for_screen(fig)
        # the page shows the figure at its CSS width: it fits the column, so it is not shrunk
        assert size["width"] <= viz.COLUMN_PX, name
        small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
                 if t.get_visible() and t.get_text().strip() and t.get_fontsize() < viz.MIN_FONT_PT]
        assert not small, f"{name}: text below {viz.MIN_FONT_PT} pt: {small[:5]}"


def test_pictures_are_sharp_on_high_density_screens_and_laid_out_at_their_css_width():
    sim = crashed_leader_run("raft", 3)
    fig = viz.spacetime(sim)
    data, size = viz.png_for_screen(fig)
    assert data.startswith(b"\x89PNG")
    pixels = int.from_bytes(data[16:20], "big")
    assert pixels == pytest.approx(viz.PIXEL_RATIO * size["width"], abs=1)
    assert viz.PIXEL_RATIO >= 2 and set(size) == {"width"}  # height follows: never stretched
    assert viz.png_for_screen(viz.spacetime(crashed_leader_run("raft", 3)))[0] == data  # same run, same bytes
    output = viz.display_data(fig)
    assert output["metadata"] == {"image/png": size}
    assert set(output["data"]) == {"image/png", "text/plain"}


def test_a_panels_pictures_are_as_sharp_drawn_in_one_pass_and_leave_the_figure_as_it_was():
    """A panel redraws while the reader waits: png_for_panel draws the figure once at the same
    resolution as png_for_screen, whole, and the same figure gives the same bytes whatever was
    drawn before it in the kept renderers."""
    fig = viz.spacetime(crashed_leader_run("raft", 3))
    before = (repr(fig), fig.dpi, fig.canvas)
    data, size = viz.png_for_panel(fig)
    assert data.startswith(b"\x89PNG") and size == {"width": round(viz.FIG_WIDTH * viz.SCREEN_DPI)}
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (viz.PIXEL_RATIO * size["width"],
                               round(viz.PIXEL_RATIO * viz.SCREEN_DPI * fig.get_figheight()))
    assert (repr(fig), fig.dpi, fig.canvas) == before  # its text repr in a notebook is unchanged
    # a PNG any reader decodes, pixel for pixel what Agg draws at that resolution
    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    fig.set_dpi(viz.SCREEN_DPI * viz.PIXEL_RATIO)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    assert (decoded == np.asarray(canvas.buffer_rgba())).all()
    fig.set_dpi(before[1])
    fig.set_canvas(before[2])
    viz.png_for_panel(viz.cluster_graph(crashed_leader_run("zab", 5)))  # another picture between
    assert viz.png_for_panel(viz.spacetime(crashed_leader_run("raft", 3)))[0] == data
    output = viz.display_data(fig, panel=True)
    assert output["metadata"] == {"image/png": size}


def test_the_zab_recovery_diagram_gives_every_legend_entry_its_own_colour():
    from test_zab import crash_leader_with_an_unsent_proposal

    # the ZAB recovery page's run: the old leader, holding a 'b' no one else has, rejoins and is
    # truncated
    sim = zab.cluster(3, seed=5)
    old = crash_leader_with_an_unsent_proposal(sim)
    sim.run_for(230)
    back = sim.now
    sim.recover(old)
    sim.run_for(200)
    fig = viz.spacetime(sim, start=back - 2, end=back + 60)
    colors = legend_colors(fig)
    assert {"Trunc", "NewLeader", "UpToDate", "crashed", "note"} <= {label for label, _ in colors}
    assert_distinct(colors)
    assert_distinct(legend_colors(viz.spacetime(sim)))  # the whole run: more classes still


def test_message_colours_stay_distinct_beyond_the_palette():
    names = [f"Message{k}" for k in range(40)]
    colors = viz.message_colors(names)
    assert len(set(colors.values())) == 40
    assert [colors[n] for n in sorted(names)[:len(viz.MESSAGE_PALETTE)]] == list(viz.MESSAGE_PALETTE)
    other = {mcolors.to_hex(c) for c in (viz.CLIENT_COLOR, viz.DROP_COLOR, viz.NOTE_COLOR,
                                         viz.TIMER_COLOR, viz.LOST_COLOR)}
    assert not other & {mcolors.to_hex(c) for c in colors.values()}


def test_roles_without_a_colour_of_their_own_get_distinct_ones_and_crashed_stays_apart():
    sim = pingpong.cluster(4, seed=0)
    sim.nodes[2].role = "referee"  # two roles the book's palette does not know, and a crash
    sim.run()
    sim.crash(4)
    colors = legend_colors(viz.cluster_graph(sim))
    assert [label for label, _ in colors] == ["player", "referee", "crashed"]
    assert colors[0][1] == mcolors.to_rgb(viz.OTHER_COLOR)
    assert_distinct(colors)
    assert_distinct(legend_colors(viz.cluster_graph(crashed_leader_run("2pc", 4))))


@pytest.mark.parametrize("protocol", ["zab", "raft"])
def test_a_crashed_leader_is_drawn_and_named_crashed_not_leader(protocol):
    module = {"zab": zab, "raft": raft}[protocol]
    sim = module.cluster(3, seed=1)
    sim.run(until=600)
    leader = sim.leader()
    sim.crash(leader)
    assert sim.status(leader).role in ("leader", "leading")  # the report it had when it crashed
    assert viz.role_of(sim, leader) == "crashed"
    fig = viz.cluster_graph(sim)
    rows = {n: k for k, n in enumerate(sim.node_ids)}
    status = [t.get_text() for t in artists(fig, "status")]
    assert status[rows[leader]] == "crashed"
    assert not any(s.startswith(("leader", "leading")) for s in status)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "crashed" in legend and not {"leader", "leading"} & set(legend)
    assert len(artist(fig, "crashed-nodes").get_offsets()) == 1
    assert f"{leader} (down)" in [t.get_text() for t in viz.log_grid(sim).axes[0].get_yticklabels()]


def paxos_gap_run():
    """A 5-node Multi-Paxos run: leader 1 proposes x for slot 1 over cut links (only it hears
    of it), then y for slot 2, which the others accept and learn: they hold an empty slot 1.
    Returns the run at that moment (the caller crashes 1 to have the gap filled with a no-op)."""
    sim = paxos.cluster(5, seed=0, election_ms=(150.0, 300.0), heartbeat_ms=60.0)
    sim.campaign(1)
    sim.run_until(lambda s: s.leader() == 1, what="node 1 leading")
    sim.run_for(70.0)
    for i in (2, 3, 4, 5):
        sim.cut_link(1, i)
    sim.submit("x")
    for i in (2, 3, 4, 5):
        sim.restore_link(1, i)
    sim.submit("y")
    sim.run_until(lambda s: all(any(r.index == 2 and r.kind == "command" for r in s.status(i).log)
                                for i in (2, 3, 4, 5)), what="slot 2 learned")
    return sim


def test_a_multi_paxos_run_is_drawn_like_zab_and_raft_runs():
    sim = paxos_gap_run()
    kinds = {i: [row.kind for row in sim.status(i).log] for i in sim.node_ids}
    assert kinds[1] == ["command", "command"] and kinds[2] == ["empty", "command"]
    grid = viz.log_grid(sim, title="slot 1 is empty on 2..5")
    assert [t.get_text() for t in grid.axes[0].texts] == ["x", "y"] + ["", "y"] * 4
    cells = artists(grid, "cell")
    assert [c.get_hatch() for c in cells[2:4]] == ["///", None]
    assert "empty slot" in [t.get_text() for t in grid.axes[0].get_legend().get_texts()]

    sim.crash(1)
    sim.run_until(lambda s: s.leader() not in (None, 1) and all(
        [r.kind for r in s.status(i).log] == ["noop", "command"] for i in (2, 3, 4, 5)),
        what="the gap filled with a no-op")
    texts = [t.get_text() for t in viz.log_grid(sim).axes[0].texts]
    assert texts == ["x", "y"] + ["nop", "y"] * 4
    graph = viz.cluster_graph(sim)
    status = [t.get_text().replace("\n", " ") for t in artists(graph, "status")]
    assert status[0] == "crashed" and status[sim.leader() - 1].startswith("leader ballot=")
    st = viz.spacetime(sim)
    assert {"Prepare", "Promise", "Accept", "Accepted"} <= {label for label, _ in legend_colors(st)}
    assert len(artist(st, "messages").U) == len(sim.trace.of_kind("deliver"))


def test_a_focus_window_zooms_to_the_moment_with_a_margin(sim):
    fig = viz.spacetime(sim, focus=(300, 400))
    assert fig.axes[0].get_xlim() == (290, 410)
    assert viz.focus_window((10, 20)) == (9, 21)
    assert viz.focus_window((0, 50)) == (0, 55)  # never before the run began
    assert viz.focus_window(None, 5, 6) == (5, 6)
    with pytest.raises(ValueError, match="not both"):
        viz.spacetime(sim, focus=(300, 400), start=100)
    with pytest.raises(ValueError, match="ends before"):
        viz.spacetime(sim, focus=(400, 300))
    with pytest.raises(ValueError, match="pair of times"):
        viz.spacetime(sim, focus=300)


def test_a_zoomed_tree_keeps_only_the_moments_in_its_window():
    from types import SimpleNamespace as Life

    lives = [Life(path="/a", created=10.0, deleted=None, ephemeral=False, owner=None)]
    fig = viz.tree_timeline(lives, focus=(50, 100), moments=[(20.0, "before"), (70.0, "inside")])
    assert [t.get_text() for t in artists(fig, "moment-label")] == ["inside"]
    assert fig.axes[0].get_xlim() == (45, 105)


def test_a_notebook_shows_figures_as_sharp_pngs_with_their_css_width():
    """In a real kernel (inline backend, which picks its own PNG format at the first figure),
    a returned figure and a figure of the reader's own both come out at twice the resolution,
    with their CSS width in the metadata; their text repr stays what nbval compares."""
    import base64

    import nbclient
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
                    "from zablib import viz\nfrom zablib.protocols import zab\n"
                    "sim = zab.cluster(3, seed=1)\nsim.run(until=200)\nviz.cluster_graph(sim)"),
                nbformat.v4.new_code_cell(
                    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(3, 2))\n"
                    "ax.plot([1, 2]);")]
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    (graph,), (own,) = (cell.outputs for cell in nb.cells)
    for output in (graph, own):
        png = base64.b64decode(output["data"]["image/png"])
        width = output["metadata"]["image/png"]["width"]
        assert int.from_bytes(png[16:20], "big") == pytest.approx(viz.PIXEL_RATIO * width, abs=1)
    assert graph["data"]["text/plain"].startswith("<Figure size 680x")


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
def test_figure_sizes_are_whole_pixels_so_the_notebooks_text_output_stays_sanitizable(n):
    """nbval replaces "<Figure size WxH with k Axes>" only when W and H are integers."""
    import re

    for fig in (viz.cluster_graph(crashed_leader_run("raft", n)),
                viz.cluster_graph(crashed_leader_run("2pc", n))):
        assert re.fullmatch(r"<Figure size \d+x\d+ with \d+ Axes>", repr(fig)), repr(fig)
