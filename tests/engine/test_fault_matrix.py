"""The fault matrix (issue 11, item 5): a fault at every KFP call site of `up` and of
`destroy`, injected by the embedded server (DH_KFP_SERVER_FAULTS=1). A write answered and
then lost (the connection dropped after commit), a read failing past its retries: the
deployment may fail, and the next one must converge with no duplicate and no orphan."""

from __future__ import annotations

import io
import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kfp_kit import VENV_BIN, kfp_client  # noqa: E402
from pulumi_cli_kit import write_project  # noqa: E402

from dh_kfp_pulumi import engine  # noqa: E402
from dh_kfp_pulumi.server import lifecycle  # noqa: E402

pytestmark = pytest.mark.slow

BODY = ("wf = project.new_workflow(name='wf', kind='kfp', code_src='pipeline.py', "
        "handler='pipe')\n"
        "wf.run(action='pipeline', name='nightly', schedule='5 4 * * *')\n"
        "wf.run(action='pipeline', name='once', inputs={'x': 2})\n")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
REPORT = Path(__file__).resolve().parents[2] / "test-artifacts" / "fault-matrix"


def report(name: str, rows: list[dict]) -> None:
    """The faults injected and what became of each, for the closing note's figures."""
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / f"{name}.json").write_text(json.dumps(rows, indent=1))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    old = dict(os.environ)
    os.environ["DH_KFP_SERVER_FAULTS"] = "1"
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{old.get('PATH', '')}"
    data = tmp_path_factory.mktemp("faults-kfp")
    try:
        info = lifecycle.start(data)
        yield info.url
    finally:
        lifecycle.stop(data)
        os.environ.clear()
        os.environ.update(old)


def faults(url: str, method: str = "GET", items: list | None = None) -> dict:
    body = json.dumps({"faults": items or []}).encode() if method == "POST" else None
    request = urllib.request.Request(f"{url}/dh-kfp/v1/faults", data=body, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


class Stack:
    def __init__(self, base: Path, name: str, url: str):
        self.name, self.url = name, url
        self.project = write_project(base / name, BODY, name=name)
        (self.project / "Pulumi.local.yaml").write_text("config: {}\n")
        self.state = base / f"{name}-state"

    def __call__(self, operation: str) -> bool:
        try:
            getattr(engine, operation)(self.project, "local", state_dir=self.state,
                                       out=io.StringIO(),
                                       config_overrides={"dh-kfp:host": self.url})
            return True
        except Exception:  # noqa: BLE001 - a fault may fail the operation; the re-run judges
            return False

    def held(self) -> dict[str, list]:
        """What KFP holds of this stack's, by kind."""
        client = kfp_client(self.url)
        pipes = [p for p in client.list_pipelines(page_size=200).pipelines or []
                 if p.display_name == f"{self.name}-wf"]
        versions = [v for p in pipes for v in
                    client.list_pipeline_versions(p.pipeline_id, page_size=200)
                    .pipeline_versions or []]
        schedules = [r for r in client.list_recurring_runs(page_size=200).recurring_runs or []
                     if r.display_name.startswith(f"{self.name}-")]
        runs = [r for r in client.list_runs(page_size=200).runs or []
                if r.display_name == f"{self.name}-wf-once"]
        return {"pipelines": pipes, "versions": versions, "schedules": schedules, "runs": runs}


def converged(stack: Stack) -> None:
    held = stack.held()
    assert len(held["pipelines"]) == 1, held["pipelines"]
    assert len(held["versions"]) == 1, [v.display_name for v in held["versions"]]
    assert [r.status for r in held["schedules"]] == ["ENABLED"], \
        [(r.display_name, r.status) for r in held["schedules"]]
    assert len(held["runs"]) == 1, [r.run_id for r in held["runs"]]


def call_sites(url: str, stack: Stack, operation: str) -> list[tuple[str, int]]:
    """(route, occurrence) of every KFP call a clean `operation` makes."""
    faults(url, "POST", [])
    assert stack(operation)
    seen: dict[str, int] = {}
    sites = []
    for route in faults(url)["calls"]:
        seen[route] = seen.get(route, 0) + 1
        sites.append((route, seen[route]))
    return sites


def fault_for(route: str, nth: int) -> dict:
    if route.split(" ", 1)[0] in WRITES:
        return {"route": route, "nth": nth, "after_commit": True}  # done, answer lost
    return {"route": route, "nth": nth, "status": 503, "times": 10}  # past every retry


def test_a_fault_at_every_call_site_of_up_then_the_next_up_converges(server, tmp_path):
    sites = call_sites(server, Stack(tmp_path, "fmref", server), "up")
    assert len(sites) >= 8, sites
    failed, rows = 0, []
    for i, (route, nth) in enumerate(sites):
        stack = Stack(tmp_path, f"fmu{i}", server)
        faults(server, "POST", [fault_for(route, nth)])
        first = stack("up")
        failed += not first
        faults(server, "DELETE")
        assert stack("up"), (route, nth)
        converged(stack)
        before = [r for r in faults(server)["calls"] if r.split(" ", 1)[0] in WRITES]
        assert stack("up") and [r for r in faults(server)["calls"]
                                if r.split(" ", 1)[0] in WRITES] == before, (route, nth)
        rows.append({**fault_for(route, nth), "first_up_ok": first, "converged": True})
    report("up", rows)
    assert failed >= len(sites) // 2  # the faults did bite


def test_a_fault_at_every_call_site_of_destroy_then_the_next_destroy_leaves_nothing(
        server, tmp_path):
    reference = Stack(tmp_path, "fmdref", server)
    assert reference("up")
    sites = call_sites(server, reference, "destroy")
    assert len(sites) >= 3, sites
    rows = []
    for i, (route, nth) in enumerate(sites):
        stack = Stack(tmp_path, f"fmd{i}", server)
        faults(server, "DELETE")
        assert stack("up")
        faults(server, "POST", [fault_for(route, nth)])
        first = stack("destroy")
        faults(server, "DELETE")
        assert stack("destroy"), (route, nth)
        held = stack.held()
        assert held["pipelines"] == [] and held["schedules"] == [], (route, nth, held)
        rows.append({**fault_for(route, nth), "first_destroy_ok": first, "converged": True})
    report("destroy", rows)


def test_a_read_answered_503_once_is_retried_transparently(server, tmp_path):
    stack = Stack(tmp_path, "fmretry", server)
    faults(server, "POST", [{"route": "GET /apis/v2beta1/pipelines", "nth": 1, "status": 503}])
    assert stack("up")  # urllib3 retried the list; nothing failed
    calls = faults(server)["calls"]
    assert calls.count("GET /apis/v2beta1/pipelines") >= 2
    faults(server, "DELETE")
    converged(stack)


def test_a_create_is_never_retried_blindly(server, tmp_path):
    stack = Stack(tmp_path, "fmcreate", server)
    faults(server, "POST", [{"route": "POST /apis/v2beta1/recurringruns", "nth": 1,
                             "status": 503}])
    assert not stack("up")  # a 503 on a create fails the step: no blind repeat
    assert faults(server)["calls"].count("POST /apis/v2beta1/recurringruns") == 1
    faults(server, "DELETE")
    assert stack("up")
    converged(stack)
