"""Layer 4: Pulumi programs under `pulumi.runtime.set_mocks`.

The example program with each stack's config (local, dev, prod), and small programs
for the API's rules. The mocks are `dh-kfp plan`'s: each of our resources goes through
its provider's offline `check` (so its spec hash is real), other resources echo their
inputs and Kubernetes objects get auto-named.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from resources_kit import REPO, TOKEN, write_project

from dh_kfp_pulumi.cli.plan import PlanMocks, plan_program
from dh_kfp_pulumi.engine.mocks import run_with_mocks
from dh_kfp_pulumi.errors import DhKfpError

PARKING = REPO / "examples" / "parking"
SCHEDULES = {"local": "5 4 * * *", "dev": "0 */6 * * *", "prod": "5 4 * * *"}
PROFILES = {"local": None, "dev": "small", "prod": "standard"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def by_name(plan, kind):
    return {d.name: d for d in plan.declared if d.kind == kind}


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_the_example_per_stack(stack):
    plan = plan_program(PARKING, stack=stack)
    assert plan.problems() == []
    workflows, tasks, runs = by_name(plan, "workflow"), by_name(plan, "task"), by_name(plan, "run")
    assert list(workflows) == ["parking-workflow"]
    assert sorted(tasks) == ["parking-workflow-nightly", "parking-workflow-once"]
    assert list(runs) == ["parking-workflow-once"]

    workflow = workflows["parking-workflow"].inputs
    assert HEX64.match(workflow["spec_hash"])
    assert [f["name"] for f in workflow["functions"]] == ["downloader-funct", "extract-parkings"]
    assert all("def " in f["code"] and "code_src" not in f for f in workflow["functions"])
    assert workflow["labels"] == [f"stack={stack}"]

    nightly, once = tasks["parking-workflow-nightly"].inputs, tasks["parking-workflow-once"].inputs
    assert nightly["schedule"] == SCHEDULES[stack] and "schedule" not in once
    assert nightly.get("profile") == PROFILES[stack]
    run = runs["parking-workflow-once"]
    assert run.inputs["version_id"] == tasks["parking-workflow-once"].outputs["version_id"]
    # every KFP object this stack makes carries the stack's owner mark
    assert {d.inputs["owner"] for d in plan.declared if d.kind in ("workflow", "task", "run")} == {
        f"pulumi/{stack}"
    }
    assert run.inputs["wait"] is (stack == "local")
    assert run.inputs["inputs"]["url"].startswith("file://" if stack == "local" else "https://")

    if stack == "local":
        assert plan.others == []
        assert nightly["spec_hash"] == "" and "workflow_spec" not in nightly
        return
    # dev / prod: the namespace's Secret and PVC, made with pulumi-kubernetes, in every task
    assert sorted(plan.others) == [
        ("kubernetes:core/v1:PersistentVolumeClaim", "parking-data"),
        ("kubernetes:core/v1:Secret", "parking-credentials"),
    ]
    for task in (nightly, once):
        (secret,) = task["secrets"]
        (volume,) = task["volumes"]
        assert re.fullmatch(r"parking-credentials-[0-9a-f]{8}", secret)  # its auto-name
        assert re.fullmatch(r"parking-data-[0-9a-f]{8}", volume["name"])
        assert volume == {**volume, "volume_type": "persistent_volume_claim", "mount_path": "/data"}
        assert HEX64.match(task["spec_hash"]) and task["workflow_spec"]["functions"]
    assert nightly["spec_hash"] == once["spec_hash"] != workflow["spec_hash"]


def test_urns_and_hashes_are_stable_across_runs():
    first, second = plan_program(PARKING, stack="dev"), plan_program(PARKING, stack="dev")
    assert first.urns == second.urns and len(first.urns) == 7  # 4 ours, 2 k8s, the project
    assert (
        "urn:pulumi:dev::parking::dh-kfp:index:Project$pulumi-python:dynamic/dh-kfp:Workflow::parking-workflow"
        in first.urns
    )
    hashes = lambda plan: {(d.kind, d.name): d.spec_hash for d in plan.declared}  # noqa: E731
    assert hashes(first) == hashes(second)


class Recording(PlanMocks):
    """The plan's mocks, keeping every registration's raw inputs."""

    def __init__(self, config):
        super().__init__(config)
        self.raw: list[tuple[str, str, dict]] = []

    def new_resource(self, args):
        self.raw.append((args.typ, args.name, dict(args.inputs)))
        return super().new_resource(args)


def test_the_token_reaches_no_resource_nor_the_pickled_provider():
    from dh_kfp_pulumi.backends import config_from_mapping

    config = {
        "dh-kfp:token": TOKEN,
        "parking:kubernetes": "true",
        "parking:apiToken": "api-9d2e",
        "dh-kfp:profiles": json.dumps({"small": {"resources": {"cpu": "1"}}}),
        "parking:profile": "small",
    }
    mocks = Recording(config_from_mapping({k: v for k, v in config.items() if "dh-kfp:" in k}))
    run_with_mocks(
        PARKING / "__main__.py",
        mocks,
        project="parking",
        stack="dev",
        config=config,
        secret_keys=["dh-kfp:token", "parking:apiToken"],
    )
    ours = [inputs for typ, _, inputs in mocks.raw if "dynamic/dh-kfp" in typ]
    assert len(ours) == 4 and all(not d.problems for d in mocks.declared)
    for inputs in ours:
        assert TOKEN not in json.dumps({k: v for k, v in inputs.items() if k != "__provider"})
        assert TOKEN.encode() not in base64.b64decode(inputs["__provider"])
        assert b"api-9d2e" not in base64.b64decode(inputs["__provider"])
    secret = next(i for t, _, i in mocks.raw if t.endswith("Secret"))
    assert "API_TOKEN" in json.dumps(secret["stringData"])  # the API token went to its Secret only
    assert all(
        "api-9d2e" not in json.dumps({k: v for k, v in i.items() if k != "__provider"})
        for i in ours
    )


# ---- the API's rules, on small programs ------------------------------------------------------

HEADER = "import pulumi\nimport dh_kfp_pulumi as dh\n"


def plan_of(tmp_path: Path, body: str, config: str = "config: {}\n"):
    return plan_program(write_project(tmp_path, HEADER + body, config), stack="local")


def test_functions_declared_after_the_workflow_reach_it(tmp_path):
    plan = plan_of(
        tmp_path,
        """
project = dh.Project("demo")
workflow = project.new_workflow(name="wf", code_src="pipe.py", handler="pipe")
project.new_function(name="zeta", kind="container", image="alpine:3")
project.new_function(name="adder", kind="python", code_src="adder.py", handler="add")
workflow.run(inputs={"x": 2})
""",
    )
    assert plan.problems() == []
    (workflow,) = by_name(plan, "workflow").values()
    assert [f["name"] for f in workflow.inputs["functions"]] == ["adder", "zeta"]  # sorted
    assert workflow.inputs["functions"][0]["source_origin"] == "adder.py"  # relative, portable
    assert sorted(d.name for d in plan.declared) == ["demo-wf", "demo-wf-run", "demo-wf-run"]


def test_a_function_declared_after_the_program_ran_is_an_error(tmp_path):
    with pytest.raises(DhKfpError, match="declared too late"):
        plan_of(
            tmp_path,
            """
project = dh.Project("demo")
workflow = project.new_workflow(name="wf", code_src="pipe.py", handler="pipe")
workflow.pipeline_id.apply(
    lambda _: project.new_function(name="adder", kind="python", code_src="adder.py", handler="add")
)
""",
        )


def test_the_library_form_is_the_project_form(tmp_path):
    library = plan_of(
        tmp_path / "a",
        """
dh.new_function(project="demo", name="adder", kind="python", code_src="adder.py", handler="add")
wf = dh.new_workflow(project="demo", name="wf", kind="kfp", code_src="pipe.py", handler="pipe")
wf.run(action="pipeline", inputs={"x": 1}, name="once")
""",
    )
    project_form = plan_of(
        tmp_path / "b",
        """
project = dh.Project("demo")
project.new_function(name="adder", kind="python", code_src="adder.py", handler="add")
wf = project.new_workflow(name="wf", kind="kfp", code_src="pipe.py", handler="pipe")
wf.run(action="pipeline", inputs={"x": 1}, name="once")
""",
    )
    assert library.urns == project_form.urns
    assert [d.spec_hash for d in library.ordered()] == [d.spec_hash for d in project_form.ordered()]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "dh.new_workflow(name='wf', kind='kfp', code_src='pipe.py', handler='pipe')",
            "project: required in the library form",
        ),
        (
            "dh.Project('demo').new_workflow(name='wf', project='demo', code_src='pipe.py', handler='pipe')",
            "project: must not be set",
        ),
        (
            "dh.Project('demo').new_workflow(name='wf', code_src='pipe.py', handler='pipe').run(action='job')",
            "action: a workflow runs with action 'pipeline' (got 'job')",
        ),
        (
            "dh.Project('demo').new_workflow(name='wf', code_src='pipe.py', handler='pipe').run(nodes=1)",
            "nodes: not a setting of run(); settings: node_selector, volumes",
        ),
        (
            "dh.Project('demo').new_workflow(name='wf', code_src='pipe.py', handler='pipe').run(schedule='5 4 * * *', wait=True)",
            "wait: applies to a run; a run() with a schedule makes no run",
        ),
        (
            "w = dh.Project('demo').new_workflow(name='wf', code_src='pipe.py', handler='pipe')\nw.run(name='a')\nw.run(name='a')",
            "name: is already the name of a run of 'wf' (got 'a')",
        ),
        (
            "dh.Project('demo').new_workflow(name='wf', code_src='missing.py', handler='pipe')",
            "missing.py",
        ),
        (
            "dh.Project('demo').new_workflow(name='wf', code_src=pulumi.Output.from_input('pipe.py'), handler='pipe')",
            "code_src: must be a plain value, not an Output",
        ),
        ("dh.Project('demo')\ndh.Project('demo')", "name: is already declared in this program"),
        ("dh.Project('my project')", "name: must be letters, digits, '-' or '_'"),
        (
            "dh.Project('demo').new_workflow(name='wf', code_src='pipe.py', handler='pipe').run(name='a b')",
            "name: must be letters, digits",
        ),
    ],
)
def test_bad_declarations_fail_the_program_naming_the_field(tmp_path, body, message):
    with pytest.raises(Exception, match=re.escape(message)):
        plan_of(tmp_path, body + "\n")


def test_default_run_names_follow_program_order(tmp_path):
    plan = plan_of(
        tmp_path,
        """
project = dh.Project("demo")
project.new_function(name="adder", kind="python", code_src="adder.py", handler="add")
wf = project.new_workflow(name="wf", code_src="pipe.py", handler="pipe")
wf.run(inputs={"x": 1})
wf.run(inputs={"x": 2})
wf.run(schedule="0 * * * *", inputs={"x": 3})
wf.run(name="run-3", inputs={"x": 4})
wf.run(inputs={"x": 5})
""",
    )
    assert sorted(by_name(plan, "task")) == [
        "demo-wf-run",
        "demo-wf-run-2",
        "demo-wf-run-3",
        "demo-wf-run-4",
        "demo-wf-schedule",
    ]
    assert by_name(plan, "run")["demo-wf-run-4"].inputs["inputs"] == {"x": 5}


def test_a_function_runs_alone_as_a_job(tmp_path):
    plan = plan_of(
        tmp_path,
        """
project = dh.Project("demo")
adder = project.new_function(name="adder", kind="python", code_src="adder.py", handler="add")
adder.run(action="job", inputs={"x": 1, "word": "a"}, values=["y"], envs=[{"name": "A", "value": "1"}])
adder.run(action="job", inputs={"x": 7, "word": "b"}, values=["y"], envs=[{"name": "A", "value": "1"}], schedule="0 * * * *")
""",
    )
    assert plan.problems() == []
    job = by_name(plan, "job")["demo-adder-job"]
    assert HEX64.match(job.spec_hash) and job.outputs["pipeline_name"] == "demo-adder-job"
    assert job.inputs["envs"] == [{"name": "A", "value": "1"}] and job.ir
    tasks, runs = by_name(plan, "task"), by_name(plan, "run")
    assert sorted(tasks) == ["demo-adder-job-run", "demo-adder-job-schedule"]
    assert tasks["demo-adder-job-run"].inputs["workflow_version_id"] == job.outputs["version_id"]
    assert "envs" not in tasks["demo-adder-job-run"].inputs  # pod settings are the job's
    assert runs["demo-adder-job-run"].inputs["inputs"] == {"x": 1, "word": "a"}


def test_a_later_job_run_must_keep_the_jobs_shape(tmp_path):
    with pytest.raises(Exception, match=r"input names: differs from the first run\(\)"):
        plan_of(
            tmp_path,
            """
adder = dh.Project("demo").new_function(name="adder", kind="python", code_src="adder.py", handler="add")
adder.run(inputs={"x": 1, "word": "a"})
adder.run(inputs={"x": 1})
""",
        )


def test_kubernetes_objects_and_their_names_in_task_settings(tmp_path):
    plan = plan_of(
        tmp_path,
        """
import pulumi_kubernetes as k8s
project = dh.Project("demo")
project.new_function(name="adder", kind="python", code_src="adder.py", handler="add")
wf = project.new_workflow(name="wf", code_src="pipe.py", handler="pipe")
creds = k8s.core.v1.Secret("creds", metadata={"name": "db-creds"}, string_data={"PASSWORD": "x"})
settings = k8s.core.v1.ConfigMap("settings", data={"a": "1"})
wf.run(
    inputs={"x": 1},
    secrets=[(creds, "PASSWORD"), (creds, "user=DB_USER"), settings.metadata.name.apply(lambda n: "other")],
    volumes=[{"name": settings, "mount_path": "/etc/settings"}],
)
""",
    )
    assert plan.problems() == []
    task = by_name(plan, "task")["demo-wf-run"].inputs
    assert task["secrets"] == ["db-creds:PASSWORD", "db-creds:user=DB_USER", "other"]
    (volume,) = task["volumes"]
    assert re.fullmatch(r"settings-[0-9a-f]{8}", volume["name"])
    assert volume["volume_type"] == "config_map"
    assert HEX64.match(task["spec_hash"])  # pod settings: its own version


def test_a_wrong_kind_of_kubernetes_object_is_named(tmp_path):
    with pytest.raises(Exception, match=re.escape("secrets[0]: must be a name")):
        plan_of(
            tmp_path,
            """
import pulumi_kubernetes as k8s
wf = dh.Project("demo").new_workflow(name="wf", code_src="pipe.py", handler="pipe")
wf.run(secrets=[k8s.core.v1.ConfigMap("cm", data={})])
""",
        )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"dh-kfp:hots": "http://x"}, "dh-kfp:hots: unknown setting; valid: host,"),
        ({"dh-kfp:host": "kfp.internal"}, "dh-kfp:host: must be an http:// or https://"),
        ({"dh-kfp:profiles": "[1]"}, "dh-kfp:profiles: must map profile names"),
    ],
)
def test_a_bad_stack_config_fails_the_program_at_once(tmp_path, config, message):
    from dh_kfp_pulumi.backends import BackendConfig

    program = write_project(tmp_path, HEADER + "dh.Project('demo')\n")
    with pytest.raises(DhKfpError, match=re.escape(message)):
        run_with_mocks(
            program / "__main__.py",
            PlanMocks(BackendConfig()),
            project="demo",
            stack="x",
            config=config,
        )


def test_tasks_depend_on_the_kubernetes_objects_they_name(monkeypatch):
    from pulumi.runtime import mocks

    registered = mocks.MockMonitor.RegisterResource
    dependencies: dict[tuple[str, str], dict[str, list[str]]] = {}

    def recording(self, request):
        deps = {k: list(v.urns) for k, v in request.propertyDependencies.items()}
        dependencies[(request.type.rsplit(":", 1)[-1], request.name)] = deps
        return registered(self, request)

    monkeypatch.setattr(mocks.MockMonitor, "RegisterResource", recording)
    plan_program(PARKING, stack="prod")
    task = dependencies[("Task", "parking-workflow-nightly")]
    assert [u.rsplit("::", 1)[-1] for u in task["secrets"]] == ["parking-credentials"]
    assert [u.rsplit("::", 1)[-1] for u in task["volumes"]] == ["parking-data"]
    assert [u.rsplit("::", 1)[-1] for u in task["pipeline_id"]] == ["parking-workflow"]
    run = dependencies[("Run", "parking-workflow-once")]
    assert [u.rsplit("$", 1)[-1] for u in run["version_id"]] == [
        "pulumi-python:dynamic/dh-kfp:Task::parking-workflow-once"
    ]


def test_the_package_exports_the_api_lazily():
    import subprocess
    import sys

    import dh_kfp_pulumi as dh
    from dh_kfp_pulumi.resources import project, resources

    assert (dh.Project, dh.new_workflow, dh.new_function) == (
        project.Project,
        project.new_workflow,
        project.new_function,
    )
    assert (dh.Workflow, dh.Task, dh.Run, dh.Job) == (
        resources.Workflow,
        resources.Task,
        resources.Run,
        resources.Job,
    )
    code = "import sys, dh_kfp_pulumi.dsl; assert 'pulumi' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# ---- a DigitalHub task entity as run()'s settings ---------------------------------------------

SEED_TASK = REPO / "tests" / "fixtures" / "task-kfp-pipeline.json"
GPU_PROFILE = (
    "config:\n"
    "  dh-kfp:profiles:\n"
    "    1xa100:\n"
    "      resources: {gpu_type: nvidia.com/gpu}\n"
)
ENTITY_PROGRAM = """
project = dh.Project("demo")
project.new_function(name="adder", kind="python", code_src="adder.py", handler="add")
wf = project.new_workflow(name="wf", code_src="pipe.py", handler="pipe")
wf.run(entity="task.json", name="seed", inputs={"x": 1})
"""


def seed_task_without(*fields: str) -> str:
    entity = json.loads(SEED_TASK.read_text())
    for field in fields:
        del entity["spec"][field]
    return json.dumps(entity)


def test_the_seed_task_entity_is_refused_naming_what_kfp_cannot_express(tmp_path):
    program = write_project(tmp_path, HEADER + ENTITY_PROGRAM, GPU_PROFILE)
    (program / "task.json").write_text(SEED_TASK.read_text())
    with pytest.raises(DhKfpError) as info:
        plan_program(program, stack="local")
    text = str(info.value)
    assert text.startswith("invalid task entity task.json:")
    assert "spec.priority_class: KFP cannot express a pod's priority class" in text
    assert "spec.runtime_class: KFP cannot express a pod's runtime class" in text
    assert "(got 'test')" in text


def test_a_task_entity_sets_schedule_and_pod_settings_and_its_platform_fields_are_warned(
    tmp_path,
):
    program = write_project(tmp_path, HEADER + ENTITY_PROGRAM, GPU_PROFILE)
    (program / "task.json").write_text(seed_task_without("priority_class", "runtime_class"))
    plan = plan_program(program, stack="local")
    assert plan.problems() == []
    task = by_name(plan, "task")["demo-wf-seed"]
    assert "run" not in {d.kind for d in plan.declared}  # the entity's schedule: a Task only
    assert task.inputs["schedule"] == "5 4 * * *" and task.inputs["run_as_user"] == 1000
    assert task.inputs["profile"] == "1xa100" and task.inputs["secrets"] == ["secret-key"]
    _, platform = __import__("yaml").safe_load_all(task.ir)
    (executor,) = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values()
    assert executor["securityContext"] == {"runAsUser": "1000"}
    assert executor["nodeSelector"] == {"labels": {"node1": "value1"}}
    (warning,) = [m for m in plan.messages if "task entity" in m]
    assert warning.startswith("warning: task entity task.json: 13 field(s) not carried over")
    for field in ("id", "key", "status", "user", "metadata.created", "spec.workflow", "project"):
        assert f" {field}," in warning or warning.endswith(f" {field}")
    assert "run_as_user" not in warning and "priority_class" not in warning


def test_run_keywords_win_over_the_task_entity(tmp_path):
    program = write_project(
        tmp_path,
        HEADER
        + ENTITY_PROGRAM.replace(
            'entity="task.json"', 'entity="task.json", schedule="0 * * * *", run_as_user=0'
        ),
        GPU_PROFILE,
    )
    (program / "task.json").write_text(seed_task_without("priority_class", "runtime_class"))
    task = by_name(plan_program(program, stack="local"), "task")["demo-wf-seed"]
    assert task.inputs["schedule"] == "0 * * * *" and task.inputs["run_as_user"] == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("wf.run(priority_class='high')", "priority_class: KFP cannot express a pod's priority"),
        ("wf.run(runtime_class='gvisor')", "runtime_class: KFP cannot express a pod's runtime"),
        ("wf.run(entity={'kind': 'kfp', 'spec': {}})", "kind: must be 'kfp+pipeline' (a task)"),
        ("wf.run(entity=['x'])", "entity: must be a DigitalHub task entity"),
        ("wf.run(entity='missing.json')", "invalid task entity missing.json:\n  - cannot read"),
    ],
)
def test_run_refuses_what_kfp_cannot_express_and_bad_entities(tmp_path, call, message):
    body = "wf = dh.Project('demo').new_workflow(name='wf', code_src='pipe.py', handler='pipe')\n"
    with pytest.raises(DhKfpError, match=re.escape(message)):
        plan_of(tmp_path, body + call + "\n")


def test_a_task_secret_and_a_function_env_of_one_name_is_a_check_problem(tmp_path):
    plan = plan_of(
        tmp_path,
        """
project = dh.Project("demo")
project.new_function(name="adder", kind="python", code_src="adder.py", handler="add",
                     envs=[{"name": "TOKEN", "value": "plain"}])
wf = project.new_workflow(name="wf", code_src="pipe.py", handler="pipe")
wf.run(inputs={"x": 1}, secrets=["api:TOKEN"])
""",
    )
    ((declared, problem),) = plan.problems()
    assert (declared.kind, declared.name) == ("task", "demo-wf-run")
    assert (problem.path, problem.value) == ("secrets[0]", "api:TOKEN")
    assert "sets env var TOKEN, which function 'adder' also sets in its envs[0]" in problem.message


def test_two_declarations_sharing_one_kfp_pipeline_are_refused_naming_both(tmp_path):
    with pytest.raises(DhKfpError) as caught:
        plan_of(
            tmp_path / "wf",
            """
project = dh.Project("demo")
project.new_function(name="adder", kind="python", code_src="adder.py", handler="add")
project.new_workflow(name="my_wf", code_src="pipe.py", handler="pipe")
project.new_workflow(name="my-wf", code_src="pipe.py", handler="pipe")
""",
        )
    message = str(caught.value)
    assert "workflow 'my-wf'" in message and "workflow 'my_wf'" in message
    assert "'demo-my-wf'" in message

    with pytest.raises(DhKfpError) as caught:
        plan_of(
            tmp_path / "job",
            """
project = dh.Project("demo")
adder = project.new_function(name="adder", kind="python", code_src="adder.py", handler="add")
project.new_workflow(name="adder-job", code_src="pipe.py", handler="pipe")
adder.run(action="job", inputs={"x": 1})
""",
        )
    assert "function 'adder''s job" in str(caught.value)
    assert "workflow 'adder-job'" in str(caught.value)
