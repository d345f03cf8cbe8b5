"""Bad requests get KFP's 4xx answers, in KFP's error shapes, and change nothing."""

import json
import urllib.parse
import uuid
from pathlib import Path

import jsonschema
import kfp_server_api
import pytest
import yaml

SERVER_SETTINGS = {"max_concurrent_runs": 0}
API = "/apis/v2beta1"


def _multipart(filename: str, data: bytes, field: str = "uploadfile") -> tuple[bytes, dict]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.fixture
def snapshot(server, kit):
    """Counts of every kind of object, to prove a refused request changed nothing."""
    def take():
        out = {}
        for path, key in (("experiments", "experiments"), ("pipelines", "pipelines"),
                          ("runs", "runs"), ("recurringruns", "recurringRuns")):
            status, body, _ = kit.http("GET", f"{server.url}{API}/{path}?page_size=200")
            assert status == 200
            out[path] = sorted(json.dumps(item, sort_keys=True) for item in body.get(key, []))
        return out
    return take


def _check(kit, method, path, status, body):
    kit.validate_response(method, urllib.parse.urlparse(path).path, status, json.dumps(body))


def test_unknown_routes_and_methods(server, kit):
    status, body, ctype = kit.http("GET", f"{server.url}{API}/nothing-here")
    assert (status, body) == (404, {"code": 5, "message": "Not Found"})
    assert ctype.startswith("application/json")
    status, body, _ = kit.http("GET", f"{server.url}/not/kfp/at/all")
    assert (status, body) == (404, {"code": 5, "message": "Not Found"})
    status, body, _ = kit.http("PUT", f"{server.url}{API}/experiments")
    assert (status, body) == (501, {"code": 12, "message": "Method Not Allowed"})
    status, body, _ = kit.http("GET", f"{server.url}{API}/runs/some-id:terminate")
    assert status == 501


def test_not_found_ids(server, kit):
    for path, kind in (("experiments/nope", "Experiment"), ("pipelines/nope", "Pipeline"),
                       ("runs/nope", "Run"), ("recurringruns/nope", "RecurringRun"),
                       ("pipelines/nope/versions/nope", "PipelineVersion")):
        status, body, _ = kit.http("GET", f"{server.url}{API}/{path}")
        assert status == 404 and body["code"] == 5, body
        assert body["details"][0] == {"@type": "type.googleapis.com/google.rpc.Status",
                                      "code": 5, "message": f"{kind} nope not found"}
        _check(kit, "GET", f"{API}/{path}", status, body)
    status, body, _ = kit.http("POST", f"{server.url}{API}/runs/nope:terminate")
    assert status == 404


def test_bad_bodies(server, kit, snapshot, pipelines):
    before = snapshot()
    url = f"{server.url}{API}"
    cases = [
        ("POST", "/experiments", {"display_name": "x", "foo": 1}, 'unknown field "foo"'),
        ("POST", "/experiments", {"display_name": 7}, "invalid value for string field"),
        ("POST", "/experiments", {"display_name": ""}, "Experiment name is empty"),
        ("POST", "/runs", {"display_name": "r"}, "pipeline_version_reference"),
        ("POST", "/runs", {"display_name": "r", "pipeline_version_reference": {
            "pipeline_id": "no-such"}}, None),
        ("POST", "/runs", {"display_name": "r", "pipeline_spec": {"pipelineInfo": {}}},
         "pipelineInfo.name"),
        ("POST", "/runs", {"display_name": "r", "pipeline_spec": {
            "pipelineInfo": {"name": "ok"}, "root": {"dag": {"tasks": {"t": {"bad": 1}}}}}},
         "Invalid pipeline spec"),
        ("POST", "/recurringruns", {"display_name": "s", "max_concurrency": 1,
                                    "trigger": {"cron_schedule": {"cron": "1 * *"}},
                                    "pipeline_version_reference": {"pipeline_id": "x"}},
         "Expected 5 to 6 fields, found 3: 1 * *"),
        ("POST", "/recurringruns", {"display_name": "s", "max_concurrency": 1,
                                    "trigger": {"cron_schedule": {"cron": "0 0 0 L * *"}},
                                    "pipeline_version_reference": {"pipeline_id": "x"}},
         "Failed to parse int from L"),
        ("POST", "/recurringruns", {"display_name": "s", "max_concurrency": 11,
                                    "trigger": {"periodic_schedule": {"interval_second": 5}}},
         "must be at least 1 and at most 10. Received 11"),
        ("POST", "/recurringruns", {"display_name": "s", "max_concurrency": "1",
                                    "trigger": {"periodic_schedule": {"interval_second": "0"}}},
         "interval"),
    ]
    for method, path, body, words in cases:
        status, answer, _ = kit.http(method, url + path, body)
        assert 400 <= status < 500, (path, body, status, answer)
        assert answer["code"] in (3, 5, 9) and "Traceback" not in json.dumps(answer)
        if words:
            assert words in answer["message"], answer
        _check(kit, method, f"{API}{path}", status, answer)
    # Not JSON at all.
    status, answer, _ = kit.http("POST", f"{url}/experiments", data=b"{not json")
    assert status == 400 and answer["code"] == 3
    # A run with a parameter the pipeline does not take.
    ir = yaml.safe_load(Path(pipelines["two_step"]).read_text())
    status, answer, _ = kit.http("POST", f"{url}/runs", {
        "display_name": "r", "pipeline_spec": ir, "runtime_config": {"parameters": {"m": 1}}})
    assert status == 400 and "unknown parameter(s) ['m']" in answer["message"]
    assert snapshot() == before


def test_bad_list_options(server, kit):
    url = f"{server.url}{API}/runs"
    for query, words in (
        ("filter=" + urllib.parse.quote("{not json"), "Invalid filter"),
        ("filter=" + urllib.parse.quote('{"predicates":[{"operation":"EQUALS","key":"colour",'
                                        '"string_value":"red"}]}'), "unrecognized field"),
        ("filter=" + urllib.parse.quote('{"predicates":[{"operation":"IN","key":"state",'
                                        '"string_value":"red"}]}'), "IN needs"),
        ("filter=" + urllib.parse.quote('{"predicates":[{"operation":4,"key":"state",'
                                        '"string_value":"red"}]}'), "operation"),
        ("filter=" + urllib.parse.quote('{"predicates":[{"operation":1,"key":"",'
                                        '"string_value":"x"}]}'), "key is empty"),
        ("filter=" + urllib.parse.quote("%zz"), "invalid URL escape"),
        ("page_size=-1", "page size"),
        ("sort_by=colour", "Invalid sorting field"),
        ("sort_by=" + urllib.parse.quote("name sideways"), "Invalid sorting field"),
        ("page_token=garbage", "Invalid page token"),
    ):
        status, body, _ = kit.http("GET", f"{url}?{query}")
        assert status == 400 and body["code"] == 3, (query, body)
        assert words in body["message"], (query, body)
        _check(kit, "GET", f"{API}/runs", status, body)
    status, body, _ = kit.http("GET", f"{url}?page_size=100000")
    assert status == 200


def test_upload_errors_use_the_upload_shape_and_store_nothing(server, kit, snapshot, pipelines):
    before = snapshot()
    url = f"{server.url}{API}/pipelines/upload?name=bad-upload"
    for filename, data, words in (
        ("p.yaml", b"pipelineInfo: {name: Bad_Name}\nroot: {}\n", "pipelineInfo.name"),
        ("p.yaml", b"just a string", "expected a mapping"),
        ("p.yaml", b"a: [unclosed", "invalid YAML"),
        ("p.yaml", b"pipelineInfo: {name: ok}\nroot: {dag: 1}\n", "Invalid pipeline spec"),
    ):
        body, headers = _multipart(filename, data)
        status, answer, _ = kit.http("POST", url, data=body, headers=headers)
        assert status == 400, answer
        assert set(answer) == {"error_message", "error_details"} and words in answer["error_details"]
        _check(kit, "POST", f"{API}/pipelines/upload", status, answer)
    body, headers = _multipart("p.yaml", Path(pipelines["two_step"]).read_bytes(), field="other")
    status, answer, _ = kit.http("POST", url, data=body, headers=headers)
    assert status == 400 and answer["error_message"] == "Failed to read pipeline from file"
    # Bigger than 32 MiB: refused, read to the end so the client gets the answer.
    big = Path(pipelines["two_step"]).read_bytes() + b"\n#" + b"x" * (33 << 20) + b"\n"
    body, headers = _multipart("big.yaml", big)
    status, answer, _ = kit.http("POST", url, data=body, headers=headers)
    assert status == 400 and "File size too large" in answer["error_message"]
    # upload_version without a pipeline id, and to an unknown one: both 400 with KFP's
    # generic message (KFP fails to fetch the pipeline's namespace; no 404).
    body, headers = _multipart("p.yaml", Path(pipelines["two_step"]).read_bytes())
    for query in ("name=v", "name=v&pipelineid=nope"):
        status, answer, _ = kit.http(
            "POST", f"{server.url}{API}/pipelines/upload_version?{query}", data=body,
            headers=headers)
        assert status == 400 and answer["error_message"] == "Failed to create a pipeline version"
        _check(kit, "POST", f"{API}/pipelines/upload_version", status, answer)
    assert snapshot() == before


def test_duplicates_conflict(client, pipelines):
    client.create_experiment("dup-exp")
    with pytest.raises(kfp_server_api.ApiException) as err:
        client._experiment_api.experiment_service_create_experiment(
            kfp_server_api.V2beta1Experiment(display_name="dup-exp"))
    assert err.value.status == 409 and json.loads(err.value.body)["code"] == 6
    pipe = client.upload_pipeline(pipelines["two_step"], pipeline_name="dup-pipe")
    with pytest.raises(kfp_server_api.ApiException) as err:
        client.upload_pipeline(pipelines["two_step"], pipeline_name="dup-pipe")
    assert err.value.status == 409
    assert json.loads(err.value.body)["error_message"] == ("Failed to create a pipeline and a "
                                                           "pipeline version")
    # The first version is named like the pipeline: a version of that name conflicts.
    with pytest.raises(kfp_server_api.ApiException) as err:
        client.upload_pipeline_version(pipelines["two_step"], "dup-pipe",
                                       pipeline_id=pipe.pipeline_id)
    assert err.value.status == 409
    assert client.list_pipeline_versions(pipe.pipeline_id).total_size == 1


def test_swagger_check_rejects_what_kfp_would_not_send(kit):
    """The response check of these tests is not vacuous."""
    good = {"experiment_id": "e", "display_name": "x", "created_at": "2026-01-02T03:04:05Z"}
    kit.validate_response("GET", f"{API}/experiments/e", 200, json.dumps(good))
    for bad in ({**good, "createdAt": "2026-01-02T03:04:05Z"},  # camelCase key
                {**good, "created_at": "2026-01-02T03:04:05.123+00:00"},  # not KFP's format
                {**good, "storage_state": "GONE"}):  # not an enum value
        with pytest.raises(jsonschema.ValidationError):
            kit.validate_response("GET", f"{API}/experiments/e", 200, json.dumps(bad))
    with pytest.raises(jsonschema.ValidationError):  # int64 must be a string
        kit.validate_response("GET", f"{API}/recurringruns/r", 200,
                              json.dumps({"recurring_run_id": "r", "max_concurrency": 1}))
