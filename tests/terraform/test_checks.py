"""Checks remembered across plugin processes (terraform/checks.py): what the key is made
of, what is kept, and that a second process answers validation and plan from it with
neither pydantic nor kfp imported, and never from a stale entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tf", reason="the `tf` framework (extra `terraform`) is not installed")

from dh_kfp_pulumi.backends import BackendConfig  # noqa: E402
from dh_kfp_pulumi.reconcile import UNKNOWN  # noqa: E402
from dh_kfp_pulumi.terraform import checks  # noqa: E402
from dh_kfp_pulumi.terraform.checks import CheckMemo, local_sources  # noqa: E402

CONFIG = BackendConfig(host="http://127.0.0.1:9")


def props(code_src: str = "pipe.py", **extra) -> dict:
    return {"project": "demo", "name": "wf", "kind": "kfp", "code_src": code_src,
            "handler": "pipe", "functions": [{"name": "adder", "code": "x"}], **extra}  # fmt: skip


@pytest.fixture
def memo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipe.py").write_text("def pipe():\n    pass\n")
    return CheckMemo(str(tmp_path / "memo"))


def test_the_key_is_made_of_props_sources_settings_folder_and_code(memo, tmp_path, monkeypatch):
    key = memo.key("plan", "workflow", props(), CONFIG)
    assert key is not None and key == memo.key("plan", "workflow", props(), CONFIG)
    others = {
        "props": memo.key("plan", "workflow", props(name="other"), CONFIG),
        "stage": memo.key("validate", "workflow", props(), CONFIG),
        "kind": memo.key("plan", "task", props(), CONFIG),
        "settings": memo.key("plan", "workflow", props(), BackendConfig(host="http://h", image="i")),
    }
    (tmp_path / "pipe.py").write_text("def pipe():\n    return 1\n")
    others["source text"] = memo.key("plan", "workflow", props(), CONFIG)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pipe.py").write_text("def pipe():\n    return 1\n")
    monkeypatch.chdir(tmp_path / "sub")
    others["working dir"] = memo.key("plan", "workflow", props(), CONFIG)
    monkeypatch.setattr(checks, "code_fingerprint", lambda: "another version of dh-kfp")
    others["code"] = memo.key("plan", "workflow", props(), CONFIG)
    assert len({key, *others.values()}) == len(others) + 1, others


def test_the_token_is_not_part_of_the_key(memo):
    with_token = BackendConfig(host="http://127.0.0.1:9", token="s3cret")
    assert memo.key("plan", "run", {"name": "r"}, with_token) == memo.key(
        "plan", "run", {"name": "r"}, CONFIG
    )


def test_an_unknown_value_is_told_from_any_data(memo):
    keys = {
        memo.key("validate", "run", {"inputs": value}, CONFIG)
        for value in (UNKNOWN, ["?"], "?", [UNKNOWN], {"?": None}, None)
    }
    assert len(keys) == 6 and None not in keys


def test_what_cannot_be_keyed_is_not_remembered(memo):
    # a plan fetches a remote source each time: its text may have changed
    remote = props("https://example.invalid/pipe.py")
    assert memo.key("plan", "workflow", remote, CONFIG) is None
    assert memo.key("validate", "workflow", remote, CONFIG) is not None  # never fetched there
    assert local_sources(remote, fetched=False) == []
    # a file:// URL names the same file as its path; an archive URL is never kept
    local = props(f"file://{Path.cwd() / 'pipe.py'}")
    [[_, by_url]] = local_sources(local, fetched=True)
    [[_, by_path]] = local_sources(props(), fetched=True)
    assert by_url == by_path
    assert memo.key("plan", "workflow", props(f"zip+file://{Path.cwd()}/a.zip"), CONFIG) is None
    # a missing file: the real check says what is wrong
    assert memo.key("plan", "workflow", props("missing.py"), CONFIG) is None
    assert memo.key("plan", "run", {"inputs": {"x": object()}}, CONFIG) is None


def test_only_clean_known_json_inputs_are_kept(memo):
    key = memo.key("plan", "run", {"name": "r"}, CONFIG)
    assert memo.get(key) is None
    assert not memo.put(key, {"name": "r", "version_id": UNKNOWN})
    assert not memo.put(key, {"name": "r", "values": ("a", "b")})  # a tuple comes back a list
    assert memo.get(key) is None
    assert memo.put(key, {"name": "r", "inputs": {"x": [1, 2.5, None, True]}})
    assert memo.get(key) == {"name": "r", "inputs": {"x": [1, 2.5, None, True]}}
    assert (memo.hits, memo.misses) == (1, 2)
    entry = Path(memo.folder, f"{key}.json")
    assert oct(entry.stat().st_mode & 0o777) == "0o600"
    assert oct(Path(memo.folder).stat().st_mode & 0o777) == "0o700"
    entry.write_text(json.dumps({"format": checks.FORMAT + 1, "inputs": {"name": "r"}}))
    assert memo.get(key) is None  # written by another format
    entry.write_text("{half")
    assert memo.get(key) is None


def test_old_entries_go(memo):
    now = [1_000_000_000.0]
    memo.clock = lambda: now[0]
    fresh, old = (memo.key("plan", "run", {"name": n}, CONFIG) for n in ("fresh", "old"))
    memo.put(old, {"name": "old"})
    stale = now[0] - checks.KEEP_DAYS * 86400 - 60
    os.utime(Path(memo.folder, f"{old}.json"), (stale, stale))
    now[0] += checks.PRUNE_EVERY + 1
    memo.put(fresh, {"name": "fresh"})
    assert memo.get(old) is None and memo.get(fresh) == {"name": "fresh"}


def test_the_setting_turns_it_off_or_moves_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DH_KFP_CHECK_CACHE", "0")
    assert CheckMemo.default().folder is None
    assert CheckMemo.default().key("plan", "run", {}, CONFIG) is None
    monkeypatch.setenv("DH_KFP_CHECK_CACHE", str(tmp_path))
    assert CheckMemo.default().folder == str(tmp_path)
    monkeypatch.delenv("DH_KFP_CHECK_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert CheckMemo.default().folder == str(tmp_path / "cache" / "dh-kfp" / "checks")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")
    monkeypatch.setenv("HOME", "relative")
    assert CheckMemo.default().folder is None


# ---- across processes ---------------------------------------------------------------------

# One plugin process as Terraform runs it for a plan: validate each resource, then plan
# it. Prints the planned states, the diagnostics and the heavy modules it imported.
PROCESS = """\
import json, sys
from tf.gen import tfplugin_pb2 as pb
from tf.provider import _decode_state, _encode_state
from dh_kfp_pulumi.backends import BackendConfig
from dh_kfp_pulumi.terraform import provider as tfp
from dh_kfp_pulumi.terraform.schema import RESOURCES

provider = tfp.Provider()
provider.config = BackendConfig(host="http://127.0.0.1:9", image="python:3.11")
s = tfp.Servicer(provider)

def full(type_name, **values):
    spec = RESOURCES[type_name]
    state = {a.name: None for a in spec.schema.attributes}
    state.update({b: [] for b in spec.blocks.values()})
    state.update(values)
    return state

def enc(type_name, state):
    return _encode_state(s._get_res_attrs(type_name), s._get_res_blocks(type_name), state, None)

fn = {"name": "adder", "kind": "python", "code": "def add(x):\\n    return {'y': x}\\n",
      "handler": "add", "code_src": None, "base64": None, "image": None, "tag": None,
      "lang": None, "description": None}
configs = {
    "dhkfp_workflow": full("dhkfp_workflow", project="demo", name="wf", kind="kfp",
                           code_src="pipe.py", handler="pipe", function=[fn]),
    "dhkfp_task": full("dhkfp_task", project="demo", name="t", pipeline_id="p",
                       workflow_version_id="v", schedule="5 4 * * *", inputs={"x": 2}),
    "dhkfp_run": full("dhkfp_run", project="demo", name="r", pipeline_id="p",
                      version_id="v", inputs={"x": 1}),
}
out = {"planned": {}, "errors": []}
for type_name, config in configs.items():
    v = s.ValidateResourceConfig(pb.ValidateResourceConfig.Request(
        type_name=type_name, config=enc(type_name, config)), None)
    r = s.PlanResourceChange(pb.PlanResourceChange.Request(
        type_name=type_name, prior_state=pb.DynamicValue(msgpack=b"\\xc0"),
        proposed_new_state=enc(type_name, config), config=enc(type_name, config)), None)
    out["errors"] += [d.summary for d in [*v.diagnostics, *r.diagnostics]]
    if r.planned_state.msgpack:
        state = _decode_state(s._get_res_attrs(type_name), s._get_res_blocks(type_name),
                              r.planned_state)[1]
        out["planned"][type_name] = {k: v for k, v in state.items()
                                     if isinstance(v, (str, int, float, bool, type(None)))}
HEAVY = ("pydantic", "kfp", "dh_kfp_pulumi.build", "dh_kfp_pulumi.backends.client",
         "dh_kfp_pulumi.reconcile.job")  # the last two: the lazy package inits hold
out["imported"] = sorted(m for m in HEAVY if m in sys.modules)
out["hits"] = provider.checks.hits
print(json.dumps(out))
"""

PIPELINE = """\
from dh_kfp_pulumi.dsl import pipeline_context


def pipe(x: int = 1):
    with pipeline_context() as pc:
        pc.step(name="add", function="adder", action="job", inputs={"x": x}, values=["y"])
"""


def plugin_process(folder: Path, memo: Path) -> dict:
    env = {**os.environ, "DH_KFP_CHECK_CACHE": str(memo)}
    done = subprocess.run([sys.executable, "-c", PROCESS], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_later_process_plans_from_the_memo_without_pydantic_or_kfp(tmp_path):
    (tmp_path / "pipe.py").write_text(PIPELINE)
    memo = tmp_path / "memo"
    first = plugin_process(tmp_path, memo)
    assert first["errors"] == [] and first["hits"] == 0
    assert "pydantic" in first["imported"] and "kfp" in first["imported"]  # it checked

    second = plugin_process(tmp_path, memo)
    assert second["errors"] == [] and second["hits"] == 6  # 3 validations, 3 plans
    assert second["imported"] == []
    assert second["planned"] == first["planned"]

    # the pipeline's file changes: no entry answers, the plan has the new hash
    (tmp_path / "pipe.py").write_text(PIPELINE.replace("x: int = 1", "x: int = 2"))
    third = plugin_process(tmp_path, memo)
    assert third["hits"] == 4 and "kfp" in third["imported"]
    old, new = first["planned"]["dhkfp_workflow"], third["planned"]["dhkfp_workflow"]
    assert new["spec_hash"] != old["spec_hash"]
    moved = ("spec_hash", "version_name", "workflow_spec")
    assert {k: v for k, v in new.items() if k not in moved} == {
        k: v for k, v in old.items() if k not in moved
    }
    assert "x: int = 2" in new["workflow_spec"]


def test_problems_are_found_every_time(tmp_path):
    (tmp_path / "pipe.py").write_text(PIPELINE.replace('function="adder"', 'function="nope"'))
    memo = tmp_path / "memo"
    for _ in range(2):
        found = plugin_process(tmp_path, memo)
        assert len(found["errors"]) == 1 and "nope" in found["errors"][0], found["errors"]
        assert "dhkfp_workflow" not in found["planned"]
