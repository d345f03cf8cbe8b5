"""The parking example's `local` stack deployed by the offline engine on the embedded KFP
server (DESIGN.md, test layer 5): first up, a no-op up with zero KFP writes, a changed
function, drift seen on refresh and repaired, destroy. The tests run in order and share
one deployment."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from parking_kit import (  # noqa: E402
    Kfp,
    change_function_code,
    check_destroyed,
    check_first_deployment,
    check_schedule,
    copy_project,
)

from dh_kfp_pulumi import engine  # noqa: E402

pytestmark = pytest.mark.slow


class Stack:
    """The copied project's `local` stack, pointed at this module's server."""

    def __init__(self, project: Path, state_dir: Path, url: str):
        self.project, self.state_dir = project, state_dir
        self.overrides = {"dh-kfp:host": url}
        self.output = ""

    def __call__(self, operation: str, **kwargs) -> engine.Result:
        out = io.StringIO()
        try:
            return getattr(engine, operation)(
                self.project, "local", state_dir=self.state_dir,
                config_overrides=self.overrides, out=out, **kwargs)
        finally:
            self.output = out.getvalue()

    def state_bytes(self) -> bytes:
        return engine.state_file(self.project, "local", self.state_dir).read_bytes()


@pytest.fixture(scope="module")
def kfp(kfp_server) -> Kfp:
    return Kfp(kfp_server.url)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, kfp_server) -> Stack:
    base = tmp_path_factory.mktemp("parking")
    return Stack(copy_project(base / "project"), base / "state", kfp_server.url)


def kinds(result: engine.Result, phase: str = "deploy") -> set[tuple[str, str]]:
    return {(s.op, s.type.rsplit(":", 1)[-1]) for s in result.changed(phase)}


def test_first_up_creates_pipeline_version_schedule_and_a_run_that_succeeds(stack, kfp):
    result = stack("up")
    assert kinds(result) == {("create", "Project"), ("create", "Workflow"), ("create", "Task"),
                             ("create", "Run")}
    check_first_deployment(kfp, result.exports)
    assert "run_state: \"SUCCEEDED\"" in stack.output


def test_a_second_up_makes_no_kfp_write(stack, kfp):
    kfp.reset_writes()
    result = stack("up")
    assert result.changed() == []
    assert kfp.writes() == {}
    # nor does a fresh deployment read back as drift
    assert stack("preview", refresh=True).changed("refresh") == []


def test_changed_function_code_makes_one_new_version_and_moves_the_schedule(stack, kfp):
    before = stack("preview").exports
    change_function_code(stack.project)
    plan = stack("preview")
    assert ("update", "Workflow") in kinds(plan)

    result = stack("up")
    exports = result.exports
    assert exports["version_id"] != before["version_id"]
    assert exports["pipeline_id"] == before["pipeline_id"]
    versions = kfp.versions(exports["pipeline_id"])
    assert sorted(v.pipeline_version_id for v in versions) == sorted(
        [before["version_id"], exports["version_id"]])  # exactly one new, the old one kept
    workflow = next(s for s in result.steps if s.type.endswith(":Workflow"))
    assert workflow.op == "update" and "spec_hash" in workflow.keys
    check_schedule(kfp, exports)  # the one enabled schedule is on the new version
    run = next(s for s in result.steps if s.type.endswith(":Run"))
    assert run.op == "replace"  # runs are immutable: a new version means a new run
    assert kfp.run(exports["run_id"]).state == "SUCCEEDED"


def test_drift_shows_on_refresh_and_the_next_up_repairs_it(stack, kfp):
    exports = stack("preview").exports
    kfp.delete_recurring_run(exports["schedule_id"])
    kfp.delete_version(exports["pipeline_id"], exports["version_id"])
    state = stack.state_bytes()

    kfp.reset_writes()
    plan = stack("preview", refresh=True)
    assert kinds(plan, "refresh") == {("update", "Workflow"), ("delete", "Task")}
    assert ("update", "Workflow") in kinds(plan) and ("create", "Task") in kinds(plan)
    workflow = next(s for s in plan.changed() if s.type.endswith(":Workflow"))
    assert "spec_hash" in workflow.keys
    assert "refresh: drift" in stack.output and "gone" in stack.output
    assert kfp.writes() == {} and stack.state_bytes() == state  # a preview changes nothing

    refreshed = stack("refresh")
    assert kinds(refreshed, "refresh") == {("update", "Workflow"), ("delete", "Task")}
    assert kfp.writes() == {}

    result = stack("up")
    assert ("update", "Workflow") in kinds(result) and ("create", "Task") in kinds(result)
    restored = result.exports
    versions = {v.pipeline_version_id: v.display_name for v in kfp.versions(
        restored["pipeline_id"])}
    assert restored["version_id"] in versions
    assert restored["spec_hash"].startswith(versions[restored["version_id"]])
    check_schedule(kfp, restored)
    assert stack("up").changed() == []  # converged


def test_destroy_leaves_no_pipeline_version_or_schedule(stack, kfp):
    exports = stack("preview").exports
    result = stack("destroy")
    assert {s.op for s in result.changed()} == {"delete"}
    check_destroyed(kfp)
    assert result.resources == {}
    # runs stay in KFP's history (the Run resource keeps them unless delete_on_destroy)
    assert kfp.run(exports["run_id"]).state == "SUCCEEDED"
