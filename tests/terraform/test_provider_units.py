"""The Terraform adapter without the terraform CLI: wire values, schemas, and the plugin calls.

Requests are built as Terraform sends them (msgpack DynamicValues, refined unknowns) and
handed to the servicer in-process; what it answers is decoded with the schema.
"""

from __future__ import annotations

import json

import msgpack
import pytest

pytest.importorskip("tf", reason="the `tf` framework (extra `terraform`) is not installed")

from tf.gen import tfplugin_pb2 as pb  # noqa: E402
from tf.provider import _decode_state, _encode_state  # noqa: E402
from tf.types import Unknown  # noqa: E402
from tf.utils import read_dynamic_value  # noqa: E402

from dh_kfp_pulumi import reconcile  # noqa: E402
from dh_kfp_pulumi.backends import BackendConfig  # noqa: E402
from dh_kfp_pulumi.specs.pod import INEXPRESSIBLE  # noqa: E402
from dh_kfp_pulumi.terraform import provider as tfp  # noqa: E402
from dh_kfp_pulumi.terraform.schema import RESOURCES  # noqa: E402
from dh_kfp_pulumi.terraform.wire import Dynamic, attribute_path, split_path  # noqa: E402

PIPELINE = """\
from dh_kfp_pulumi.dsl import pipeline_context


def pipe(x: int = 1):
    with pipeline_context() as pc:
        pc.step(name="add", function="adder", action="job", inputs={"x": x}, values=["y"])
"""
ADDER = "def add(x):\n    return {'y': str(int(x) + 1)}\n"

# ---- wire ---------------------------------------------------------------------------------


def test_dynamic_values_keep_their_shape_and_numbers():
    d = Dynamic()
    value = {"url": "u", "n": 5, "f": 0.5, "ok": True, "list": [1, "a", None], "none": None}
    wire = msgpack.unpackb(msgpack.packb(d.encode(value)), raw=False)
    assert d.decode(wire) == value
    # a number cty could not fit in msgpack travels as text; nested dynamics open
    assert d.decode([b'["object",{"n":"number"}]', {"n": "12345678901234567890"}]) == {
        "n": 12345678901234567890
    }
    assert d.decode([b'"dynamic"', [b'"string"', "x"]]) == "x"
    assert d.semantically_equal({"a": 1}, {"a": 1}) and not d.semantically_equal(
        {"a": 1}, {"a": True}
    )


def test_refined_unknowns_are_unknown():
    # Terraform >= 1.6 sends `"${var.x}/a.py"` as an unknown refined "not null" (ext 12)
    refined = msgpack.ExtType(12, b"\x81\x01\xc2")
    value = pb.DynamicValue(msgpack=msgpack.packb({"a": refined, "b": msgpack.ExtType(0, b"\x00")}))
    assert read_dynamic_value(value) == {"a": Unknown, "b": Unknown}


def test_problem_paths_point_at_attributes():
    spec = RESOURCES["dhkfp_workflow"]
    assert split_path("inputs['a b'][0].x") == ["inputs", "a b", 0, "x"]
    assert attribute_path("functions[1].handler", spec.roots, spec.blocks.values()) == [
        "function",
        (1,),
        "handler",
    ]
    task = RESOURCES["dhkfp_task"]
    assert attribute_path("volumes[0].volume_type", task.roots) == ["volumes"]
    assert attribute_path("colour", task.roots) is None and attribute_path("", task.roots) is None


def test_schemas_cover_every_reconcile_prop():
    """One vocabulary: every input reconcile knows is an attribute (or the functions block)."""
    not_in_terraform = {  # `owner`: set by the provider from its `stack` setting
        "workflow": {"source_origin", "spec_hash", "owner"},  # + by the source reader / check
        "task": {"spec_hash", "owner"},
        "run": {"owner"},
    }
    for spec in RESOURCES.values():
        core = reconcile.KINDS[spec.kind]
        names = set(spec.inputs) | set(spec.blocks)
        refused = set(INEXPRESSIBLE) if spec.kind == "task" else set()  # refused by check
        assert set(core.INPUTS) - names == not_in_terraform[spec.kind], spec.kind
        assert names - refused <= set(core.INPUTS), spec.kind
        outputs = set(core.OUTPUTS) - {"ir"}  # the IR is not kept in Terraform state
        assert outputs <= set(spec.outputs), spec.kind


# ---- plugin calls in-process -------------------------------------------------------------


def servicer(config=None):
    provider = tfp.Provider()
    provider.config = config or BackendConfig(host="http://127.0.0.1:9", image="python:3.11")
    return tfp.Servicer(provider)


def full(type_name, **values):
    spec = RESOURCES[type_name]
    state = {a.name: None for a in spec.schema.attributes}
    state.update({b: [] for b in spec.blocks.values()})
    state.update(values)
    return state


def encode(type_name, state):
    s = servicer()
    if state is None:
        return pb.DynamicValue(msgpack=msgpack.packb(None))
    return _encode_state(s._get_res_attrs(type_name), s._get_res_blocks(type_name), state, None)


def decode(type_name, value):
    s = servicer()
    return _decode_state(s._get_res_attrs(type_name), s._get_res_blocks(type_name), value)[1]


def plan(type_name, config, prior=None, s=None):
    """PlanResourceChange as Terraform calls it: proposed = config (+ prior's computed)."""
    s = s or servicer()
    proposed = dict(config)
    if prior is not None:
        spec = RESOURCES[type_name]
        proposed.update({k: prior[k] for k in spec.outputs})
    request = pb.PlanResourceChange.Request(
        type_name=type_name,
        prior_state=encode(type_name, prior),
        proposed_new_state=encode(type_name, proposed),
        config=encode(type_name, config),
    )
    response = s.PlanResourceChange(request, None)
    planned = decode(type_name, response.planned_state) if response.planned_state.msgpack else None
    replaces = [[step.attribute_name for step in p.steps] for p in response.requires_replace]
    return planned, replaces, list(response.diagnostics)


def workflow_config(**extra):
    fn = {"name": "adder", "kind": "python", "code": ADDER, "handler": "add"}
    fn = {k: fn.get(k) for k in RESOURCES["dhkfp_workflow"].schema.block_types[0]._amap()}
    values = dict(project="demo", name="wf", kind="kfp", code=PIPELINE, handler="pipe")
    values.update(extra)
    return full("dhkfp_workflow", function=[fn], **values)


def test_workflow_plan_promises_hash_and_version_name_and_forces_replacement_like_reconcile():
    config = workflow_config()
    planned, replaces, diags = plan("dhkfp_workflow", config)
    assert diags == [] and replaces == []
    inputs, _ = reconcile.workflow.check(
        {"project": "demo", "name": "wf", "kind": "kfp", "code": PIPELINE, "handler": "pipe",
         "functions": [{"name": "adder", "kind": "python", "code": ADDER, "handler": "add"}]},
        servicer().app.config,
    )  # fmt: skip
    assert planned["spec_hash"] == inputs["spec_hash"]
    assert planned["version_name"] == inputs["spec_hash"][:16]
    assert planned["pipeline_name"] == "demo-wf" and planned["pipeline_id"] is Unknown

    prior = dict(planned, id="p1", pipeline_id="p1", version_id="v1", url="u")
    same, replaces, _ = plan("dhkfp_workflow", config, prior)
    assert same == prior and replaces == []
    for key in reconcile.workflow.REPLACES:
        changed = dict(config, **{key: "other" if key != "kind" else "argo"})
        if key == "kind":
            continue  # 'argo' is not valid; replacement of kind is covered by reconcile's plan
        _, replaces, _ = plan("dhkfp_workflow", changed, prior)
        assert (
            replaces == [[key]] == [[k] for k in reconcile.workflow.plan(prior, changed).replaces]
        )


def test_unknown_code_leaves_the_hash_unknown_and_keeps_outputs_that_stay():
    config = workflow_config(code=Unknown)
    planned, _, diags = plan("dhkfp_workflow", config)
    assert diags == [] and planned["spec_hash"] is Unknown and planned["workflow_spec"] is Unknown


def test_task_never_replaced_and_a_toggle_keeps_the_recurring_run():
    config = full(
        "dhkfp_task", project="demo", name="t", pipeline_id="p", workflow_version_id="v",
        schedule="5 4 * * *", inputs={"x": 2},
    )  # fmt: skip
    planned, _, diags = plan("dhkfp_task", config)
    assert diags == [] and planned["cron"] == "0 5 4 * * *" and planned["version_id"] == "v"
    prior = dict(planned, id="t1", recurring_run_id="r1", url="u", experiment_id="e")
    prior.update(enabled=True, max_concurrency=1, catchup=True)  # as a refresh fills them in
    same, _, _ = plan("dhkfp_task", config, prior)
    assert same == prior  # left out and deployed as the default: no change
    toggled, replaces, _ = plan("dhkfp_task", dict(config, enabled=False), prior)
    assert replaces == [] and toggled["recurring_run_id"] == "r1"
    moved, replaces, _ = plan("dhkfp_task", dict(config, workflow_version_id=Unknown), prior)
    assert replaces == [] and moved["recurring_run_id"] is Unknown


def test_run_replaced_on_new_inputs_or_version_only():
    config = full(
        "dhkfp_run", project="demo", name="r", pipeline_id="p", version_id="v", inputs={"x": 1}
    )
    planned, _, _ = plan("dhkfp_run", config)
    prior = dict(planned, id="r1", run_id="r1", state="SUCCEEDED")
    assert plan("dhkfp_run", dict(config, inputs={"x": 2}), prior)[1] == [["inputs"]]
    assert plan("dhkfp_run", dict(config, version_id="v2"), prior)[1] == [["version_id"]]
    assert plan("dhkfp_run", dict(config, wait=True), prior)[1] == []


def diagnostics_of(type_name, config):
    request = pb.ValidateResourceConfig.Request(
        type_name=type_name, config=encode(type_name, config)
    )
    return list(servicer().ValidateResourceConfig(request, None).diagnostics)


def test_validate_reports_reconciles_problems_at_their_attributes():
    config = full(
        "dhkfp_task", project="demo", name="t", pipeline_id="p", workflow_version_id="v",
        schedule="5 4 * *", max_concurrency=11,
    )  # fmt: skip
    diags = diagnostics_of("dhkfp_task", config)
    _, problems = reconcile.task.check(
        {"project": "demo", "name": "t", "pipeline_id": "p", "workflow_version_id": "v",
         "schedule": "5 4 * *", "max_concurrency": 11}, BackendConfig(),
    )  # fmt: skip
    assert sorted(d.summary for d in diags) == sorted(
        f"{p.path}: {p.message} (got {p.value!r})" for p in problems
    )
    paths = {d.summary.split(":")[0]: [s.attribute_name for s in d.attribute.steps] for d in diags}
    assert paths == {"schedule": ["schedule"], "max_concurrency": ["max_concurrency"]}

    # a profile needs the provider's profiles: not judged before the provider is configured
    assert diagnostics_of("dhkfp_task", dict(config, schedule=None, max_concurrency=None,
                                             profile="gpu", workflow_spec=Unknown)) == []  # fmt: skip


def test_priority_and_runtime_class_are_refused_by_name_at_validate():
    config = full("dhkfp_task", project="demo", name="t", pipeline_id="p",
                  workflow_version_id="v", priority_class="high", runtime_class=None)
    diags = diagnostics_of("dhkfp_task", config)
    assert [d.summary for d in diags] == [
        f"priority_class: {INEXPRESSIBLE['priority_class']} (got 'high')"]
    assert [s.attribute_name for s in diags[0].attribute.steps] == ["priority_class"]


def test_workflow_function_problem_points_into_its_block():
    config = workflow_config()
    config["function"][0]["handler"] = None
    diags = diagnostics_of("dhkfp_workflow", config)
    assert len(diags) == 1 and diags[0].summary.startswith("functions[0].handler: required")
    steps = diags[0].attribute.steps
    assert (steps[0].attribute_name, steps[1].element_key_int, steps[2].attribute_name) == (
        "function",
        0,
        "handler",
    )


def test_a_missing_code_src_file_is_a_diagnostic_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = workflow_config(code=None, code_src="nowhere.py")
    diags = diagnostics_of("dhkfp_workflow", config)
    assert [d.summary.split(":")[0] for d in diags] == ["code_src"]
    assert "nowhere.py" in diags[0].summary


def test_provider_config_problems_name_the_setting_and_hide_the_token():
    s = servicer()
    config = {a.name: None for a in tfp.PROVIDER.attributes}
    config.update(host="ftp://x", token="s3cret")
    request = pb.ConfigureProvider.Request(
        config=_encode_state({a.name: a for a in tfp.PROVIDER.attributes}, {}, config, None)
    )
    diags = list(s.ConfigureProvider(request, None).diagnostics)
    assert [d.attribute.steps[0].attribute_name for d in diags] == ["host"]
    assert "http:// or https://" in diags[0].summary and "s3cret" not in str(diags)
    assert next(a for a in tfp.PROVIDER.attributes if a.name == "token").sensitive

    # an HCL object for `profiles` (a dynamic value on the wire) becomes the stack setting
    profiles = {"gpu": {"node_selector": [{"key": "gpu", "value": "a100"}]}}
    config.update(host="http://127.0.0.1:9", profiles=profiles, image_pull_secrets=["regcred"])
    request = pb.ConfigureProvider.Request(
        config=_encode_state({a.name: a for a in tfp.PROVIDER.attributes}, {}, config, None)
    )
    assert list(s.ConfigureProvider(request, None).diagnostics) == []
    assert s.app.config.profiles == profiles and s.app.config.image_pull_secrets == ("regcred",)
    assert s.app.config.token == "s3cret" and s.app.unknown == []


def test_remote_code_src_is_fetched_at_plan_never_at_validate():
    import http.server
    import threading

    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            hits.append(self.path)
            body = PIPELINE.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/pipeline.py"
        config = workflow_config(code=None, code_src=url)
        assert diagnostics_of("dhkfp_workflow", config) == [] and hits == []
        planned, _, diags = plan("dhkfp_workflow", config)
        assert diags == [] and hits == ["/pipeline.py"]
        local, _, _ = plan("dhkfp_workflow", workflow_config())
        assert planned["spec_hash"] == local["spec_hash"]  # the same text, wherever it came from
    finally:
        server.shutdown()


def test_unknown_provider_settings_stop_calls_to_kfp_with_a_clear_message():
    from tf.iface import ReadContext
    from tf.utils import Diagnostics

    from dh_kfp_pulumi.terraform.resources import Workflow

    provider = tfp.Provider()
    provider.configure_provider(Diagnostics(), {"host": Unknown, "namespace": None})
    assert provider.unknown == ["host"]
    diags = Diagnostics()
    state = full("dhkfp_workflow", id="p1", project="demo", name="wf", kind="kfp")
    assert Workflow(provider).read(ReadContext(diags, "dhkfp_workflow"), state) == state
    assert "host not known yet" in diags.diagnostics[0].summary


def test_a_task_with_pod_settings_builds_from_the_workflows_planned_spec():
    config = BackendConfig(
        host="http://127.0.0.1:9",
        image="python:3.11",
        profiles={"ssd": {"node_selector": [{"key": "disk", "value": "ssd"}]}},
    )
    s = servicer(config)
    wf, _, _ = plan("dhkfp_workflow", workflow_config(), s=s)
    assert isinstance(wf["workflow_spec"], str)  # known at plan time
    task = full(
        "dhkfp_task", project="demo", name="t", pipeline_id="p", workflow_spec=wf["workflow_spec"],
        schedule="5 4 * * *", profile="ssd", inputs={"x": 3},
    )  # fmt: skip
    planned, _, diags = plan("dhkfp_task", task, s=s)
    assert diags == []
    inputs, problems = reconcile.task.check(
        {"project": "demo", "name": "t", "pipeline_id": "p", "schedule": "5 4 * * *",
         "profile": "ssd", "inputs": {"x": 3}, "workflow_spec": json.loads(wf["workflow_spec"])},
        config,
    )  # fmt: skip
    assert problems == [] and planned["spec_hash"] == inputs["spec_hash"] != ""
    assert planned["own_version"] is True and planned["version_name"] == inputs["spec_hash"][:16]
    assert planned["version_id"] is Unknown

    _, _, diags = plan("dhkfp_task", dict(task, profile="gpu"), s=s)
    assert [d.attribute.steps[0].attribute_name for d in diags] == ["profile"]
    assert "unknown profile; defined: ssd" in diags[0].summary


def test_provider_block_takes_the_destroy_settings_and_names_bad_ones():
    s = servicer()
    attrs = {a.name: a for a in tfp.PROVIDER.attributes}

    def configure(**values):
        config = {a: None for a in attrs}
        config.update(host="http://127.0.0.1:9", **values)
        request = pb.ConfigureProvider.Request(config=_encode_state(attrs, {}, config, None))
        return list(s.ConfigureProvider(request, None).diagnostics)

    assert configure(destroy_wait_timeout=30, on_destroy_active_runs="cancel") == []
    assert (s.app.config.destroy_wait_timeout, s.app.config.on_destroy_active_runs) == (
        30.0,
        "cancel",
    )
    diags = configure(destroy_wait_timeout=-1, on_destroy_active_runs="kill")
    where = {d.attribute.steps[0].attribute_name: d.summary for d in diags}
    assert set(where) == {"destroy_wait_timeout", "on_destroy_active_runs"}
    assert "0 or more" in where["destroy_wait_timeout"] and "-1" in where["destroy_wait_timeout"]
    assert "'kill'" in where["on_destroy_active_runs"]
    assert "'wait'" in where["on_destroy_active_runs"]
    assert "'cancel'" in where["on_destroy_active_runs"]


def test_a_pending_cleanup_plans_an_update_that_leaves_none_pending():
    config = full(
        "dhkfp_task", project="demo", name="t", pipeline_id="p", workflow_version_id="v",
        schedule="5 4 * * *", inputs={"x": 2},
    )  # fmt: skip
    planned, _, _ = plan("dhkfp_task", config)
    prior = dict(planned, id="t1", recurring_run_id="r1", url="u", experiment_id="e")
    prior.update(enabled=True, max_concurrency=1, catchup=True, retired_recurring_run_ids=[],
                 cleanup_recurring_run_ids=[])  # fmt: skip
    assert plan("dhkfp_task", config, prior)[0] == prior  # nothing pending: no change
    older = dict(prior, cleanup_recurring_run_ids=None)  # a state from before this attribute
    assert plan("dhkfp_task", config, older)[0] == older
    # a refresh found r0 retired with its runs ended: an update, keeping the schedule
    pending = dict(prior, cleanup_recurring_run_ids=["r0"])
    update, replaces, diags = plan("dhkfp_task", config, pending)
    assert diags == [] and replaces == [] and update != pending
    assert update["cleanup_recurring_run_ids"] == [] and update["recurring_run_id"] == "r1"
    assert update["retired_recurring_run_ids"] is Unknown  # r0 may still be kept (a new run)
    # still waiting for its runs: no change to apply (a refresh says when it is done)
    busy = dict(prior, retired_recurring_run_ids=["r0"])
    assert plan("dhkfp_task", config, busy)[0] == busy
