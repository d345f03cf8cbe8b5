"""The calls Terraform makes in its first two plugin processes of every command (schema,
then validation) import neither kfp nor Pulumi (issue 12, item 4): Terraform starts the
plugin 3 times per plan, and kfp alone costs ~0.5 s to import. Checked in a fresh
interpreter, where sys.modules tells the truth; the build's own problems still show, at
plan time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tf", reason="the `tf` framework (extra `terraform`) is not installed")

PARKING = Path(__file__).resolve().parents[2] / "examples" / "parking"

# Every Validate* call with a config as the parking example's (sources from files), a task
# that would build its own version (pod settings and a literal workflow_spec) and a run.
PROBE = """\
import json, sys
from tf.gen import tfplugin_pb2 as pb
from tf.provider import _encode_state
from dh_kfp_pulumi.terraform import provider as tfp
from dh_kfp_pulumi.terraform.schema import PIPELINE, PROVIDER, RESOURCES

parking = sys.argv[1]
s = tfp.Servicer(tfp.Provider())
HEAVY = ("kfp", "kfp_server_api", "pulumi", "dh_kfp_pulumi.build")
seen = {}
errors = []

def full(type_name, **values):
    spec = RESOURCES[type_name]
    state = {a.name: None for a in spec.schema.attributes}
    state.update({b: [] for b in spec.blocks.values()})
    state.update(values)
    return _encode_state(s._get_res_attrs(type_name), s._get_res_blocks(type_name), state, None)

def attrs(schema, **values):
    state = {a.name: None for a in schema.attributes}
    state.update(values)
    return _encode_state({a.name: a for a in schema.attributes}, {}, state, None)

schema = s.GetProviderSchema(pb.GetProviderSchema.Request(), None)
errors += [d.summary for d in schema.diagnostics]
seen["schema"] = sorted(m for m in HEAVY if m in sys.modules)
seen["optional"] = schema.server_capabilities.get_provider_schema_optional

config = attrs(PROVIDER, host="http://127.0.0.1:9")
errors += [d.summary for d in s.ValidateProviderConfig(
    pb.ValidateProviderConfig.Request(config=config), None).diagnostics]
fn = {"kind": "python", "code": None, "base64": None, "image": None, "tag": None,
      "lang": None, "description": None}
functions = [dict(fn, name="downloader-funct", code_src=parking + "/src/download.py",
                  handler="download"),
             dict(fn, name="extract-parkings", code_src=parking + "/src/extract.py",
                  handler="extract")]
workflow = {"project": "parking", "name": "workflow", "kind": "kfp", "handler": "myhandler",
            "code_src": parking + "/pipeline.py"}
spec = dict(workflow, functions=[{k: v for k, v in f.items() if v is not None}
                                 for f in functions])
configs = {
    "dhkfp_workflow": full("dhkfp_workflow", function=functions, **workflow),
    "dhkfp_task": full("dhkfp_task", project="parking", name="nightly", pipeline_id="p",
                       schedule="5 4 * * *", workflow_spec=json.dumps(spec),
                       run_as_user=1000, inputs={"url": "u"}),
    "dhkfp_run": full("dhkfp_run", project="parking", name="once", pipeline_id="p",
                      version_id="v", inputs={"url": "u"}),
}
for type_name, value in configs.items():
    request = pb.ValidateResourceConfig.Request(type_name=type_name, config=value)
    errors += [d.summary for d in s.ValidateResourceConfig(request, None).diagnostics]
request = pb.ValidateDataResourceConfig.Request(
    type_name="dhkfp_pipeline", config=attrs(PIPELINE, name="parking-workflow"))
errors += [d.summary for d in s.ValidateDataResourceConfig(request, None).diagnostics]
seen["validate"] = sorted(m for m in HEAVY if m in sys.modules)
print(json.dumps({"seen": seen, "errors": errors}))
"""


def test_schema_and_validation_import_neither_kfp_nor_pulumi():
    done = subprocess.run([sys.executable, "-c", PROBE, str(PARKING)], capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["errors"] == []
    assert found["seen"] == {"schema": [], "optional": True, "validate": []}


def test_a_build_problem_waits_for_the_plan_and_is_reported_there():
    """Validation leaves the build out (it needs the provider's image and profiles); the
    plan, which builds, reports what reconcile's check says."""
    from test_provider_units import PIPELINE, diagnostics_of, plan, workflow_config

    config = workflow_config(code=PIPELINE.replace('function="adder"', 'function="subtract"'))
    assert diagnostics_of("dhkfp_workflow", config) == []
    _, _, diags = plan("dhkfp_workflow", config)
    assert len(diags) == 1 and "subtract" in diags[0].summary and "adder" in diags[0].summary

    # a field problem is still found without the build
    config = workflow_config(handler=None)
    assert [d.summary.split(":")[0] for d in diagnostics_of("dhkfp_workflow", config)] == [
        "handler"
    ]


def test_the_tls_certificate_is_made_once_and_kept_private(tmp_path, monkeypatch):
    from dh_kfp_pulumi.terraform import provider as tfp

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    der, _ = tfp.tls_identity()
    kept = tmp_path / "dh-kfp" / tfp.TLS_CACHE
    assert kept.stat().st_mode & 0o777 == 0o600
    assert tfp.tls_identity()[0] == der  # the same certificate for the next plugin process

    kept.write_text("{not json")  # a damaged cache is made again, never an error
    again, _ = tfp.tls_identity()
    assert again != der and json.loads(kept.read_text())["der"]

    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # no usable cache: a certificate anyway
    monkeypatch.chdir(tmp_path)
    assert tfp.tls_identity()[0] and not (tmp_path / "relative").exists()
