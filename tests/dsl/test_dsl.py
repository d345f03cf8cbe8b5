"""pipeline_context() / pc.step(...): the seed's semantics and every bad step argument.

Steps are created for real inside a kfp pipeline, with a factory that makes a python
component per step (what the build does, minus source loading).
"""

from __future__ import annotations

import math
import re

import pytest
from kfp import dsl as kfp_dsl
from kfp.dsl import pipeline_channel

from dh_kfp_pulumi import components, dsl
from dh_kfp_pulumi.dsl import pipeline_context
from dh_kfp_pulumi.errors import BuildError

SOURCE = "def run(**kwargs):\n    return kwargs\n"


class Factory:
    def __init__(self, names=("downloader-funct", "extract-parkings")):
        self.names = list(names)
        self.calls: list[dsl.StepCall] = []

    def function_names(self):
        return self.names

    def create_task(self, call):
        self.calls.append(call)
        function = components.StepFunction(
            name=call.function,
            kind="python",
            source=SOURCE,
            filename="run.py",
            module_name="run",
            handler="run",
        )
        component = components.python_component(call, function, "python:3.11")
        return component(**components.task_arguments(components.classify(call)))


def run(handler, factory=None, params="url: str"):
    """Run `handler(url)` as a kfp pipeline under an active dh-kfp context."""
    factory = factory or Factory()
    namespace = {"handler": handler}
    code = f"def pipe({params}):\n    handler({params.split(':')[0]})\n"
    exec(compile(code, "pipe.py", "exec", dont_inherit=True), namespace)
    with dsl.activate(factory) as context:
        kfp_dsl.pipeline(name="t")(namespace["pipe"])
    return context, factory


def seed_handler(url):
    with pipeline_context() as pc:
        step1 = pc.step(
            name="download",
            function="downloader-funct",
            action="job",
            inputs={"url": url},
            outputs={"dataset": "dataset"},
        )
        pc.step(
            name="extract_parking",
            function="extract-parkings",
            action="job",
            inputs={"di": step1.outputs["dataset"]},
            outputs={"parkings": "parkings"},
        )


def test_seed_steps_chain_outputs_into_inputs():
    context, factory = run(seed_handler)
    first, second = context.steps
    assert [s.name for s in context.steps] == ["download", "extract_parking"]
    assert isinstance(first.outputs["dataset"], pipeline_channel.PipelineArtifactChannel)
    assert first.outputs["dataset"].task_name == "download"
    assert second.task.name == "extract-parking"
    di = factory.calls[1].inputs["di"]
    assert isinstance(di, pipeline_channel.PipelineArtifactChannel)
    assert (di.task_name, di.name) == ("download", "dataset")
    url = factory.calls[0].inputs["url"]
    assert isinstance(url, pipeline_channel.PipelineParameterChannel) and url.task_name is None
    assert list(first.outputs) == ["dataset"] and len(first.outputs) == 1
    assert "dataset" in first.outputs and "nope" not in first.outputs
    assert first.outputs.get("nope") is None


def test_values_are_string_outputs_and_parameters_reach_the_call():
    def handler(url):
        with pipeline_context() as pc:
            s = pc.step(
                name="count",
                function="downloader-funct",
                inputs={"url": url},
                parameters={"limit": 3, "opts": {"b": 1, "a": [1, 2]}},
                values=["rows", "first"],
            )
            assert s.call.action == "job"  # the default action
            pc.step(
                name="use",
                function="extract-parkings",
                inputs={"n": s.outputs["rows"]},
            )

    context, factory = run(handler)
    count = factory.calls[0]
    assert count.values == ("first", "rows")  # order has no meaning: sorted
    assert count.parameters == {"limit": 3, "opts": {"b": 1, "a": [1, 2]}}
    rows = context.steps[0].outputs["rows"]
    assert isinstance(rows, pipeline_channel.PipelineParameterChannel)
    assert rows.channel_type == "String"


def test_keys_are_sorted_whatever_their_order():
    def handler(url):
        with pipeline_context() as pc:
            pc.step(
                name="a",
                function="downloader-funct",
                inputs={"z": 1, "b": url, "m": "x"},
                outputs={"y": "Y", "c": "C"},
            )

    _, factory = run(handler)
    assert list(factory.calls[0].inputs) == ["b", "m", "z"]
    assert list(factory.calls[0].outputs) == ["c", "y"]


def test_pipeline_context_outside_a_build_is_a_clear_error():
    only = r"pipeline_context\(\) is only available while dh-kfp builds"
    with pytest.raises(BuildError, match=only), pipeline_context():
        pass
    with pytest.raises(BuildError, match="pipeline_context"):
        seed_handler("https://example.org/x.csv")


def test_contexts_do_not_leak_after_the_build():
    run(seed_handler)
    with pytest.raises(BuildError), pipeline_context():
        pass


def _step_error(**step):
    """The BuildError of one bad pc.step(...) after a good first step `s1`."""

    def handler(url):
        with pipeline_context() as pc:
            s1 = pc.step(
                name="download",
                function="downloader-funct",
                inputs={"url": url},
                outputs={"dataset": "dataset"},
                values=["size"],
            )
            kwargs = {"name": "second", "function": "extract-parkings", **step}
            for key, value in list(kwargs.items()):
                if callable(value):
                    kwargs[key] = value(s1, url)
            pc.step(**kwargs)

    with pytest.raises(BuildError) as info:
        run(handler)
    return str(info.value)


def test_unknown_function_lists_the_known_ones():
    msg = _step_error(function="no-such")
    assert "step 'second'" in msg and "function" in msg and "'no-such'" in msg
    assert "['downloader-funct', 'extract-parkings']" in msg
    assert "test_dsl.py:" in msg  # where in the handler


def test_duplicate_step_names():
    msg = _step_error(name="download")
    assert "name: is used by an earlier step" in msg and "'download'" in msg


def test_names_that_clash_as_kfp_task_names():
    msg = _step_error(name="Download")
    assert "KFP task name 'download'" in msg and "like step 'download'" in msg


@pytest.mark.parametrize("name", ["", "  ", "___", 7])
def test_bad_step_names(name):
    msg = _step_error(name=name)
    assert "name:" in msg and repr(name) in msg


@pytest.mark.parametrize("action", ["serve", "pipeline", "build", None])
def test_actions_other_than_job(action):
    msg = _step_error(action=action)
    assert "action: must be one of ['job']" in msg and repr(action) in msg


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (object(), "a object is none of these"),
        (math.nan, "NaN"),
        ({1: "x"}, "dict keys must be strings"),
        (lambda s1, url: [url], "not inside a list or dict"),
        (lambda s1, url: s1, "step.outputs['key']"),
        (lambda s1, url: s1.outputs, "step.outputs['key']"),
        ({1, 2}, "a set is none of these"),
    ],
)
def test_inputs_that_are_no_literal_parameter_or_output(value, hint):
    if callable(value):
        msg = _step_error(inputs=lambda s1, url: {"di": value(s1, url)})
    else:
        msg = _step_error(inputs={"di": value})
    assert "inputs.di: must be a literal" in msg or "inputs.di: pass one output" in msg
    assert hint in msg


def test_parameters_are_checked_like_inputs():
    msg = _step_error(parameters={"p": object()})
    assert "parameters.p: must be a literal" in msg


def test_an_undeclared_output_names_the_step_and_the_declared_ones():
    msg = _step_error(inputs=lambda s1, url: {"di": s1.outputs["datasets"]})
    assert "step 'download': outputs['datasets'] is not declared" in msg
    assert "['dataset', 'size']" in msg


@pytest.mark.parametrize(
    "step",
    [
        {"inputs": {"x": 1}, "parameters": {"x": 2}},
        {"inputs": {"x": 1}, "outputs": {"x": "x"}},
        {"parameters": {"x": 1}, "values": ["x"]},
        {"outputs": {"x": "x"}, "values": ["x"]},
    ],
)
def test_a_name_used_twice_across_fields(step):
    msg = _step_error(**step)
    assert "name 'x' is already used in" in msg


@pytest.mark.parametrize("bad", ["a-b", "class", "_x", "Output", "1x", ""])
@pytest.mark.parametrize("field", ["inputs", "parameters", "outputs"])
def test_names_that_are_no_identifier(field, bad):
    value = "name" if field == "outputs" else 1
    msg = _step_error(**{field: {bad: value}})
    assert f"{field}: name must be a Python identifier" in msg and repr(bad) in msg


def test_bad_values():
    assert "values: must be a list of names" in _step_error(values="size")
    assert "values[1]: must be a Python identifier" in _step_error(values=["ok", "not ok"])
    assert "values[1]: is listed twice" in _step_error(values=["a", "a"])


def test_bad_outputs():
    assert "outputs: must be a dict" in _step_error(outputs=["dataset"])
    assert "outputs.d: must be a non-empty artifact name" in _step_error(outputs={"d": ""})
    assert "outputs.d: must be a non-empty artifact name" in _step_error(outputs={"d": 3})
    assert "inputs: must be a dict" in _step_error(inputs=[1])


def test_literals_are_normalised():
    assert dsl._literal((1, "a", None, {"k": (True, 2.5)})) == [1, "a", None, {"k": [True, 2.5]}]
    assert dsl.literal_json({"b": 1, "a": [2]}) == '{"a":[2],"b":1}'


def test_importing_the_dsl_loads_no_kfp():
    """Pipeline files import it: kfp (half a second) loads only when a build runs."""
    import subprocess
    import sys

    code = "import sys, dh_kfp_pulumi.dsl; assert 'kfp' not in sys.modules, 'kfp loaded'"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def _call(**arguments):
    return dsl.StepCall(name="s", function="f", action="job", inputs=arguments, parameters={},
                        outputs={}, values=(), where="p.py:3")  # fmt: skip


@pytest.mark.parametrize(
    ("source", "arguments", "problem"),
    [
        ("def run(a, b=1):\n    pass\n", {"a": 1}, None),
        ("def run(a, b=1):\n    pass\n", {"a": 1, "b": 2}, None),
        ("def run(**kwargs):\n    pass\n", {"anything": 1}, None),
        ("def run(a, **kw):\n    pass\n", {"a": 1, "z": 2}, None),
        ("def run(*args, a):\n    pass\n", {"a": 1}, None),
        ("def run(*, a, b=2):\n    pass\n", {"a": 1}, None),
        ("import functools\n\n@functools.cache\ndef run(x):\n    pass\n", {"y": 1}, None),
        ("def run(a, b=1):\n    pass\n", {"a": 1, "c": 3},
         "p.py:3: step 's': inputs.c: function 'f' (handler 'run', f.py:1) has no parameter "
         "'c'; it takes: a, b"),
        ("def run(a, b=1):\n    pass\n", {"b": 2},
         "needs 'a', which the step gives in neither its inputs nor its parameters"),
        ("def run(*, a, b=2):\n    pass\n", {"b": 1}, "needs 'a'"),
        ("def run(a, /, b):\n    pass\n", {"a": 1, "b": 2}, "has no parameter 'a'"),
        ("\n\ndef run():\n    pass\n", {"a": 1}, "(handler 'run', f.py:3) has no parameter "
                                                   "'a'; it takes: no arguments"),
    ],
)  # fmt: skip
def test_step_arguments_against_the_handler_signature(source, arguments, problem):
    """Read with ast: unknown names and missing required ones are refused; **kwargs takes
    anything, and a decorated handler is not judged (its decorator may change it)."""
    function = components.StepFunction(name="f", kind="python", source=source,
                                       filename="f.py", module_name="f", handler="run")  # fmt: skip
    if problem is None:
        components.check_signature(_call(**arguments), function)
        return
    with pytest.raises(BuildError) as info:
        components.check_signature(_call(**arguments), function)
    assert problem in str(info.value)


def test_pc_step_outside_its_block_says_where_and_how():
    def after_the_block(url):
        with pipeline_context() as pc:
            pass
        pc.step(name="s", function="downloader-funct", inputs={"url": url})

    def on_the_manager(url):
        pc = pipeline_context()
        pc.step(name="s", function="downloader-funct", inputs={"url": url})

    with pytest.raises(BuildError, match=r"test_dsl.py:\d+: pc.step\(...\) is called outside"):
        run(after_the_block)
    with pytest.raises(BuildError, match=r"test_dsl.py:\d+: pipeline_context\(\).step is used "
                                         r"without a `with` block"):  # fmt: skip
        run(on_the_manager)


@pytest.mark.parametrize("name", ["../<x> y", "a.b", "x" * 64, "-lead"])
def test_step_names_kfp_cannot_take_as_task_names(name):
    msg = _step_error(name=name)
    assert "name: must be letters, digits, '-' or '_', starting with a letter or digit" in msg


def test_an_undeclared_output_says_where():
    msg = _step_error(inputs=lambda s1, url: {"di": s1.outputs["datasets"]})
    assert re.search(r"test_dsl.py:\d+: step 'download': outputs\['datasets'\]", msg), msg
