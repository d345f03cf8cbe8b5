"""RestBackend's reads (plain HTTP, no kfp import) equal Backend's (kfp.Client) on the
embedded KFP server: results, lists over many pages, and errors word for word."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from kfp_kit import answer_json

sys.path.insert(0, str(Path(__file__).parents[1] / "reconcile"))

from reconcile_kit import workflow_props  # noqa: E402

from dh_kfp_pulumi.backends import ApiError, Backend, BackendConfig, client, convert  # noqa: E402
from dh_kfp_pulumi.backends import rest as rest_module  # noqa: E402
from dh_kfp_pulumi.backends.rest import RestBackend  # noqa: E402
from dh_kfp_pulumi.build import build_workflow  # noqa: E402
from dh_kfp_pulumi.reconcile.common import get_or_none  # noqa: E402
from dh_kfp_pulumi.specs import parse_function, parse_workflow  # noqa: E402

FAILER = """\
def add(x, word):
    raise ValueError("no sum for " + word)
"""


def compiled(code=None, name="wf"):
    props = workflow_props(name=name) if code is None else workflow_props(name=name, code=code)
    wf = parse_workflow({k: v for k, v in props.items() if k != "functions"})
    fns = [parse_function({**f, "project": "demo"}) for f in props["functions"]]
    return build_workflow(wf, fns, default_image="python:3.11-slim")


@pytest.fixture(scope="module")
def world(kfp_server):
    """Objects of every kind, made through RestBackend (its writes are Backend's)."""
    config = BackendConfig(host=kfp_server.url)
    rest, kfp = RestBackend(config), Backend(config)
    pipe = rest.create_pipeline("rest-pipe", "two versions")
    v1 = rest.upload_version(pipe.id, "v1", compiled().yaml, "first")
    v2 = rest.upload_version(pipe.id, "v2", compiled(name="wf2").yaml)
    fail_pipe = rest.create_pipeline("rest-fail")
    fail_version = rest.upload_version(fail_pipe.id, "v1", compiled(FAILER).yaml)
    rest.create_pipeline("rest-empty")
    exp = rest.ensure_experiment("rest-exp", "parity")
    common = {"experiment_id": exp.id, "pipeline_id": pipe.id, "version_id": v1.id}
    ok = rest.create_run(name="rest-ok", parameters={"x": 2, "word": "w"}, **common)
    bad = rest.create_run(
        experiment_id=exp.id, name="rest-bad", pipeline_id=fail_pipe.id,
        version_id=fail_version.id, parameters={"x": 1, "word": "w"},
    )  # fmt: skip
    assert rest.wait_run(ok.id, timeout=120).state == "SUCCEEDED"
    assert rest.wait_run(bad.id, timeout=120).state == "FAILED"
    on = rest.create_recurring_run(
        name="rest-on", cron="0 0 3 * * *", start_time="2030-01-01T00:00:00Z",
        parameters={"x": 1, "word": "a"}, **common,
    )  # fmt: skip
    off = rest.create_recurring_run(
        name="rest-off", cron="0 5 4 * * *", enabled=False, max_concurrency=2,
        no_catchup=True, end_time="2031-06-01T12:30:00Z", description="d", **common,
    )  # fmt: skip
    return SimpleNamespace(rest=rest, kfp=kfp, pipe=pipe, versions=[v1, v2], exp=exp,
                           runs=[ok, bad], recurring=[on, off], url=kfp_server.url)


def same(world, method, *args, **kwargs):
    """Both backends' answer to one read, asserted equal; that answer."""
    mine = getattr(world.rest, method)(*args, **kwargs)
    theirs = getattr(world.kfp, method)(*args, **kwargs)
    assert mine == theirs, f"{method}{args}{kwargs}"
    return mine


def test_health_pipelines_and_experiments_match(world):
    assert same(world, "healthz")["multi_user"] is False
    assert same(world, "get_pipeline", world.pipe.id) == world.pipe
    assert {p.display_name for p in same(world, "list_pipelines")} >= {"rest-pipe", "rest-fail"}
    assert same(world, "list_pipelines", filter=convert.name_filter("rest-pipe")) == [world.pipe]
    assert same(world, "find_pipeline", "rest-pipe") == world.pipe
    assert same(world, "find_pipeline", "rest-pip") is None
    assert same(world, "find_experiment", "rest-exp") == world.exp
    assert same(world, "find_experiment", "Default") is not None
    assert same(world, "find_experiment", "no-such-experiment") is None


def test_versions_match_spec_included(world):
    for version in world.versions:
        mine = same(world, "get_version", world.pipe.id, version.id)
        theirs = world.kfp.get_version(world.pipe.id, version.id)
        assert isinstance(mine.spec, dict) and mine.spec == theirs.spec  # spec: compare=False
        assert mine.description == version.description and mine.created_at.endswith("Z")
    listed = same(world, "list_versions", world.pipe.id)
    assert [v.name for v in listed] == ["v1", "v2"] and all(v.spec is None for v in listed)
    assert same(world, "list_versions", world.pipe.id, convert.name_filter("v2")) == [
        world.versions[1]]
    assert same(world, "find_version", world.pipe.id, "v1").id == world.versions[0].id


def test_runs_match_finished_and_failed(world):
    ok, bad = world.runs
    done = same(world, "get_run", ok.id)
    assert done.state == "SUCCEEDED" and done.finished_at.endswith("Z") and done.steps
    assert done.parameters == {"x": 2, "word": "w"}
    failed = same(world, "get_run", bad.id)
    assert failed.state == "FAILED" and "no sum for w" in failed.failure_message()
    assert len(same(world, "list_runs")) >= 2
    assert {r.id for r in same(world, "list_runs", experiment_id=world.exp.id)} == {ok.id, bad.id}
    newest = same(world, "list_runs", experiment_id=world.exp.id, sort_by="created_at desc")
    assert [r.id for r in newest] == [bad.id, ok.id]
    assert same(world, "list_runs", filter=convert.name_filter("rest-bad")) == [failed]
    assert [r.id for r in same(world, "find_runs", "rest-ok", world.exp.id)] == [ok.id]
    assert same(world, "active_runs_of", world.recurring[0].id) == []


def test_recurring_runs_match_enabled_and_disabled(world):
    on, off = world.recurring
    live_on = same(world, "get_recurring_run", on.id)
    assert live_on.enabled and live_on.start_time == "2030-01-01T00:00:00Z"
    live_off = same(world, "get_recurring_run", off.id)
    assert not live_off.enabled and live_off.max_concurrency == 2 and live_off.no_catchup
    assert live_off.end_time == "2031-06-01T12:30:00Z" and live_off.cron == "0 5 4 * * *"
    assert same(world, "list_recurring_runs", experiment_id=world.exp.id) == [live_on, live_off]
    assert same(world, "list_recurring_runs") == [live_on, live_off]
    assert same(world, "list_recurring_runs", filter=convert.name_filter("rest-off")) == [
        live_off]
    assert same(world, "find_recurring_runs", "rest-on", world.exp.id) == [live_on]


def test_lists_read_every_page(world, monkeypatch):
    monkeypatch.setattr(client, "_PAGE_SIZE", 1)  # both backends read it at call time
    before = world_requests(world, "GET /apis/v2beta1/pipelines")
    assert len(same(world, "list_pipelines")) >= 3
    # one page per pipeline (and the last, empty-tokened one), for each backend
    assert world_requests(world, "GET /apis/v2beta1/pipelines") - before >= 6
    assert len(same(world, "list_versions", world.pipe.id)) == 2
    assert len(same(world, "list_runs", experiment_id=world.exp.id)) == 2
    assert len(same(world, "list_recurring_runs", experiment_id=world.exp.id)) == 2
    assert same(world, "find_experiment", "rest-exp") == world.exp


def world_requests(world, what):
    from kfp_kit import stats

    return stats(world.url)["requests"].get(what, 0)


def failure(call, *args):
    try:
        call(*args)
    except ApiError as exc:
        return str(exc), exc.status, exc.operation, exc.not_found
    raise AssertionError(f"{call} did not fail")


def test_not_found_is_the_same_error(world):
    reads = [("get_pipeline", ("no-such-id",)),
             ("get_version", (world.pipe.id, "no-such-id")),
             ("get_run", ("no-such-id",)),
             ("get_recurring_run", ("no-such-id",))]
    for method, args in reads:
        mine = failure(getattr(world.rest, method), *args)
        assert mine == failure(getattr(world.kfp, method), *args)
        assert mine[1] == 404 and mine[3] and "HTTP 404" in mine[0]
        assert get_or_none(getattr(world.rest, method), *args) is None
        assert get_or_none(getattr(world.kfp, method), *args) is None
    # the versions of a pipeline that is not there: whatever KFP says, both say it
    assert same(world, "list_versions", "no-such-id") == []


def test_unreachable_host_is_the_same_message():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = BackendConfig(host=f"http://127.0.0.1:{port}", request_timeout=5)
    mine = failure(RestBackend(config).get_pipeline, "p")
    theirs = failure(Backend(config).get_pipeline, "p")
    assert mine[1:] == (0, "health check", False)
    addresses = re.compile(r"0x[0-9a-f]+")
    assert addresses.sub("0x", mine[0]) == addresses.sub("0x", theirs[0])
    assert mine[0].startswith(f"KFP health check failed: cannot reach http://127.0.0.1:{port}:")


@pytest.fixture
def tiny_kfp():
    """A stand-in KFP on loopback that records each request's headers."""
    seen: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append((self.path, dict(self.headers)))
            if self.path.endswith("/healthz"):
                status, body = 200, {"multi_user": False, "pipeline_store": "database"}
            elif self.path.endswith("/pipelines/p1"):
                status, body = 200, {"pipeline_id": "p1", "display_name": "one",
                                     "created_at": "2026-01-02T03:04:05.250Z"}
            else:  # an echo of the token, as a careless proxy might
                auth = self.headers.get("Authorization", "")
                status, body = 404, {"code": 5, "details": [
                    {"message": f"nothing here for {auth}"}]}
            answer_json(self, status, body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_token_goes_as_bearer_and_never_into_messages(tiny_kfp):
    url, seen = tiny_kfp
    backend = RestBackend(BackendConfig(host=url, token="s3cret-token"))
    got = backend.get_pipeline("p1")
    assert got.display_name == "one" and got.created_at == "2026-01-02T03:04:05.25Z"
    assert [path for path, _ in seen] == ["/apis/v2beta1/healthz", "/apis/v2beta1/pipelines/p1"]
    assert all(headers["Authorization"] == "Bearer s3cret-token" for _, headers in seen)
    with pytest.raises(ApiError) as info:
        backend.get_run("r/1")
    assert seen[-1][0] == "/apis/v2beta1/runs/r%2F1"  # ids are quoted whole, as kfp does
    assert str(info.value) == "KFP get run r/1 failed (HTTP 404): nothing here for Bearer ***"
    assert info.value.not_found

    seen.clear()
    RestBackend(BackendConfig(host=url)).get_pipeline("p1")
    assert all("Authorization" not in headers for _, headers in seen)


def test_sessions_are_shared_per_settings():
    rest_module.forget_sessions()
    first = rest_module.session("http://kfp.invalid", None, True, 60.0)
    assert rest_module.session("http://kfp.invalid", None, True, 60.0) is first
    insecure = rest_module.session("http://kfp.invalid", None, False, 60.0)
    assert insecure is not first
    assert insecure.pool.connection_pool_kw["cert_reqs"] == "CERT_NONE"
    assert first.pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
    assert (first.timeout.connect_timeout, first.timeout.read_timeout) == (60.0, 60.0)
    assert "Authorization" not in first.headers


def test_a_kfp_that_never_answers_times_out_in_both():
    """`request_timeout` holds: kfp_server_api ignores a float timeout (only an int or a
    (connect, read) pair counts), so Backend used to wait forever on a silent KFP."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepts connections, never answers
        config = BackendConfig(host=f"http://127.0.0.1:{listener.getsockname()[1]}",
                               request_timeout=0.5)  # fmt: skip
        for backend in (RestBackend(config), Backend(config)):
            started = time.monotonic()
            error = failure(backend.get_pipeline, "p")
            assert error[1:3] == (0, "health check"), error
            assert "timed out" in error[0].lower(), error
            # connect's retry policy retries a read timeout twice (3 tries, with backoff)
            assert time.monotonic() - started < 10


def test_json_views_convert_as_kfp_server_api_models():
    """The same JSON through kfp_server_api's deserializer and through a View: equal
    results, for the forms a real KFP sends (int64 as strings, fractions, offsets, unset
    times, a periodic schedule, nested task details)."""
    import kfp_server_api

    run = {"run_id": "r", "display_name": "n", "state": "FAILED",
           "created_at": "2026-01-02T03:04:05.123456789Z", "finished_at": "1970-01-01T00:00:00Z",
           "pipeline_version_reference": {"pipeline_id": "p", "pipeline_version_id": "v"},
           "runtime_config": {"parameters": {"x": 1, "d": {"k": [1, 2]}}},
           "error": {"message": "boom"},
           "run_details": {"pipeline_context_id": "12", "task_details": [
               {"task_id": "1", "display_name": "root", "state": "FAILED",
                "child_tasks": [{"pod_name": "a"}]},
               {"task_id": "2", "display_name": "step", "state": "FAILED", "parent_task_id": "1",
                "error": {"message": "bad"}, "create_time": "2026-01-02T03:04:06+02:00"}]}}
    recurring = {"recurring_run_id": "rr", "display_name": "n", "max_concurrency": "3",
                 "trigger": {"periodic_schedule": {"interval_second": "3600",
                                                   "start_time": "2026-01-02T03:04:05.5+01:00"}},
                 "status": "ENABLED", "created_at": "2026-01-02T03:04:05Z",
                 "updated_at": "2026-01-02T03:04:05.1Z", "pipeline_version_id": "v"}
    version = {"pipeline_version_id": "v", "pipeline_id": "p", "name": "n",
               "pipeline_spec": {"pipelineInfo": {"name": "x"}, "root": {"dag": {}}}}
    api = kfp_server_api.ApiClient()

    def model(data, kind):
        return api.deserialize(SimpleNamespace(data=json.dumps(data)), kind)

    view = rest_module.View
    assert convert.run(view(run)) == convert.run(model(run, "V2beta1Run"))
    assert convert.recurring_run(view(recurring)) == convert.recurring_run(
        model(recurring, "V2beta1RecurringRun"))
    mine = convert.version(view(version), with_spec=True)
    assert mine.spec == convert.version(model(version, "V2beta1PipelineVersion"), True).spec
    listed = {"recurringRuns": [recurring], "next_page_token": "t"}
    page = model(listed, "V2beta1ListRecurringRunsResponse")
    assert [convert.recurring_run(r) for r in view(listed).recurring_runs] == [
        convert.recurring_run(r) for r in page.recurring_runs]


def test_reads_never_import_kfp(world):
    """The plugin's reads, in a fresh process: no kfp, kfp_server_api or kubernetes."""
    code = f"""
import sys
from dh_kfp_pulumi.backends import BackendConfig
from dh_kfp_pulumi.backends.rest import RestBackend
backend = RestBackend(BackendConfig(host={world.url!r}))
backend.get_pipeline({world.pipe.id!r})
backend.get_version({world.pipe.id!r}, {world.versions[0].id!r})
backend.get_run({world.runs[0].id!r})
backend.list_recurring_runs()
assert backend.find_experiment("rest-exp") is not None
print(sorted(m for m in sys.modules if m.split(".")[0] in ("kfp", "kfp_server_api", "kubernetes")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
