"""Golden transcripts: every file of ``tests/golden`` holds a scripted run, each command next to
the trace it printed (the cockroachdb/datadriven format of etcd-io/raft's ``testdata``). A change
in a protocol's behaviour shows up here as a unified diff of the first command whose output
moved. ``ZABLIB_REWRITE=1 pytest tests/test_golden.py`` regenerates them in place; do it only
when ``git diff tests/golden`` is understood (tests/golden/README.md).

The rest of the file checks the interpreter itself: a transcript with a typo, a bad argument or a
command the simulation refuses fails loudly, naming the file and the line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zablib.datadriven import (
    COMMANDS,
    CONDITIONS,
    Case,
    Interpreter,
    ScriptError,
    check_file,
    check_text,
    fill_text,
    parse,
    protocols,
    render,
    report,
    rewrite_file,
)
from zablib.datadriven.__main__ import main
from zablib.datadriven.arguments import convert, parse_command

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(GOLDEN.glob("*.txt"))


# -- the golden transcripts ---------------------------------------------------------------------
def problem_with(path: Path) -> str:
    """Why the transcript at ``path`` does not hold ("" when it does); rewrite it first if asked."""
    try:
        if os.environ.get("ZABLIB_REWRITE"):
            rewrite_file(path)
        return report(check_file(path))
    except ScriptError as exc:  # the run itself broke: say where, without the interpreter's stack
        return str(exc)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden_transcript(path):
    problem = problem_with(path)
    if problem:
        pytest.fail(problem, pytrace=False)


def test_there_are_golden_transcripts_and_each_holds_a_run():
    assert {p.stem for p in FILES} >= {"zab_trunc", "zab_snap", "raft_figure8", "raft_replace_leader",
                                       "paxos_gap_noop", "paxos_forgotten_promise", "paxos_duel"}
    for path in FILES:
        commands = [c.command.split()[0] for c in parse(path.read_text(encoding="utf-8"), str(path))
                    if isinstance(c, Case)]
        assert commands[0] == "show", f"{path.name}: say which event kinds the outputs show, first"
        assert commands[1] in ("cluster", "scenario") and commands[-1] == "check", path.name


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_reading_and_writing_a_transcript_gives_the_same_bytes(path):
    text = path.read_text(encoding="utf-8")
    assert render(parse(text, str(path))) == text


# -- a behaviour change is a readable diff ------------------------------------------------------
SHORT = """\
show crash recover
----

cluster zab n=3 seed=5
----

crash 2
----
     0.000  crash     2

recover 2
----
     0.000  recover   2  looking e0 last=(0, 0) committed=(0, 0)
"""


def test_a_transcript_that_matches_has_no_mismatch():
    assert check_text(SHORT, "short.txt") == []


def test_a_changed_output_is_reported_as_a_unified_diff_naming_file_line_and_command():
    moved = SHORT.replace("     0.000  crash     2", "     0.000  crash     3")
    mismatches = check_text(moved, "short.txt")
    assert [m.case.line for m in mismatches] == [7]
    message = report(mismatches)
    assert message.startswith("short.txt:7: crash 2\n--- short.txt:7 expected\n+++ actual\n")
    assert "-     0.000  crash     3\n+     0.000  crash     2" in message
    assert "python -m zablib.datadriven --rewrite short.txt" in message


def test_fill_writes_the_outputs_and_keeps_comments_and_command_lines():
    script = "# a run\nshow crash\n----\n\ncluster zab n=3 seed=5   # three servers\n----\n\ncrash 2\n----\n"
    filled = fill_text(script)
    assert filled == ("# a run\nshow crash\n----\n\ncluster zab n=3 seed=5   # three servers\n----\n\n"
                      "crash 2\n----\n     0.000  crash     2\n")
    assert fill_text(filled) == filled


def test_rewrite_changes_the_file_only_when_an_output_moved(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(SHORT.replace("crash     2", "crash     9"), encoding="utf-8")
    assert rewrite_file(path) is True
    assert path.read_text(encoding="utf-8") == SHORT
    assert rewrite_file(path) is False


def test_the_command_line_checks_prints_a_diff_and_rewrites(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text(SHORT.replace("crash     2", "crash     9"), encoding="utf-8")
    assert main([str(path)]) == 1
    assert "+     0.000  crash     2" in capsys.readouterr().out
    assert main(["--rewrite", str(path)]) == 0
    assert main([str(path)]) == 0
    assert capsys.readouterr().out.endswith(f"{path}: ok\n")


# -- the file format ----------------------------------------------------------------------------
def test_an_output_with_blank_lines_is_written_between_doubled_separators():
    blocks = [Case(1, "status", "a\n\nb")]
    text = render(blocks)
    assert text == "status\n----\n----\na\n\nb\n----\n----\n"
    assert parse(text) == blocks


@pytest.mark.parametrize("text, line, problem", [
    ("crash 2\n", 1, "must be followed by a line '----'"),
    ("crash 2\nrecover 2\n----\n", 1, "must be followed by a line '----'"),
    ("\n----\n", 2, "'----' with no command on the line before it"),
    ("status\n----\n----\na\n", 3, "never closed"),
])
def test_a_malformed_transcript_names_the_line(text, line, problem):
    with pytest.raises(ScriptError, match=problem) as caught:
        parse(text, "bad.txt")
    assert (caught.value.source, caught.value.line) == ("bad.txt", line)
    assert str(caught.value).startswith(f"bad.txt:{line}: ")


# -- the command syntax -------------------------------------------------------------------------
def test_values_are_ints_floats_words_quoted_strings_and_tuples():
    command = parse_command("cluster raft 3 seed=16 election_ms=(5000, 6000.5) variant=commit-previous-term"
                            " check_quorum=True name='two words'  # a comment")
    assert command.name == "cluster" and command.args == ("raft", 3)
    assert command.options == {"seed": 16, "election_ms": (5000, 6000.5), "check_quorum": True,
                               "variant": "commit-previous-term", "name": "two words"}
    assert parse_command("partition (1,2) ((3,4),5) (6,)").args == ((1, 2), ((3, 4), 5), (6,))
    assert convert("-2") == -2 and convert("1e3") == 1000.0 and convert("None") is None


@pytest.mark.parametrize("line, problem", [
    ("run for=10 for=20", "option for= given twice"),
    ("partition (1,2 (3)", r"unbalanced '\('"),
    ("partition 1,2) 3", r"unbalanced '\)'"),
    ("submit 'a", "unterminated ' quote"),
    ("submit a,b", "quote a string"),
    ("cluster seed=1 zab", "positional value 'zab' after a key=value option"),
    ("run for=", "missing value"),
    ("Crash 2", "a command name is a lower-case word"),
])
def test_a_line_that_cannot_be_read_is_refused(line, problem):
    with pytest.raises(ValueError, match=problem):
        parse_command(line)


# -- the interpreter refuses what it does not understand -----------------------------------------
def fails(lines: list[str], problem: str) -> ScriptError:
    """Run ``lines`` in order; the last one must fail with ``problem``, naming its line."""
    interpreter = Interpreter("story.txt")
    for number, line in enumerate(lines[:-1], start=1):
        interpreter.run(line, number)
    with pytest.raises(ScriptError, match=problem) as caught:
        interpreter.run(lines[-1], len(lines))
    assert str(caught.value).startswith(f"story.txt:{len(lines)}: ")
    return caught.value


ZAB = "cluster zab n=3 seed=5"


@pytest.mark.parametrize("lines, problem", [
    (["crsh 2"], "unknown command 'crsh'; commands are .*crash"),
    (["crash 2"], "no simulation yet"),
    (["cluster zeb"], "unknown protocol 'zeb'; protocols are .*raft.*zab"),
    (["cluster zab n=3 sed=5"], "unexpected keyword argument 'sed'"),
    (["cluster zab n=0"], "at least 1 server"),
    (["show notes"], "unknown event kind 'notes'"),
    (["show"], "name the kinds to show"),
    ([ZAB, "crash"], "crash: missing a required argument: 'node'; usage: crash NODE"),
    ([ZAB, "crash 2 3"], "crash: too many positional arguments"),
    ([ZAB, "crash two"], "a node is an id or 'leader', got 'two'"),
    ([ZAB, "crash 7"], "unknown node 7"),
    ([ZAB, "crash 2", "crash 2"], "already crashed"),
    ([ZAB, "crash leader"], "'leader' names no node: there is no leader now"),
    ([ZAB, "heal now"], "heal: too many positional arguments"),
    ([ZAB, "partition (1,2,3)"], "at least two groups"),
    ([ZAB, "run for=10 until=30"], "give one of for=, until=, events="),
    ([ZAB, "run for=ten"], "for must be a number"),
    ([ZAB, "run forever=1"], "unknown option forever="),
    ([ZAB, "run for=50", "run until=5"], "until=5 is in the past"),
    ([ZAB, "run until=quiet"], "unknown condition 'quiet'; conditions are leader, elected"),
    ([ZAB, "run until=committed value=a"], "missing a required argument: 'on'"),
    ([ZAB, "run until=committed value=a count=1 on=1"], "value=V or count=K"),
    ([ZAB, "run until=committed value=a on=9"], "on= names node 9"),
    ([ZAB, "run until=delivered message=Dif"], "no message type 'Dif'"),
    (["cluster primary_backup 3", "run until=settled"], "needs nodes that report phase; a Repl"),
    ([ZAB, "run until=decided"], r"needs sim.outcome\(\)"),
    ([ZAB, "run until=settled within=100"], "within= bounds a polled run"),
    ([ZAB, "run until=settled poll=10 limit=3"], "limit= counts events"),
    ([ZAB, "run until=settled poll=10 within=10"], "until=settled did not hold within 10 ms"),
    ([ZAB, "run until=committed value=a on=1 limit=50"], "until=committed did not happen within 50"),
    ([ZAB, "add-server 4"], r"has no add_server\(\)"),
    ([ZAB, "scenario zab.nothing"], "unknown scenario 'zab.nothing'; zab's scenarios are "
                                    "zab.crash_after_logged"),
    ([ZAB, "trace kinds=(note,sends)"], "unknown event kind 'sends'"),
    ([ZAB, "step 0"], "positive number of events"),
])
def test_a_bad_command_fails_naming_the_file_line_and_problem(lines, problem):
    fails(lines, problem)


def test_every_command_and_condition_is_documented():
    from zablib.datadriven import commands, conditions

    for name in COMMANDS:
        assert f"``{name}" in commands.__doc__ or f"/ ``{name}" in commands.__doc__, name
    for name in CONDITIONS:
        assert f"\n{name} " in conditions.__doc__, name
    assert {"raft", "zab", "twopc", "threepc", "primary_backup"} <= set(protocols())


# -- what the commands print ---------------------------------------------------------------------
def test_each_command_prints_the_events_it_caused_then_what_it_returned():
    it = Interpreter()
    assert it.run("show client note") == ""
    it.run("cluster raft 3 seed=1")
    assert it.run("run until=elected poll=10").endswith("applies 1 1:noop")
    leader = int(it.run("leader").removeprefix("leader: "))
    submitted = it.run("submit 'x y'").split("\n")
    assert submitted[0].endswith(f"client    {leader}  'x y'") and submitted[-1] == "=> True"
    assert it.run("run until=committed value='x y' on=all").count("applies 2") == 3
    assert it.run("committed 1") == "1: ['x y']"
    assert it.run("check") == "ok"
    assert it.run("trace kinds=client") == submitted[0]


def test_commit_protocols_run_until_every_live_node_decided():
    it = Interpreter()
    it.run("show note")
    it.run("cluster twopc 2 seed=0")
    assert it.run("run until=decided").endswith("learns commit from 0")
    assert it.run("status") == "0: coordinator committed\n1: participant committed\n2: participant committed"


def test_a_scenario_returning_more_than_a_simulation_prints_the_rest():
    it = Interpreter()
    it.run("show crash")
    out = it.run("scenario zab.crash_after_logged 2")
    assert out.split("\n")[-1] == "=> [3, 4]"
    assert "crash" in out.split("\n")[0]
