"""State writes proportional to what changed (issue 12, item 1): a no-op `up` writes the
state file once and no journal; a change writes its resource once; and the journal, cut
at any point a killed deployment could leave it, replays to the state the deployment
held then, from which the next `up` converges."""

from __future__ import annotations

import json

import pytest

from dh_kfp_pulumi import engine
from dh_kfp_pulumi.engine import journal as journal_module
from dh_kfp_pulumi.engine.ledger import Ledger
from dh_kfp_pulumi.engine.state import ResourceState, StateStore

A = {"name": "a", "path": "a.txt", "content": "alpha"}
B = {"name": "b", "path": "sub/b.txt", "content": "beta", "after": "a", "group": "g"}
C = {"name": "c", "path": "c.txt", "content": "gamma"}
D = {"name": "d", "path": "d.txt", "content": "delta", "dbr": True}


class Writes:
    """Counts what an operation writes: state files, journal lines, flushes to the disk,
    resources encoded to JSON."""

    def __init__(self, monkeypatch):
        self.saves = self.lines = self.syncs = self.encoded = 0
        self.journal: list[str] = []
        save, write, text = StateStore.save, journal_module.Journal.write, \
            ResourceState.to_json

        def counted_save(store, state):
            self.saves += 1
            save(store, state)

        def counted_write(journal, lines, *, sync, base):
            self.lines += len(lines)
            self.syncs += bool(lines) and sync
            self.journal += [json.loads(line)["e"] for line in lines]
            write(journal, lines, sync=sync, base=base)

        def counted_text(entry):
            self.encoded += 1
            return text(entry)

        monkeypatch.setattr(StateStore, "save", counted_save)
        monkeypatch.setattr(journal_module.Journal, "write", counted_write)
        monkeypatch.setattr(ResourceState, "to_json", counted_text)


def test_a_no_op_up_writes_the_state_once_and_encodes_no_resource(files, monkeypatch):
    files.spec(A, B, C)
    files.up()
    before = files.state()
    writes = Writes(monkeypatch)
    assert files.up().changed() == []
    assert (writes.saves, writes.lines, writes.encoded) == (1, 0, 0)
    assert not files.journal_file.exists()
    after = files.state()
    # the same resources (in the order of this run's registrations, which may differ: b
    # waits for a's output, c does not)
    by_urn = {r["urn"]: r for r in before["resources"]}
    assert {r["urn"]: r for r in after["resources"]} == by_urn
    assert after["exports"] == before["exports"]
    assert after["serial"] == before["serial"] + 1

    writes.__init__(monkeypatch)
    files.preview()
    files.preview(refresh=True)
    assert (writes.saves, writes.lines) == (0, 0)


def test_a_change_writes_that_resource_once(files, monkeypatch):
    files.spec(A, C)
    files.up()
    files.calls()
    writes = Writes(monkeypatch)
    files.spec(A, dict(C, content="GAMMA"))
    assert {(s.op, s.name) for s in files.up().changed()} == {("update", "c")}
    assert files.calls() == ["update c.txt"]
    # the call in flight, then c (and the `keep` of what came before it, unflushed),
    # then the stack's outputs (c's digest is exported)
    assert [e for e in writes.journal if e not in ("keep", "update", "end")] == \
        ["begin", "put", "outputs", "exports"]
    assert writes.syncs == 4 and writes.saves == 1
    # c, once (the journal's text is the state file's), and the stack, whose outputs
    # changed; not a, nor any other
    assert writes.encoded == 2
    assert not files.journal_file.exists()


def test_a_journal_left_by_an_older_state_is_not_replayed(files):
    files.spec(A)
    files.up()
    state = files.loaded()
    # a kill between the state file's rename and the journal's removal leaves both: the
    # journal names the serial it followed, which the saved file has left behind
    files.journal_file.write_text(
        json.dumps({"journal": 1, "base": state.serial - 1}) + "\n"
        + json.dumps({"e": "exports", "v": {"stale": True}}) + "\n")
    assert files.loaded().exports == state.exports
    files.journal_file.write_text(
        json.dumps({"journal": 1, "base": state.serial}) + "\n"
        + json.dumps({"e": "exports", "v": {"replayed": True}}) + "\n"
        + '{"e": "exports", "v": {"cut short')
    assert files.loaded().exports == {"replayed": True}
    files.up()  # folds the journal into the file first, then deploys
    assert not files.journal_file.exists() and "replayed" not in files.state()["exports"]


def summary(resources) -> list[tuple]:
    return [(r.urn, r.id, r.delete, json.dumps(r.inputs, sort_keys=True),
             json.dumps(r.outputs, sort_keys=True)) for r in resources]


def test_every_point_a_kill_can_leave_replays_and_converges(files, monkeypatch, tmp_path):
    """Each flush of the journal (where a kill -9 leaves it; lines between flushes are
    written with the next one) replays to exactly what the deployment held; from each,
    and from the journal cut in the middle of its last line, the next `up` converges."""
    files.spec(A, B, C, D)
    files.up()
    base = files.state_file.read_bytes()
    points: list[tuple[bytes, list, list]] = []
    flush = Ledger.flush

    def recorded_flush(ledger, *, sync=False):
        flush(ledger, sync=sync)
        if ledger.journal.path.exists():
            points.append((ledger.journal.path.read_bytes(), summary(ledger.snapshot()),
                           list(ledger.state.pending_operations)))

    monkeypatch.setattr(Ledger, "flush", recorded_flush)
    # every kind of step: update a (b follows), replace b (create first), replace d
    # (delete first), delete c
    final = [dict(A, content="ALPHA"), dict(B, path="sub/b2.txt"), dict(D, path="d2.txt")]
    files.spec(*final)
    files.up()
    monkeypatch.undo()
    kinds = {json.loads(line)["e"] for data, _, _ in points
             for line in data.decode().splitlines()[1:]}
    assert {"begin", "put", "condemn", "seen", "forget", "outputs", "exports"} <= kinds
    assert len(points) >= 12
    wanted = {p.relative_to(files.root): p.read_text() for p in files.root.rglob("*.txt")}

    cuts = [(data, resources, pending) for data, resources, pending in points]
    cuts.append((points[-1][0][:-7], None, None))  # killed while writing a line
    for i, (data, resources, pending) in enumerate(cuts):
        files.state_file.write_bytes(base)
        files.journal_file.write_bytes(data)
        state = files.loaded()
        if resources is not None:
            assert summary(state.resources) == resources, i
            assert state.pending_operations == pending, i
        files.up()
        assert not files.journal_file.exists()
        assert {p.relative_to(files.root): p.read_text()
                for p in files.root.rglob("*.txt")} == wanted, i
        assert files.up().changed() == [], i
        files.calls()


def test_the_state_file_is_json_with_one_resource_a_line(files):
    files.spec(A, B, C)
    files.up()
    text = files.state_file.read_text()
    lines = text.splitlines()
    assert lines[0].endswith('"resources": [') and lines[-1] == "]}"
    assert len(lines) == 2 + len(files.state()["resources"])
    assert json.loads(text)["resources"][1] == json.loads(lines[2].rstrip(","))
    # a state written by an earlier dh-kfp (indented JSON) still loads, and is rewritten
    data = json.loads(text)
    files.state_file.write_text(json.dumps(data, indent=1))
    assert [r.urn for r in files.loaded().resources] == [r["urn"] for r in data["resources"]]
    assert files.up().changed() == []
    assert files.state_file.read_text().splitlines()[0].endswith('"resources": [')


@pytest.mark.parametrize("n", [0, 1, 300])
def test_delete_order_is_dependents_first_and_linear(n):
    chain = [ResourceState(urn=f"u{i}", type="t", custom=True,
                           dependencies=[f"u{i - 1}"] if i else []) for i in range(n)]
    loose = [ResourceState(urn=f"x{i}", type="t", custom=True) for i in range(n)]
    order = engine.delete_order(chain + loose)
    assert [r.urn for r in order] == [f"x{i}" for i in reversed(range(n))] + \
        [f"u{i}" for i in reversed(range(n))]
    cycle = [ResourceState(urn="p", type="t", custom=True, dependencies=["q"]),
             ResourceState(urn="q", type="t", custom=True, dependencies=["p"])]
    assert [r.urn for r in engine.delete_order(cycle)] == ["q", "p"]


def test_a_finished_command_leaves_no_journal(files):
    """The journal lives only while a command runs (or after one was killed)."""
    files.spec(A)
    files.up()
    names = sorted(p.name for p in files.state_dir.iterdir())
    assert names == ["files-test.json", "files-test.lock", "files-test.provider.log"]
