"""The offline engine driving a real dynamic provider (files under a temp dir) through the
real provider server: create, no-op, update, replace (both orders), delete in dependency
order, preview with unknowns, check failures, refresh and drift, destroy, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from dh_kfp_pulumi import engine
from dh_kfp_pulumi.engine.props import SECRET_SIG, SIG, UNKNOWN

A = {"name": "a", "path": "a.txt", "content": "alpha"}
B = {"name": "b", "path": "sub/b.txt", "content": "beta", "after": "a", "group": "g"}
C = {"name": "c", "path": "c.txt", "content": "gamma"}


def ops(result, phase="deploy"):
    return {(s.op, s.name) for s in result.changed(phase)}


def test_first_up_creates_and_second_changes_nothing(files):
    files.spec(A, B, C)
    first = files.up()
    assert ops(first) == {("create", "a"), ("create", "b"), ("create", "c"), ("create", "g")}
    assert sorted(files.calls()) == ["create a.txt", "create c.txt", "create sub/b.txt"]
    digest_a = first.outputs("a")["digest"]
    # b's content came from a's output: the program saw a's real outputs
    assert files.file("sub/b.txt").read_text() == f"beta after {digest_a}"
    # config from the stack file and the override; project and stack names from the engine
    assert first.exports["greeting"] == "hello from files/test"
    assert first.exports["a_digest"] == digest_a
    assert "+ " in files.output and "created" in files.output and "not Pulumi" in files.output

    second = files.up()
    assert files.calls() == []  # not one write
    assert second.changed() == []
    assert second.counts() == {"same": 4}
    assert second.outputs("a") == first.outputs("a")
    # URNs as Pulumi builds them: the child of a component carries its parent's type
    urns = set(second.resources)
    assert "urn:pulumi:test::files::pulumi-python:dynamic/files:TextFile::a" in urns
    assert "urn:pulumi:test::files::files:index:Group$pulumi-python:dynamic/files:TextFile::b" \
        in urns


def test_update_flows_to_dependents(files):
    files.spec(A, B)
    files.up()
    files.calls()
    files.spec(dict(A, content="ALPHA"), B)
    result = files.up()
    assert [(s.op, s.name, s.keys) for s in result.changed()] == [
        ("update", "a", ("content",)), ("update", "b", ("content",))]
    assert files.calls() == ["update a.txt", "update sub/b.txt"]
    assert files.file("a.txt").read_text() == "ALPHA"
    assert files.file("sub/b.txt").read_text().endswith(result.outputs("a")["digest"])
    assert "~ " in files.output and "[diff: ~content]" in files.output


def test_replace_creates_first_and_deletes_the_old_one_after_the_program(files):
    files.spec(A, C)
    files.up()
    files.calls()
    files.spec(dict(A, path="a2.txt"), dict(C, content="GAMMA"))
    result = files.up()
    step = next(s for s in result.steps if s.name == "a" and s.phase == "deploy")
    assert (step.op, step.replaces) == ("replace", ("path",))
    # create-before-delete: the old file goes last, after the other steps
    assert files.calls() == ["create a2.txt", "update c.txt", "delete a.txt"]
    assert not files.file("a.txt").exists() and files.file("a2.txt").exists()
    assert result.resource("a").id == "a2.txt"
    assert not any(r["delete"] for r in files.state()["resources"])
    assert "+-" in files.output and "[diff: +-path]" in files.output


def test_delete_before_replace_deletes_first(files):
    files.spec(dict(A, dbr=True))
    files.up()
    files.calls()
    files.spec(dict(A, dbr=True, path="a2.txt"))
    files.up()
    assert files.calls() == ["delete a.txt", "create a2.txt"]


def test_removed_resources_are_deleted_dependents_first(files):
    d = {"name": "d", "path": "d.txt", "content": "delta", "depends_on": ["c"]}
    files.spec(C, d, A, B)
    files.up()
    files.calls()
    files.spec()
    result = files.up()
    calls = files.calls()
    assert calls.index("delete d.txt") < calls.index("delete c.txt")
    assert calls.index("delete sub/b.txt") < calls.index("delete a.txt")
    deleted = [s.name for s in result.steps if s.op == "delete"]
    assert deleted.index("b") < deleted.index("g")  # a child before its component
    assert result.counts() == {"delete": 5}
    assert [r["type"] for r in files.state()["resources"]] == ["pulumi:pulumi:Stack"]



def test_delete_order_follows_dependencies_over_the_states_order():
    def entry(name, **deps):
        return engine.ResourceState(f"urn:pulumi:s::p::t::{name}", "t", True, **deps)

    # a state where a dependent comes first (say, a dependency added by a later update)
    user = entry("user", property_dependencies={"x": ["urn:pulumi:s::p::t::base"]})
    child = entry("child", parent="urn:pulumi:s::p::t::user")
    base, lone = entry("base"), entry("lone")
    order = [e.name for e in engine.delete_order([child, user, base, lone])]
    assert order.index("child") < order.index("user") < order.index("base")
    assert order[0] == "lone"  # the rest: the reverse of the state's order

def test_preview_plans_without_changing_anything(files):
    files.spec(A, B)
    plan = files.preview()
    assert ops(plan) == {("create", "a"), ("create", "b"), ("create", "g")}
    assert files.calls() == [] and not files.state_file.exists()
    assert "to create" in files.output
    # b's content depends on a's digest, unknown until a exists: the program got an unknown
    assert plan.exports["a_digest"] == UNKNOWN

    files.up()
    files.calls()
    before = files.state_file.read_bytes()
    files.spec(dict(A, content="ALPHA"), dict(B, path="b2.txt"), C)
    plan = files.preview()
    assert {(s.op, s.name, s.keys, s.replaces) for s in plan.changed()} == {
        ("update", "a", ("content",), ()),
        ("replace", "b", ("content", "path"), ("path",)),
        ("create", "c", (), ()),
    }
    assert files.calls() == [] and files.state_file.read_bytes() == before
    files.spec(A)
    plan = files.preview()
    assert ops(plan) == {("delete", "b"), ("delete", "g")}
    assert files.calls() == [] and files.state_file.read_bytes() == before


def test_check_failures_fail_the_deployment_and_change_nothing(files):
    files.spec(A)
    files.up()
    files.calls()
    files.spec(dict(A, content="x" * 2000), dict(C, path="/abs.txt"))
    with pytest.raises(engine.DeploymentError) as caught:
        files.up()
    message = str(caught.value)
    assert "content: longer than 1000" in message  # the limit came from structured config
    assert files.calls() == []
    assert files.file("a.txt").read_text() == "alpha"
    with pytest.raises(engine.DeploymentError, match="longer than 1000"):
        files.preview()


def test_refresh_drops_gone_resources_and_records_drift(files):
    files.spec(A, C)
    files.up()
    files.calls()
    files.file("c.txt").unlink()
    files.file("a.txt").write_text("changed by hand")

    plan = files.preview(refresh=True)  # drift shown, nothing written
    assert ops(plan, "refresh") == {("update", "a"), ("delete", "c")}
    assert ops(plan) == {("update", "a"), ("create", "c")}
    assert next(s for s in plan.changed() if s.name == "a").keys == ("content",)
    assert files.state()["resources"][1]["inputs"]["content"] == "alpha"

    result = files.refresh()
    assert ops(result, "refresh") == {("update", "a"), ("delete", "c")}
    assert result.outputs("a")["content"] == "changed by hand"
    assert "c" not in {r.name for r in result.resources.values()}
    assert files.calls() == []
    assert "refresh: drift" in files.output and "gone" in files.output

    result = files.up()  # repairs both
    assert ops(result) == {("update", "a"), ("create", "c")}
    assert sorted(files.calls()) == ["create c.txt", "update a.txt"]
    assert files.file("a.txt").read_text() == "alpha"


def test_up_with_refresh_repairs_drift_in_one_go(files):
    files.spec(A)
    files.up()
    files.calls()
    files.file("a.txt").write_text("drifted")
    result = files.up(refresh=True)
    assert ops(result, "refresh") == {("update", "a")}
    assert ops(result) == {("update", "a")}
    assert files.file("a.txt").read_text() == "alpha"


def test_destroy_deletes_everything_dependents_first(files):
    files.spec(C, A, B)
    files.up()
    files.calls()
    result = files.destroy()
    calls = files.calls()
    assert sorted(calls) == ["delete a.txt", "delete c.txt", "delete sub/b.txt"]
    assert calls.index("delete sub/b.txt") < calls.index("delete a.txt")
    assert result.resources == {} and result.exports == {}
    assert files.state()["resources"] == [] and files.state()["exports"] == {}
    assert files.destroy().changed() == []  # nothing left


def test_a_failed_step_keeps_what_was_done_and_the_next_up_converges(files):
    files.spec(A, C)
    (files.root / "fail-create").write_text("c.txt")
    with pytest.raises(engine.DeploymentError) as caught:
        files.up()
    assert "create of" in str(caught.value) and "failed on purpose" in str(caught.value)
    assert "Traceback" not in str(caught.value)
    log = files.state_file.with_suffix(".provider.log").read_text()
    assert "create of pulumi-python:dynamic/files:TextFile 'c' failed:\nTraceback" in log
    assert {s.name for s in caught.value.result.changed()} == {"a"}
    state = files.state()
    assert [r["id"] for r in state["resources"] if r["custom"]] == ["a.txt"]
    assert state["pending_operations"] == [] and state["last_update"]["result"] == "failed"
    assert files.calls() == ["create a.txt"]

    (files.root / "fail-create").unlink()
    result = files.up()
    assert ops(result) == {("create", "c")}
    assert files.calls() == ["create c.txt"]


def test_provider_failures_in_refresh_and_destroy_keep_the_state(files):
    files.spec(A, C)
    files.up()
    files.calls()
    before = files.state()["resources"]
    (files.root / "fail-read").write_text("c.txt")
    with pytest.raises(engine.DeploymentError,
                       match="read of pulumi-python:dynamic/files:TextFile 'c': RuntimeError: "
                             "read of c.txt failed on purpose"):
        files.refresh()
    assert files.state()["resources"] == before
    (files.root / "fail-read").unlink()

    (files.root / "fail-delete").write_text("a.txt")
    with pytest.raises(engine.DeploymentError,
                       match="delete of pulumi-python:dynamic/files:TextFile 'a': RuntimeError"):
        files.destroy()
    assert files.calls() == ["delete c.txt"]  # c went first (reverse order), then a failed
    assert [r["id"] for r in files.state()["resources"] if r["custom"]] == ["a.txt"]
    (files.root / "fail-delete").unlink()
    assert files.destroy().counts() == {"delete": 1}
    assert files.state()["resources"] == []


def test_no_deletes_after_a_failed_program(files):
    files.spec(A, C)
    files.up()
    files.calls()
    files.spec(A, **{"raise": "boom in the program"})
    with pytest.raises(engine.DeploymentError) as caught:
        files.up()
    assert "ValueError: boom in the program" in str(caught.value)
    assert files.calls() == []  # c was not deleted
    assert files.file("c.txt").exists()

    files.spec(A, C, log_error="an error logged by the program")
    with pytest.raises(engine.DeploymentError, match="an error logged by the program"):
        files.up()


def test_a_crash_mid_create_leaves_a_valid_state_and_is_reported(files):
    files.spec(A, C)
    (files.root / "hang-create").write_text("c.txt")
    script = textwrap.dedent(f"""
        from dh_kfp_pulumi import engine
        engine.up({str(files.dir)!r}, "test", state_dir={str(files.state_dir)!r},
                  config_overrides={{"files:root": {str(files.root)!r}}})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # `a` is pending for a moment too, before its create returns; wait for `c`'s
            pending = files.loaded().pending_operations
            if any(op["urn"].endswith("::c") for op in pending):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the deployment never reached the create of c")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # the journal since the last state file (none: a first up), replayed
    assert files.journal_file.exists() and not files.state_file.exists()
    state = files.loaded()
    assert state.pending_operations[0]["op"] == "create"
    assert state.pending_operations[0]["urn"].endswith("::c")
    assert [r.id for r in state.resources if r.custom] == ["a.txt"]

    (files.root / "hang-create").unlink()
    files.calls()
    result = files.up()
    assert "interrupted during the create of" in files.output
    assert ops(result) == {("create", "c")}
    assert files.state()["pending_operations"] == []


def test_unsupported_resource_types_need_the_pulumi_cli(files):
    files.spec(A, {"name": "ns", "kind": "kubernetes:core/v1:Namespace"})
    with pytest.raises(engine.DeploymentError) as caught:
        files.up()
    message = str(caught.value)
    assert "kubernetes:core/v1:Namespace 'ns'" in message and "Pulumi CLI" in message


def test_protect_and_retain_on_delete(files):
    files.spec(dict(A, protect=True), dict(C, retain=True))
    files.up()
    files.calls()
    files.spec(dict(A, protect=True))
    files.up()
    assert files.calls() == []  # c left in place, only dropped from the state
    assert files.file("c.txt").exists()
    files.spec()
    with pytest.raises(engine.DeploymentError, match="protected"):
        files.up()
    assert files.file("a.txt").exists()
    files.spec(dict(A, protect=False))
    files.up()
    files.spec()
    files.up()
    assert not files.file("a.txt").exists()


def test_ignore_changes_keeps_the_old_input(files):
    files.spec(dict(A, ignore=["content"]))
    files.up()
    files.calls()
    files.spec(dict(A, content="ignored", ignore=["content"]))
    assert files.up().changed() == []
    assert files.calls() == []


def test_secrets_stay_marked_and_config_secrets_never_reach_the_state(files, capsys):
    files.spec(dict(A, secret=True))
    overrides = dict(files.overrides, **{"files:token": engine.Secret("s3cr3t-t0ken")})
    result = files.up(config_overrides=overrides)
    stored = next(r for r in files.state()["resources"] if r["urn"].endswith("::a"))
    assert stored["inputs"]["content"] == {SIG: SECRET_SIG, "value": "alpha"}
    assert stored["outputs"]["content"][SIG] == SECRET_SIG  # secret in, secret out
    assert result.outputs("a")["content"] == "alpha"
    assert result.exports["a_content"] == "alpha"
    assert files.state()["exports"]["a_content"] == {SIG: SECRET_SIG, "value": "alpha"}
    assert 'a_content: [secret]' in files.output and "alpha" not in files.output
    assert "s3cr3t-t0ken" not in files.state_file.read_text()
    assert oct(files.state_file.stat().st_mode & 0o777) == "0o600"
    assert files.up(config_overrides=overrides).changed() == []

    from dh_kfp_pulumi.cli import main

    where = ["--stack", "test", "--state-dir", str(files.state_dir), "--cwd", str(files.dir)]
    assert main(["outputs", "a_content", *where]) == 0
    assert capsys.readouterr().out == "[secret]\n"
    assert main(["outputs", "a_content", *where, "--show-secrets"]) == 0
    assert capsys.readouterr().out == "alpha\n"


def test_a_provider_defined_in_the_program_is_pickled_by_value(tmp_path):
    project = tmp_path / "inline"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: inline\nruntime: python\n")
    (project / "__main__.py").write_text(textwrap.dedent("""
        import pulumi
        from pulumi.dynamic import CreateResult, Resource, ResourceProvider

        class Counter(ResourceProvider):
            def create(self, props):
                return CreateResult(f"n-{props['n']}", {"n": props["n"], "twice": props["n"] * 2})

        class Thing(Resource):
            twice: pulumi.Output[int]
            def __init__(self, name, n):
                super().__init__(Counter(), name, {"n": n, "twice": None})

        pulumi.export("twice", Thing("t", 21).twice)
    """))
    with pytest.raises(engine.ProjectError, match="stack 'dev' does not exist"):
        engine.up(project, "dev", state_dir=tmp_path / "state")
    (project / "Pulumi.dev.yaml").write_text("")  # stackConfigDir defaults to the project
    result = engine.up(project, "dev", state_dir=tmp_path / "state")
    assert result.exports == {"twice": 42}
    # numbers cross the wire as doubles: a provider gets 21.0, as under Pulumi
    assert result.resource("t").id == "n-21.0"


def test_one_deployment_per_stack_at_a_time(files):
    files.spec(A)
    store = engine.StateStore(files.state_dir, "files", "test")
    with store.locked(), pytest.raises(engine.StateError, match="locked by another deployment"):
        files.up()


def test_config_errors(files):
    (files.dir / "stacks" / "Pulumi.enc.yaml").write_text(
        "config:\n  files:root:\n    secure: AAABAJ1x\n")
    files.spec(A)
    with pytest.raises(engine.ProjectError, match="files:root is encrypted"):
        engine.up(files.dir, "enc", state_dir=files.state_dir)
    result = engine.up(files.dir, "enc", state_dir=files.state_dir,
                       config_overrides={"files:root": engine.Secret(str(files.root))})
    assert result.counts() == {"create": 1}
    with pytest.raises(engine.ProjectError, match="no Pulumi.yaml"):
        engine.up(files.root, "test")
    with pytest.raises(engine.ProjectError, match=r"stack 'tset' does not exist.*stacks: "
                                                  r"enc, test"):
        engine.up(files.dir, "tset", state_dir=files.state_dir)
    with pytest.raises(engine.ProjectError, match="stack name"):
        engine.up(files.dir, "bad/name")


def test_cli_commands(files, capsys):
    from dh_kfp_pulumi.cli import main

    files.spec(A)
    base = [str(files.dir), "--stack", "test", "--state-dir", str(files.state_dir),
            "-c", f"files:root={files.root}"]
    assert main(["preview", *base]) == 0
    out = capsys.readouterr().out
    assert "dh-kfp offline engine" in out and "pulumi preview -s test" in out
    assert "to create" in out
    assert main(["up", *base, "--yes"]) == 0
    assert "1 created" in capsys.readouterr().out
    where = ["--stack", "test", "--state-dir", str(files.state_dir), "--cwd", str(files.dir)]
    assert main(["outputs", "greeting", *where]) == 0
    assert capsys.readouterr().out == "hello from files/test\n"
    assert main(["outputs", *where, "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"a_digest", "greeting"}
    assert main(["outputs", "nope", *where]) == 2
    assert "no output 'nope'; outputs: a_digest, greeting" in capsys.readouterr().err
    files.file("a.txt").write_text("drift")
    assert main(["preview", *base, "--refresh"]) == 0
    assert "refresh: drift" in capsys.readouterr().out
    assert main(["refresh", *base]) == 0
    assert main(["destroy", *base]) == 0
    assert "1 deleted" in capsys.readouterr().out
    files.spec(dict(A, content="x" * 2000))
    assert main(["up", *base]) == 1
    captured = capsys.readouterr()
    assert "longer than 1000" in captured.out and "failed (1 error above)" in captured.err
    assert main(["up", *base, "--secret", "files:token=NO_SUCH_VAR_XYZ"]) == 2
    assert "NO_SUCH_VAR_XYZ is not set" in capsys.readouterr().err
    assert json.loads(files.state_file.read_text())["stack"] == "test"
