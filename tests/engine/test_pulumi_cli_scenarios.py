"""Scenarios under the real Pulumi CLI beyond the parking one (issue 9, item 3 b-g): bad
input stopped at preview with the core's messages, a secret token kept out of every store,
20 workflows and schedules under Pulumi's parallelism, the KFP server killed mid-`up`,
`pulumi import` and `adopt=`, and the component tree as Pulumi shows it."""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kfp_kit import files_without, kfp_client, stats  # noqa: E402
from pulumi_cli_kit import ADDER, PULUMI, SKIP_REASON, Cli, write_project  # noqa: E402

from dh_kfp_pulumi import reconcile  # noqa: E402
from dh_kfp_pulumi.backends import BackendConfig  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.pulumi_cli,
              pytest.mark.skipif(PULUMI is None, reason=SKIP_REASON)]


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "pulumi-cli"


def write_calls(url: str) -> dict[str, int]:
    return {k: n for k, n in stats(url)["requests"].items()
            if k.split(" ", 1)[0] in ("POST", "PUT", "PATCH", "DELETE")}


def reset(url: str) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{url}/dh-kfp/v1/stats:reset", method="POST"),
                           timeout=10).close()


def pipelines(client) -> list:
    return client.list_pipelines(page_size=200).pipelines or []


def recurring_runs(client) -> list:
    return client.list_recurring_runs(page_size=200).recurring_runs or []


# --- b. bad input ------------------------------------------------------------------------------

def core_messages() -> set[str]:
    """What reconcile's own check says of the three bad inputs below."""
    from pulumi_cli_kit import PIPELINE

    _, wf_problems = reconcile.workflow.check(
        {"project": "bad", "name": "wf", "kind": "kfp", "code": PIPELINE % {"function": "subtract"},
         "handler": "pipe",
         "functions": [{"name": "adder", "kind": "python", "code": ADDER, "handler": "add"}]},
        BackendConfig())
    _, task_problems = reconcile.task.check(
        {"project": "bad", "name": "t", "pipeline_id": "p", "workflow_version_id": "v",
         "workflow_spec": {"project": "bad", "name": "wf", "kind": "kfp", "code": "x",
                           "handler": "x"},
         "schedule": "5 4 * *",
         "volumes": [{"name": "data", "volume_type": "nfs", "mount_path": "/data"}]},
        BackendConfig())
    return {str(p) for p in (*wf_problems, *task_problems)}


@pytest.mark.parametrize("case", ["unknown function", "bad cron", "bad volume type"])
def test_bad_input_stops_preview_with_the_cores_message_and_creates_nothing(
        case, tmp_path, kfp_server):
    messages = core_messages()
    if case == "unknown function":
        body = "project.new_workflow(name='wf', kind='kfp', code_src='pipeline.py', handler='pipe')\n"
        # the core names inline code `<inline HASH>`; the program's file is pipeline.py
        expected = re.sub(r"^<inline [0-9a-f]+>", "pipeline.py",
                          next(m for m in messages if "subtract" in m))
        project = write_project(tmp_path / "p", body, name="bad", function="subtract")
    else:
        schedule = "5 4 * *" if case == "bad cron" else "5 4 * * *"
        volumes = ("[{'name': 'data', 'volume_type': 'nfs', 'mount_path': '/data'}]"
                   if case == "bad volume type" else "None")
        body = ("wf = project.new_workflow(name='wf', kind='kfp', code_src='pipeline.py', "
                "handler='pipe')\n"
                f"wf.run(action='pipeline', name='t', schedule={schedule!r}, volumes={volumes})\n")
        expected = next(m for m in messages if m.startswith(
            "schedule:" if case == "bad cron" else "volumes[0].volume_type:"))
        project = write_project(tmp_path / "p", body, name="bad")
    cli = Cli(project, tmp_path)
    cli.init(kfp_server.url)
    reset(kfp_server.url)
    before = {p.pipeline_id for p in pipelines(kfp_client(kfp_server.url))}

    # Pulumi words a Check failure of a property as `property <path> value {<value>} has a
    # problem: <reason>`, one of the whole resource as `has a problem: <message>`; the path,
    # the reason and the message are the core's own.
    if case == "unknown function":
        shown, reason = "resource 'bad-wf' has a problem", expected
    else:
        path, reason = expected.split(": ", 1)
        shown = f"property {path} value"
    proc = cli("preview", check=False)
    assert proc.returncode != 0
    assert shown in proc.stdout and f"has a problem: {reason}" in proc.stdout, \
        (expected, proc.stdout[-3000:])
    proc = cli("up", "--yes", check=False)
    assert proc.returncode != 0
    assert shown in proc.stdout and f"has a problem: {reason}" in proc.stdout
    assert write_calls(kfp_server.url) == {}
    assert {p.pipeline_id for p in pipelines(kfp_client(kfp_server.url))} == before


# --- c. secrets --------------------------------------------------------------------------------

TOKEN = "canary-token-5b0e9f1c7d"


def test_a_secret_token_reaches_no_state_log_or_server_file(tmp_path, kfp_server):
    body = ("wf = project.new_workflow(name='wf', kind='kfp', code_src='pipeline.py', "
            "handler='pipe')\n"
            "task = wf.run(action='pipeline', name='nightly', schedule='5 4 * * *')\n"
            "pulumi.export('schedule_id', task.recurring_run_id)\n")
    project = write_project(tmp_path / "p", body, name="secret")
    cli = Cli(project, tmp_path)
    cli.init(kfp_server.url)
    cli("config", "set", "--secret", "dh-kfp:token", TOKEN)
    cli("up", "--yes")
    cli("preview", "--refresh", "--expect-no-changes")
    exported = cli("stack", "export").stdout
    assert TOKEN not in exported
    stack_file = (project / "Pulumi.local.yaml").read_text()
    assert "dh-kfp:token:" in stack_file and "secure:" in stack_file  # set, encrypted
    cli("destroy", "--yes")

    assert all(TOKEN not in text for text in cli.transcript)
    assert files_without(TOKEN, cli.home, cli.backend, project, kfp_server.data_dir) > 5


# --- d. parallelism ----------------------------------------------------------------------------

def test_twenty_workflows_and_schedules_under_pulumis_parallelism(tmp_path, kfp_server):
    body = ("for i in range(20):\n"
            "    wf = project.new_workflow(name=f'wf-{i:02d}', kind='kfp',\n"
            "                              code_src='pipeline.py', handler='pipe')\n"
            "    wf.run(action='pipeline', name=f'nightly-{i:02d}', schedule=f'{i} 4 * * *')\n")
    project = write_project(tmp_path / "p", body, name="many")
    cli = Cli(project, tmp_path)
    cli.init(kfp_server.url)
    cli("up", "--yes")  # Pulumi's default parallelism

    client = kfp_client(kfp_server.url)
    names = [p.display_name for p in pipelines(client) if p.display_name.startswith("many-")]
    assert sorted(names) == [f"many-wf-{i:02d}" for i in range(20)]
    ours = [r for r in recurring_runs(client) if r.display_name.startswith("many-")]
    assert len(ours) == 20 and all(r.status == "ENABLED" for r in ours)
    assert len({r.display_name for r in ours}) == 20
    for p in pipelines(client):
        if p.display_name.startswith("many-"):
            versions = client.list_pipeline_versions(p.pipeline_id).pipeline_versions
            assert len(versions) == 1, p.display_name

    reset(kfp_server.url)
    cli("up", "--yes")
    assert write_calls(kfp_server.url) == {}
    cli("destroy", "--yes")
    assert not [p for p in pipelines(client) if p.display_name.startswith("many-")]


# --- e. the KFP server killed mid-up -----------------------------------------------------------

def test_kfp_killed_during_up_then_the_next_up_converges_without_duplicates(tmp_path):
    from dh_kfp_pulumi.server import lifecycle

    data = tmp_path / "kfp-data"
    info = lifecycle.start(data)
    port = int(info.url.rsplit(":", 1)[1])
    body = ("for i in range(8):\n"
            "    wf = project.new_workflow(name=f'wf-{i}', kind='kfp',\n"
            "                              code_src='pipeline.py', handler='pipe')\n"
            "    wf.run(action='pipeline', name=f'nightly-{i}', schedule=f'{i} 4 * * *')\n")
    project = write_project(tmp_path / "p", body, name="crash")
    cli = Cli(project, tmp_path)
    try:
        cli.init(info.url)
        up = cli.popen("up", "--yes")
        deadline = time.monotonic() + 300
        while sum(write_calls(info.url).values()) < 6:
            assert up.poll() is None, up.stdout.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        import os
        os.kill(info.pid, signal.SIGKILL)
        output = up.communicate(timeout=600)[0]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "kfp-killed-during-up.txt").write_text(output)
        assert up.returncode != 0
        # What Pulumi reports: each operation in flight fails with the provider's message
        # (KFP unreachable); the update ends with errors, nothing is left pending.
        assert "error" in output.lower()
        lifecycle.stop(data)  # clear the stale pid file if any
        info = lifecycle.start(data, port=port)

        cli("up", "--yes")
        client = kfp_client(info.url)
        names = sorted(p.display_name for p in pipelines(client))
        assert names == [f"crash-wf-{i}" for i in range(8)], names
        for p in pipelines(client):
            versions = client.list_pipeline_versions(p.pipeline_id).pipeline_versions
            assert len(versions) == 1, p.display_name
        enabled = [r for r in recurring_runs(client) if r.status == "ENABLED"]
        assert sorted(r.display_name for r in enabled) == \
            sorted(f"crash-wf-{i}-nightly-{i}" for i in range(8)), \
            [r.display_name for r in recurring_runs(client)]
        reset(info.url)
        cli("up", "--yes")
        assert write_calls(info.url) == {}
        cli("destroy", "--yes")
    finally:
        lifecycle.stop(data)


# --- f. pulumi import and adopt= ---------------------------------------------------------------

def test_pulumi_import_is_refused_and_adopt_takes_a_hand_made_pipeline(tmp_path, kfp_server):
    from pulumi_cli_kit import PIPELINE

    props = {"project": "x", "name": "y", "kind": "kfp", "handler": "pipe",
             "code": PIPELINE % {"function": "adder"},
             "functions": [{"name": "adder", "kind": "python", "code": ADDER, "handler": "add"}]}
    package = tmp_path / "hand.yaml"
    package.write_text(reconcile.workflow.build(props, BackendConfig()).yaml)
    client = kfp_client(kfp_server.url)
    made = client.upload_pipeline(str(package), pipeline_name="hand-made").pipeline_id

    body = ("wf = project.new_workflow(name='wf', kind='kfp', code_src='pipeline.py', "
            f"handler='pipe', adopt={made!r})\n"
            "pulumi.export('pipeline_id', wf.pipeline_id)\n"
            "pulumi.export('version_id', wf.version_id)\n")
    project = write_project(tmp_path / "p", body, name="imp")
    cli = Cli(project, tmp_path)
    cli.init(kfp_server.url)
    cli("up", "--yes")
    exports = cli.exports()
    assert exports["pipeline_id"] == made  # adopted, not a second pipeline
    versions = client.list_pipeline_versions(made, page_size=50).pipeline_versions
    assert exports["version_id"] in {v.pipeline_version_id for v in versions}
    assert not [p for p in pipelines(client) if p.display_name == "imp-wf"]

    # `pulumi import` cannot take a dynamic-provider resource: Pulumi's dynamic provider
    # reads the serialized provider from the resource's own state, which an import lacks.
    before = cli("stack", "export").stdout
    proc = cli("import", "pulumi-python:dynamic/dh-kfp:Workflow", "imp-other", made, "--yes",
               check=False)
    assert proc.returncode != 0
    assert "KeyError: '__provider'" in proc.stdout
    assert json.loads(cli("stack", "export").stdout)["deployment"]["resources"] == \
        json.loads(before)["deployment"]["resources"]
    cli("destroy", "--yes")


# --- g. the component tree ---------------------------------------------------------------------

def test_the_project_component_tree_as_pulumi_shows_it(tmp_path, kfp_server):
    body = ("wf = project.new_workflow(name='wf', kind='kfp', code_src='pipeline.py', "
            "handler='pipe')\n"
            "wf.run(action='pipeline', name='nightly', schedule='5 4 * * *')\n")
    project = write_project(tmp_path / "p", body, name="tree")
    cli = Cli(project, tmp_path)
    cli.init(kfp_server.url)
    cli("up", "--yes")
    state = json.loads(cli("stack", "export").stdout)
    resources = {r["urn"]: r for r in state["deployment"]["resources"]}
    by_name = {urn.rsplit("::", 1)[-1]: r for urn, r in resources.items()}
    project_urn = by_name["tree"]["urn"]
    assert by_name["tree"]["type"] == "dh-kfp:index:Project"
    for child in ("tree-wf", "tree-wf-nightly"):
        assert by_name[child]["parent"] == project_urn, (child, by_name[child].get("parent"))
    shown = cli("stack", "--show-urns").stdout
    assert "dh-kfp:index:Project" in shown and "tree-wf-nightly" in shown
    cli("destroy", "--yes")


# --- h. the dev stack with the pulumi-kubernetes provider rendering YAML -----------------------

def _k8s_provider() -> str | None:
    from kfp_kit import engine_bin

    return engine_bin("pulumi-resource-kubernetes")


def test_the_dev_stack_renders_the_secret_and_pvc_its_task_mounts(tmp_path, kfp_server):
    import yaml
    from parking_kit import copy_project

    if _k8s_provider() is None:
        pytest.skip("pulumi-resource-kubernetes not built (scripts/engines.sh)")
    project = copy_project(tmp_path / "project")
    (project / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    cli = Cli(project, tmp_path, stack="dev")
    cli("stack", "init", "dev", stack=False)
    rendered = tmp_path / "rendered"
    # render instead of applying; the provider refuses a kube context beside it
    cli("config", "rm", "kubernetes:context")
    cli("config", "set", "kubernetes:renderYamlToDirectory", str(rendered))

    # preview: the dev stack as written (its KFP unreachable here); no cluster, no KFP call
    ops = cli.preview_ops()
    assert ("create", "parking-credentials") in ops and ("create", "parking-data") in ops, ops
    assert ("create", "parking-workflow-nightly") in ops, ops

    # up against the embedded server: the provider writes the manifests instead of applying
    cli("config", "set", "dh-kfp:host", kfp_server.url)
    cli("config", "set", "dh-kfp:verify_ssl", "false")
    cli("up", "--yes")
    docs = [d for f in sorted(rendered.rglob("*.yaml"))
            for d in yaml.safe_load_all(f.read_text()) if d]
    kinds = {d["kind"]: d for d in docs}
    secret, claim = kinds["Secret"], kinds["PersistentVolumeClaim"]
    assert secret["metadata"]["namespace"] == claim["metadata"]["namespace"] == "parking-dev"

    state = json.loads(cli("stack", "export", "--show-secrets").stdout)
    task = next(r for r in state["deployment"]["resources"]
                if r["urn"].endswith("::parking-workflow-nightly"))
    assert task["inputs"]["secrets"] == [secret["metadata"]["name"]]
    assert task["inputs"]["volumes"][0]["name"] == claim["metadata"]["name"]
    # and the KFP version the schedule runs mounts exactly those
    client = kfp_client(kfp_server.url)
    schedule = client.get_recurring_run(task["outputs"]["recurring_run_id"])
    ref = schedule.pipeline_version_reference
    spec = json.dumps(client.get_pipeline_version(ref.pipeline_id, ref.pipeline_version_id)
                      .pipeline_spec)
    assert secret["metadata"]["name"] in spec and claim["metadata"]["name"] in spec
    cli("destroy", "--yes")
