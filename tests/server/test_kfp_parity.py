"""Where the embedded server once departed from KFP's own API server (tag 2.17.0), it now
answers as KFP does. Each test names the KFP code it follows (backend/src/apiserver/...).
Runs are held PENDING here; retrying a run that executed is in test_runs.py.
"""

import json
import urllib.parse
from pathlib import Path

from dh_kfp_pulumi.server import filters, wire

SERVER_SETTINGS = {"max_concurrent_runs": 0}
API = "/apis/v2beta1"


def _details(body):
    return body["details"][0]["message"]


def _recurring(experiment_id, version_ref, **fields):
    body = {"display_name": "parity-sched", "max_concurrency": 1, "mode": "DISABLE",
            "experiment_id": experiment_id, "pipeline_version_reference": version_ref,
            "trigger": {"cron_schedule": {"cron": "0 0 2 * * *"}}}
    body.update(fields)
    return body


def _pipeline_with_version(client, pipelines, name):
    pipe = client.upload_pipeline(pipelines["two_step"], pipeline_name=name)
    version = client.list_pipeline_versions(pipe.pipeline_id).pipeline_versions[0]
    return pipe, {"pipeline_id": pipe.pipeline_id,
                  "pipeline_version_id": version.pipeline_version_id}


def test_the_default_experiment_cannot_be_deleted(client, server, kit):
    """resource_manager.go DeleteExperiment: NewBadRequestError (codes.Aborted -> 409)."""
    default = client.get_experiment(experiment_name="Default")
    url = f"{server.url}{API}/experiments/{default.experiment_id}"
    status, body, _ = kit.http("DELETE", url)
    assert (status, body["code"]) == (409, 10), body
    assert _details(body) == (f"Failed to delete experiment {default.experiment_id}. The "
                              "default experiment cannot be deleted")
    kit.validate_response("DELETE", f"{API}/experiments/{default.experiment_id}", status,
                          json.dumps(body))
    assert client.get_experiment(experiment_id=default.experiment_id).display_name == "Default"
    # Any other experiment is deleted as before.
    other = client.create_experiment("parity-deletable")
    assert kit.http("DELETE", f"{server.url}{API}/experiments/{other.experiment_id}")[0] == 200


def test_deleting_an_experiment_leaves_its_recurring_runs_and_runs(client, server, kit,
                                                                   pipelines):
    """experiment_store.go DeleteExperiment deletes the experiment row and its run references
    only: recurring runs and runs keep their experiment id."""
    exp = client.create_experiment("parity-doomed")
    _, ref = _pipeline_with_version(client, pipelines, "parity-doomed-pipe")
    status, rec, _ = kit.http("POST", f"{server.url}{API}/recurringruns",
                              _recurring(exp.experiment_id, ref, mode="ENABLE"))
    assert status == 200, rec
    run = client.run_pipeline(exp.experiment_id, "parity-doomed-run", pipelines["two_step"])
    client.delete_experiment(exp.experiment_id)

    kept = client.get_recurring_run(rec["recurring_run_id"])
    assert (kept.experiment_id, kept.mode, kept.status) == (exp.experiment_id, "ENABLE",
                                                            "ENABLED")
    again = client.get_run(run.run_id)
    assert (again.experiment_id, again.state) == (exp.experiment_id, "PENDING")


def test_a_page_token_with_another_filter_or_sort_is_refused(client, server, kit):
    """list_request_util.go validatedListOptions: with a token, sort_by and filter must be
    empty or the token's own (list.Options.Matches), else InvalidArgument."""
    for suffix in "abc":
        client.create_experiment(f"parity-page-{suffix}")
    flt = json.dumps({"predicates": [{"operation": "IS_SUBSTRING", "key": "display_name",
                                      "string_value": "parity-page-"}]})
    url = f"{server.url}{API}/experiments"

    def get(**query):
        return kit.http("GET", f"{url}?{urllib.parse.urlencode(query)}")

    status, first, _ = get(page_size=1, filter=flt)
    assert status == 200 and first["total_size"] == 3
    token = first["next_page_token"]
    # The same criteria, spelled otherwise (numeric operation, camelCase value key, the
    # default sort named), are the token's own.
    same = json.dumps({"predicates": [{"operation": 9, "key": "display_name",
                                       "stringValue": "parity-page-"}]})
    for query in ({}, {"filter": flt}, {"filter": same, "sort_by": "created_at asc"}):
        status, page, _ = get(page_size=1, page_token=token, **query)
        assert status == 200, (query, page)
        assert [e["display_name"] for e in page["experiments"]] == ["parity-page-b"]
    other = json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name",
                                        "string_value": "parity-page-c"}]})
    for query in ({"sort_by": "name desc"}, {"filter": other},
                  {"filter": flt, "sort_by": "created_at desc"}):
        status, body, _ = get(page_size=1, page_token=token, **query)
        assert (status, body["code"]) == (400, 3), (query, body)
        assert _details(body) == filters.TOKEN_MISMATCH
        kit.validate_response("GET", f"{API}/experiments", status, json.dumps(body))


def test_upload_version_to_a_deleted_pipeline_is_400(client, server, kit, pipelines):
    """pipeline_upload_server.go UploadPipelineVersion: the pipeline's namespace is fetched
    first and any failure answers 400 "Failed to create a pipeline version"."""
    pipe, ref = _pipeline_with_version(client, pipelines, "parity-gone-pipe")
    client.delete_pipeline_version(pipe.pipeline_id, ref["pipeline_version_id"])
    client.delete_pipeline(pipe.pipeline_id)
    data = Path(pipelines["two_step"]).read_bytes()
    boundary = "parityboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"uploadfile\"; "
            "filename=\"p.yaml\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    status, answer, _ = kit.http(
        "POST", f"{server.url}{API}/pipelines/upload_version?name=v2&pipelineid={pipe.pipeline_id}",
        data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 400, answer
    assert answer["error_message"] == "Failed to create a pipeline version"
    assert f"Pipeline {pipe.pipeline_id} not found" in answer["error_details"]


def test_terminating_a_finished_run_is_invalid_argument(client, server, kit, pipelines):
    """run_store.go TerminateRun: no row in a terminable state -> NewInvalidInputError
    (code 3, HTTP 400), not FailedPrecondition."""
    run = client.run_pipeline(None, "parity-terminated", pipelines["two_step"])
    client.terminate_run(run.run_id)
    kit.wait_state(client, run.run_id, {"CANCELED"})
    status, body, _ = kit.http("POST", f"{server.url}{API}/runs/{run.run_id}:terminate")
    assert (status, body["code"]) == (400, 3), body
    assert body["details"][0]["code"] == 3
    assert _details(body) == f"Failed to terminate a run {run.run_id}. Row not found"


def test_an_empty_recurring_run_name_is_an_internal_error(client, server, kit, pipelines):
    """api_converter.go toModelJob: an empty display_name is NewInternalServerError (code 13,
    HTTP 500, "Internal Server Error"); a blank one is a name like any other."""
    exp = client.create_experiment("parity-names")
    _, ref = _pipeline_with_version(client, pipelines, "parity-names-pipe")
    url = f"{server.url}{API}/recurringruns"
    status, body, _ = kit.http("POST", url, _recurring(exp.experiment_id, ref, display_name=""))
    assert (status, body["code"]) == (500, 13), body
    assert _details(body) == "Internal Server Error"
    assert "Recurring run's name cannot be empty" in body["message"]
    assert client.list_recurring_runs(experiment_id=exp.experiment_id).total_size in (0, None)
    status, body, _ = kit.http("POST", url, _recurring(exp.experiment_id, ref, display_name=" "))
    assert status == 200 and body["display_name"] == " "


def test_only_an_empty_run_name_is_refused(client, server, kit, pipelines):
    """run_server.go createRun: DisplayName == "" is invalid input; a blank name is a name."""
    pipe, ref = _pipeline_with_version(client, pipelines, "parity-run-names")
    url = f"{server.url}{API}/runs"
    status, body, _ = kit.http("POST", url, {"display_name": "", "pipeline_version_reference": ref})
    assert (status, body["code"]) == (400, 3), body
    assert _details(body) == "The run name is empty. Please specify a valid name"
    status, body, _ = kit.http("POST", url, {"display_name": " ", "pipeline_version_reference": ref})
    assert status == 200 and body["display_name"] == " "


def test_json_pipeline_create_takes_display_name_as_name(server, kit):
    """api_converter.go toModelPipeline: name defaults to display_name and display_name to
    name; pipeline_server.go createPipeline refuses only when both are empty."""
    url = f"{server.url}{API}/pipelines"
    status, pipe, _ = kit.http("POST", url, {"display_name": "parity-display-only"})
    assert status == 200 and (pipe["name"], pipe["display_name"]) == ("parity-display-only",) * 2
    status, pipe, _ = kit.http("POST", url, {"name": "parity-name-only"})
    assert status == 200 and (pipe["name"], pipe["display_name"]) == ("parity-name-only",) * 2
    status, body, _ = kit.http("POST", url, {"description": "no name at all"})
    assert (status, body["code"], _details(body)) == (400, 3, "name is required"), body


def test_end_time_before_start_time_is_accepted(client, server, kit, pipelines):
    """api_converter.go toModelTrigger copies both times; nothing compares them."""
    exp = client.create_experiment("parity-window")
    _, ref = _pipeline_with_version(client, pipelines, "parity-window-pipe")
    trigger = {"periodic_schedule": {"interval_second": 60, "start_time": "2031-01-01T00:00:00Z",
                                     "end_time": "2030-01-01T00:00:00Z"}}
    status, rec, _ = kit.http("POST", f"{server.url}{API}/recurringruns",
                              _recurring(exp.experiment_id, ref, trigger=trigger))
    assert status == 200, rec
    window = rec["trigger"]["periodic_schedule"]
    assert (window["start_time"], window["end_time"]) == ("2031-01-01T00:00:00Z",
                                                          "2030-01-01T00:00:00Z")


def test_task_details_name_child_tasks_by_pod_name_and_set_no_pod_name():
    """api_converter.go toApiPipelineTaskDetail: ChildTasks from the task's children pods
    (ChildTask.pod_name); the task's own pod_name is never set."""
    def row(task_id, parent=""):
        return {"run_id": "r", "task_id": task_id, "name": f"step-{task_id}",
                "display_name": f"step-{task_id}", "create_time": 1, "start_time": 1,
                "end_time": 2, "state": "SUCCEEDED", "seq": 1, "error": "",
                "parent_task_id": parent, "state_history": "[]", "outputs": "{}"}

    tasks = [row("dag"), row("a", "dag"), row("b", "dag"), row("c", "a")]
    shown = {t["task_id"]: wire.task(t, [], tasks) for t in tasks}
    assert shown["dag"]["child_tasks"] == [{"pod_name": "a"}, {"pod_name": "b"}]
    assert shown["a"]["child_tasks"] == [{"pod_name": "c"}]
    assert "child_tasks" not in shown["b"] and "child_tasks" not in shown["c"]
    assert not any("pod_name" in t for t in shown.values())
