"""build_workflow / build_function_job: the IR they produce, its hash, and build-time errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from dh_kfp_pulumi.build import build_function_job, build_workflow, pipeline_name, spec_hash_of
from dh_kfp_pulumi.errors import BuildError, SpecError
from dh_kfp_pulumi.specs import parse_function, parse_task


def documents(result):
    docs = list(yaml.safe_load_all(result.yaml))
    return docs[0], (docs[1] if len(docs) > 1 else {})


def executors(result):
    return documents(result)[0]["deploymentSpec"]["executors"]


def images(result):
    return {name: e["container"]["image"] for name, e in executors(result).items()}


def build_parking(kit, workflow=None, functions=None, **kwargs):
    return build_workflow(
        workflow or kit.parking_workflow(),
        functions or kit.parking_functions(),
        base_dir=kit.PARKING,
        **kwargs,
    )


def test_the_seed_pipeline_compiles(kit):
    result = build_parking(kit)
    assert result.pipeline_name == "parking-workflow"
    assert dict(result.parameters) == {"url": "STRING"}
    assert result.steps == ("download", "extract_parking")
    assert result.spec_hash == spec_hash_of(result.yaml)

    ir, platform = documents(result)
    assert platform == {}
    assert ir["pipelineInfo"]["name"] == "parking-workflow"
    assert ir["root"]["inputDefinitions"]["parameters"]["url"]["parameterType"] == "STRING"
    tasks = ir["root"]["dag"]["tasks"]
    assert set(tasks) == {"download", "extract-parking"}
    assert tasks["download"]["inputs"]["parameters"]["url"] == {"componentInputParameter": "url"}
    assert tasks["extract-parking"]["inputs"]["artifacts"]["di"] == {
        "taskOutputArtifact": {"outputArtifactKey": "dataset", "producerTask": "download"}
    }
    assert tasks["extract-parking"]["taskInfo"]["name"] == "extract_parking"
    assert tasks["extract-parking"]["dependentTasks"] == ["download"]
    outputs = ir["components"]["comp-extract-parking"]["outputDefinitions"]["artifacts"]
    assert outputs["parkings"]["artifactType"]["schemaTitle"] == "system.Artifact"

    # self-contained: the function's module travels in the IR, no machine path does
    program = executors(result)["exec-download"]["container"]["command"][-1]
    assert repr((kit.PARKING / "src" / "download.py").read_text()) in program
    assert (
        "def _dh_run_step(" in program
        and "def _dh_step(url: str, dataset: Output[Artifact])" in program
    )
    assert str(kit.REPO) not in result.yaml
    assert images(result) == {"exec-download": "python:3.11", "exec-extract-parking": "python:3.11"}


def test_pipeline_names_follow_kfp_rules():
    assert pipeline_name("Parking", "Work_Flow.v2") == "parking-work-flow-v2"
    assert pipeline_name("p", "x" * 200) == "p-" + "x" * 126
    with pytest.raises(BuildError, match="needs letters or digits"):
        pipeline_name("_", "__")


def test_step_images_function_then_workflow_then_default(kit):
    wf = kit.parking_workflow(image="registry.local/py", tag="3.11")
    fns = kit.parking_functions(**{"extract-parkings": {"image": "python:3.12-slim"}})
    result = build_parking(kit, wf, fns, default_image="python:3.10")
    assert images(result) == {
        "exec-download": "registry.local/py:3.11",
        "exec-extract-parking": "python:3.12-slim",
    }
    result = build_parking(kit, default_image="python:3.10")
    assert set(images(result).values()) == {"python:3.10"}


def test_requirements_become_sorted_packages_to_install(kit):
    fns = kit.parking_functions(**{"extract-parkings": {"requirements": ["pandas>=2", "numpy"]}})
    command = executors(build_parking(kit, functions=fns))["exec-extract-parking"]["container"][
        "command"
    ]
    assert "install --quiet --no-warn-script-location 'numpy' 'pandas>=2' " in command[2]
    plain = executors(build_parking(kit))["exec-download"]["container"]["command"]
    assert "numpy" not in plain[2]


HASH_SCRIPT = textwrap.dedent(
    """
    import sys
    from dh_kfp_pulumi.build import build_workflow
    from dh_kfp_pulumi.specs import parse_function, parse_workflow
    base = sys.argv[1]
    fns = [
        parse_function({"name": "downloader-funct", "kind": "python",
                        "code_src": "src/download.py", "handler": "download"}, project="parking"),
        parse_function({"name": "extract-parkings", "kind": "python",
                        "code_src": "src/extract.py", "handler": "extract"}, project="parking"),
    ]
    wf = parse_workflow({"name": "workflow", "kind": "kfp", "code_src": "pipeline.py",
                         "handler": "myhandler"}, project="parking")
    import hashlib
    built = build_workflow(wf, fns, base_dir=base)
    print(built.spec_hash, hashlib.sha256(built.yaml.encode()).hexdigest())
    """
)


def test_hash_and_bytes_are_the_same_in_fresh_processes(kit, tmp_path):
    built = build_parking(kit)
    expected = f"{built.spec_hash} {hashlib.sha256(built.yaml.encode()).hexdigest()}"
    seen = []
    for seed, cwd in (("1", tmp_path), ("2", kit.REPO)):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", HASH_SCRIPT, str(kit.PARKING)],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=120,
            check=True,
        )
        seen.append(out.stdout.strip())
    assert seen == [expected, expected]


PIPELINE = """
from dh_kfp_pulumi.dsl import pipeline_context

def pipe(url, limit: int = 5):
    with pipeline_context() as pc:
        s1 = pc.step(name="fetch", function="fetch", inputs={INPUTS},
                     outputs={"raw": "raw", "meta": "meta"}, values=["rows", "size"])
        pc.step(name="use", function="use", inputs={"data": s1.outputs["raw"], "rows": s1.outputs["rows"]},
                parameters={"opts": {"b": 1, "a": [1, 2]}, "flag": True})
"""
FETCH = "def fetch(url, limit):\n    return {'raw': b'x', 'meta': {}, 'rows': 1, 'size': 2}\n"
USE = "def use(data, rows, opts, flag):\n    return None\n"


def _demo(
    kit,
    *,
    inputs='{"url": url, "limit": limit}',
    pipeline=PIPELINE,
    fetch=FETCH,
    use=USE,
    fetch_fields=None,
    reverse=False,
    **kwargs,
):
    wf = kit.inline_workflow(pipeline.replace("{INPUTS}", inputs))
    fns = [
        kit.inline_function("fetch", fetch, "fetch", **(fetch_fields or {})),
        kit.inline_function("use", use, "use"),
    ]
    return build_workflow(wf, fns[::-1] if reverse else fns, **kwargs)


def test_the_hash_is_over_the_content_not_the_emitters_bytes(kit, tmp_path):
    """The YAML kfp's own compiler writes for the same pipeline (pure-Python emitter, other
    line folding) has the same spec hash as ours (libyaml's): docs/decisions.md."""
    from kfp.compiler import pipeline_spec_builder

    ours = build_parking(kit)
    header, body = ours.yaml.split("\n", 1)
    docs = list(yaml.safe_load_all(body))
    kfps = header + "\n" + pipeline_spec_builder.extract_comments_from_pipeline_spec(
        docs[0], None
    ) + yaml.dump_all(docs, sort_keys=True)
    assert kfps != ours.yaml  # libyaml folds long strings elsewhere
    assert spec_hash_of(kfps) == ours.spec_hash
    job = build_function_job(kit.parking_functions()[0], inputs={"url": "x"}, base_dir=kit.PARKING)
    assert not job.yaml.startswith("# dh-kfp-pulumi") and spec_hash_of(job.yaml) == job.spec_hash
    # the hash still sees the header: the same IR from other handler code is another hash
    assert spec_hash_of("# dh-kfp-pulumi: other\n" + body) != ours.spec_hash


def test_the_ir_dumper_writes_what_yamls_safe_dumper_writes(kit):
    """build's fast representer makes the same nodes as PyYAML's SafeRepresenter."""
    from dh_kfp_pulumi import build

    task = parse_task({"action": "pipeline", "node_selector": [{"key": "disk", "value": "ssd"}]})
    odd = {"a": [1, 2.5, True, None, {}, [], "", "yes", "1.0", 1e20, float("inf"), -0.0],
           "b": {"z": "x\ny", "c": [[1], {"q": "\u00e9 \t"}]}}  # fmt: skip
    for docs in (list(yaml.safe_load_all(_demo(kit, task=task).yaml)), [odd, odd]):
        assert len(docs) == 2
        assert yaml.dump_all(docs, Dumper=build._IrDumper, sort_keys=True) == yaml.dump_all(
            docs, Dumper=build._DUMPER, sort_keys=True
        )


def test_order_of_dict_keys_and_functions_does_not_matter(kit):
    base = _demo(kit)
    flipped = _demo(kit, inputs='{"limit": limit, "url": url}', reverse=True)
    # the IR is the same; the header differs only because the handler's code does
    assert flipped.yaml.split("\n", 1)[1] == base.yaml.split("\n", 1)[1]
    assert flipped.spec_hash != base.spec_hash
    assert _demo(kit, reverse=True).yaml == base.yaml
    fields = {
        "requirements": ["b-pkg", "a-pkg"],
        "envs": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
    }
    flipped = {
        "requirements": ["a-pkg", "b-pkg"],
        "envs": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
    }
    assert _demo(kit, fetch_fields=fields).yaml == _demo(kit, fetch_fields=flipped).yaml
    task = {
        "action": "pipeline",
        "envs": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
    }
    reordered = {
        "envs": [{"value": "1", "name": "X"}, {"value": "2", "name": "Y"}],
        "action": "pipeline",
    }
    assert (
        _demo(kit, task=parse_task(task)).spec_hash
        == _demo(kit, task=parse_task(reordered)).spec_hash
    )
    assert dict(base.parameters) == {"limit": "NUMBER_INTEGER", "url": "STRING"}


def test_every_kind_of_change_changes_the_hash(kit):
    base = _demo(kit).spec_hash
    variants = {
        "handler comment": _demo(kit, pipeline=PIPELINE + "# tweak\n"),
        "handler code": _demo(kit, pipeline=PIPELINE.replace("limit: int = 5", "limit: int = 6")),
        "function code": _demo(kit, fetch=FETCH + "# tweak\n"),
        "requirements": _demo(kit, fetch_fields={"requirements": ["requests"]}),
        "function image": _demo(kit, fetch_fields={"image": "python:3.12"}),
        "default image": _demo(kit, default_image="python:3.12"),
        "function envs": _demo(kit, fetch_fields={"envs": [{"name": "A", "value": "1"}]}),
        "task envs": _demo(
            kit, task=parse_task({"action": "pipeline", "envs": [{"name": "X", "value": "1"}]})
        ),
        "task node selector": _demo(
            kit,
            task=parse_task(
                {"action": "pipeline", "node_selector": [{"key": "disk", "value": "ssd"}]}
            ),
        ),
    }
    hashes = {name: r.spec_hash for name, r in variants.items()}
    assert base not in hashes.values()
    assert len(set(hashes.values())) == len(hashes), hashes


def test_an_empty_task_changes_nothing(kit):
    assert _demo(kit, task=parse_task({"action": "pipeline"})).yaml == _demo(kit).yaml


def test_task_settings_and_labels_reach_every_step(kit):
    task = parse_task(
        {
            "action": "pipeline",
            "node_selector": [{"key": "disk", "value": "ssd"}],
            "envs": [{"name": "MODE", "value": "fast"}],
        }
    )
    wf = kit.parking_workflow(labels=["team=data"])
    result = build_parking(kit, wf, task=task)
    ir, platform = documents(result)
    for name, executor in ir["deploymentSpec"]["executors"].items():
        assert {"name": "MODE", "value": "fast"} in executor["container"]["env"]
        k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][name]
        assert k8s["nodeSelector"]["labels"] == {"disk": "ssd"}
        assert k8s["podMetadata"]["labels"] == {"team": "data"}


def test_literals_parameters_and_values_in_the_ir(kit):
    ir, _ = documents(_demo(kit))
    use = ir["root"]["dag"]["tasks"]["use"]["inputs"]
    # dict/list literals travel as canonical JSON text (KFP would turn 1 into 1.0 in a struct)
    assert use["parameters"]["opts"] == {"runtimeValue": {"constant": '{"a":[1,2],"b":1}'}}
    assert use["parameters"]["flag"] == {"runtimeValue": {"constant": True}}
    assert use["parameters"]["rows"] == {
        "taskOutputParameter": {"outputParameterKey": "rows", "producerTask": "fetch"}
    }
    outputs = ir["components"]["comp-fetch"]["outputDefinitions"]
    assert set(outputs["artifacts"]) == {"meta", "raw"}
    assert outputs["parameters"] == {
        "rows": {"parameterType": "STRING"},
        "size": {"parameterType": "STRING"},
    }
    limit = ir["root"]["inputDefinitions"]["parameters"]["limit"]
    assert limit == {"defaultValue": 5, "isOptional": True, "parameterType": "NUMBER_INTEGER"}


def test_handler_parameters_types():
    from dh_kfp_pulumi.parameters import handler_signature

    def handler(a, b: int, c=1.5, d=True, e={"k": 1}, f: list = None, g: float = 2):  # noqa: B006
        pass

    # (annotations are strings here: this module uses `from __future__ import annotations`)
    params = {p.name: (p.annotation, p.default) for p in handler_signature(handler, "h")}
    assert params["a"][0] is str and params["b"][0] is int and params["c"][0] is float
    assert params["d"][0] is bool and params["e"][0] is dict and params["f"] == (list, None)
    assert params["g"] == (float, 2)


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("*urls", r"\*args/\*\*kwargs cannot be pipeline parameters"),
        ("url: bytes", "annotation .* is not a pipeline parameter type"),
        ("n: int = 'x'", "default 'x' is not a int"),
        ("_url", "must not start with '_'"),
    ],
)
def test_bad_handler_signatures(kit, signature, message):
    code = f"def pipe({signature}):\n    pass\n"
    with pytest.raises(BuildError, match=message):
        build_workflow(kit.inline_workflow(code), [])


def test_handler_errors_say_where(kit):
    code = "from dh_kfp_pulumi.dsl import pipeline_context\n\ndef pipe(url):\n    return undefined_name\n"
    with pytest.raises(
        BuildError, match=r"NameError at .*:4: name 'undefined_name' is not defined"
    ):
        build_workflow(kit.inline_workflow(code), [])
    empty = "def pipe(url):\n    pass\n"
    with pytest.raises(BuildError, match="declares no step"):
        build_workflow(kit.inline_workflow(empty), [])


def test_unknown_function_through_the_build(kit):
    with pytest.raises(BuildError) as info:
        build_parking(kit, functions=kit.parking_functions()[:1])
    assert "function: is not a function of the project; known: ['downloader-funct']" in str(
        info.value
    )
    assert "'extract-parkings'" in str(info.value) and "pipeline.py:14" in str(info.value)


def test_duplicate_function_names(kit):
    fns = kit.parking_functions() + kit.parking_functions()[:1]
    with pytest.raises(BuildError, match="two functions are named 'downloader-funct'"):
        build_parking(kit, functions=fns)


def test_a_python_function_without_its_handler(kit):
    fns = kit.parking_functions(**{"extract-parkings": {"handler": "nope"}})
    with pytest.raises(Exception, match="nope"):
        build_parking(kit, functions=fns)


def test_function_job(kit):
    fn = kit.inline_function(
        "dl", FETCH.replace("def fetch(url, limit)", "def dl(url, limit)"), "dl"
    )
    result = build_function_job(
        fn,
        inputs={"url": "file:///x", "limit": 3},
        outputs={"raw": "raw", "meta": "m"},
        values=["size", "rows"],
    )
    assert result.pipeline_name == "demo-dl-job"
    assert result.steps == ("dl",)
    assert dict(result.parameters) == {"limit": "NUMBER_INTEGER", "url": "STRING"}
    ir, _ = documents(result)
    defaults = {
        k: v["defaultValue"] for k, v in ir["root"]["inputDefinitions"]["parameters"].items()
    }
    assert defaults == {"url": "file:///x", "limit": 3}
    with pytest.raises(
        BuildError, match=r"inputs.x: must be a str, int, float, bool, dict or list"
    ):
        build_function_job(fn, inputs={"x": None})
    with pytest.raises(BuildError, match="not a valid pipeline parameter name"):
        build_function_job(fn, inputs={"a-b": 1})


def _container(**fields):
    base = {
        "name": "shout",
        "kind": "container",
        "image": "alpine:3",
        "command": ["sh", "-c"],
        "args": [
            "tr a-z A-Z < {inputs.text} > {outputs.loud}; echo {parameters.n} > {values.size}"
        ],
    }
    return parse_function({**base, **fields}, project="demo")


def test_container_functions_refer_to_inputs_and_outputs():
    result = build_function_job(
        _container(envs=[{"name": "A", "value": "1"}]),
        inputs={"text": "hello"},
        parameters={"n": 3},
        outputs={"loud": "loud"},
        values=["size"],
    )
    container = executors(result)["exec-shout"]["container"]
    assert container["image"] == "alpine:3" and container["command"] == ["sh", "-c"]
    assert json.loads(container["args"][0]) == {
        "Concat": [
            "tr a-z A-Z < ",
            "{{$.inputs.parameters['text']}}",
            " > ",
            "{{$.outputs.artifacts['loud'].path}}",
            "; echo ",
            "{{$.inputs.parameters['n']}}",
            " > ",
            "{{$.outputs.parameters['size'].output_file}}",
        ]
    }
    assert container["env"] == [{"name": "A", "value": "1"}]


def test_container_artifact_inputs_are_paths(kit):
    pipeline = """
from dh_kfp_pulumi.dsl import pipeline_context

def pipe(url):
    with pipeline_context() as pc:
        s1 = pc.step(name="fetch", function="fetch", inputs={"url": url}, outputs={"raw": "raw"})
        pc.step(name="count", function="count", inputs={"data": s1.outputs["raw"]})
"""
    count = parse_function(
        {
            "name": "count",
            "kind": "container",
            "image": "alpine:3",
            "command": ["wc", "-l", "{inputs.data}"],
        },
        project="demo",
    )
    fetch = kit.inline_function("fetch", "def fetch(url):\n    return b'x'\n", "fetch")
    result = build_workflow(kit.inline_workflow(pipeline), [fetch, count])
    assert executors(result)["exec-count"]["container"]["command"] == [
        "wc",
        "-l",
        "{{$.inputs.artifacts['data'].path}}",
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"args": ["{inputs.text}"]},
            r"never refers to \{outputs.loud\}, \{parameters.n\}, \{values.size\}",
        ),
        (
            {"args": ["{inputs.txt} {inputs.text} {outputs.loud} {parameters.n} {values.size}"]},
            r"args\[0\] refers to '\{inputs.txt\}', but the step declares inputs \['text'\]",
        ),
    ],
)
def test_container_reference_errors(fields, message):
    with pytest.raises(BuildError, match=message):
        build_function_job(
            _container(**fields),
            inputs={"text": "hi"},
            parameters={"n": 3},
            outputs={"loud": "loud"},
            values=["size"],
        )


def test_container_none_argument():
    with pytest.raises(
        BuildError, match=r"parameters.n: a container function's arguments cannot be None"
    ):
        build_function_job(
            _container(args=["{inputs.text}"]), inputs={"text": "hi"}, parameters={"n": None}
        )


def test_concurrent_builds_do_not_mix(kit):
    """The Pulumi provider builds from four threads; kfp keeps its pipeline in a global."""
    from concurrent.futures import ThreadPoolExecutor

    expected = {"parking": build_parking(kit).yaml, "demo": _demo(kit).yaml}
    jobs = ["parking", "demo"] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(
                lambda which: build_parking(kit).yaml if which == "parking" else _demo(kit).yaml,
                jobs,
            )
        )
    assert results == [expected[j] for j in jobs]


def test_function_job_errors_name_the_step_not_our_code(kit):
    fn = kit.inline_function("dl", "def dl(url):\n    return 1\n", "dl")
    with pytest.raises(BuildError) as info:
        build_function_job(fn, inputs={"url": "x"}, outputs={"bad-name": "x"})
    assert str(info.value).startswith("step 'dl': outputs: name must be a Python identifier")


def test_task_profiles_are_resolved(kit):
    profiles = {
        "ssd": {
            "node_selector": [{"key": "disk", "value": "ssd"}],
            "envs": [{"name": "MODE", "value": "slow"}],
        }
    }
    task = parse_task(
        {"action": "pipeline", "profile": "ssd", "envs": [{"name": "MODE", "value": "fast"}]}
    )
    ir, platform = documents(build_parking(kit, task=task, profiles=profiles))
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-download"]
    assert k8s["nodeSelector"]["labels"] == {"disk": "ssd"}
    env = ir["deploymentSpec"]["executors"]["exec-download"]["container"]["env"]
    assert env == [{"name": "MODE", "value": "fast"}]  # the task wins over its profile
    with pytest.raises(Exception, match="ssd"):
        build_parking(
            kit, task=parse_task({"action": "pipeline", "profile": "nvme"}), profiles=profiles
        )


def test_image_pull_secrets_reach_every_step(kit):
    _, platform = documents(build_parking(kit, image_pull_secrets=["regcred"]))
    for executor in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values():
        assert [s["secretName"] for s in executor["imagePullSecret"]] == ["regcred"]


@pytest.mark.parametrize(
    ("secrets", "index", "env"),
    [
        (["db:PASSWORD"], 0, "PASSWORD"),
        (["creds", "api:token=PASSWORD"], 1, "PASSWORD"),
    ],
)
def test_a_task_secret_setting_a_functions_env_var_is_an_error_naming_both(
    kit, secrets, index, env
):
    functions = kit.parking_functions(
        **{"extract-parkings": {"envs": [{"name": "MODE", "value": "x"},
                                         {"name": "PASSWORD", "value": "plain"}]}}
    )  # fmt: skip
    task = parse_task({"action": "pipeline", "secrets": secrets})
    with pytest.raises(SpecError) as info:
        build_parking(kit, functions=functions, task=task)
    (problem,) = info.value.problems
    assert (problem.path, problem.value) == (f"secrets[{index}]", secrets[index])
    assert problem.message.startswith(
        f"sets env var {env}, which function 'extract-parkings' also sets in its envs[1]; "
    )
    assert "'name:key=ENV'" in problem.message
    # the same through a function job, and through a profile's secrets
    with pytest.raises(SpecError, match=r"secrets\[0\]: sets env var PASSWORD"):
        build_function_job(
            functions[1],
            inputs={"di": "data.csv"},  # its handler's one parameter
            task=parse_task({"action": "pipeline", "profile": "db"}),
            profiles={"db": {"secrets": ["db:PASSWORD"]}},
            base_dir=kit.PARKING,
        )


def test_a_secret_env_var_of_a_function_no_step_uses_or_a_mounted_secret_is_fine(kit):
    functions = kit.parking_functions(
        **{"extract-parkings": {"envs": [{"name": "PASSWORD", "value": "plain"}]}}
    )
    mounted = parse_task({"action": "pipeline", "secrets": ["PASSWORD".lower()]})
    assert build_parking(kit, functions=functions, task=mounted).yaml
    other = parse_task({"action": "pipeline", "secrets": ["db:PASSWORD=DB_PASSWORD"]})
    ir, _ = documents(build_parking(kit, functions=functions, task=other))
    env = ir["deploymentSpec"]["executors"]["exec-extract-parking"]["container"]["env"]
    assert env == [{"name": "PASSWORD", "value": "plain"}]
    unused = [*kit.parking_functions(), kit.inline_function("unused", "def f():\n    pass\n", "f",
                                                             envs=[{"name": "TOKEN", "value": "t"}])]  # fmt: skip
    clash = parse_task({"action": "pipeline", "secrets": ["api:TOKEN"]})
    assert build_parking(kit, functions=unused, task=clash).yaml  # no step runs 'unused'
