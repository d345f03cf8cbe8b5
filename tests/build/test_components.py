"""Generated step components: equal to what kfp's own @dsl.component makes of the wrapper."""

# No `from __future__ import annotations`: kfp reads `handler`'s annotations.
import dataclasses
import linecache

import pytest
from kfp import dsl as kfp_dsl
from kfp.dsl import component_factory

from dh_kfp_pulumi import components, dsl

SOURCE = "def run(**kwargs):\n    return kwargs\n"


class Factory:
    def __init__(self, requirements=()):
        self.requirements = tuple(requirements)
        self.pairs = []

    def function_names(self):
        return ["f"]

    def create_task(self, call):
        function = components.StepFunction(
            name="f",
            kind="python",
            source=SOURCE,
            filename="run.py",
            module_name="run",
            handler="run",
            requirements=self.requirements,
        )
        ours = components.python_component(call, function, "python:3.12")
        self.pairs.append((ours, reference(call, function, "python:3.12")))
        return ours(**components.task_arguments(components.classify(call)))


def reference(call, function, image):
    """kfp's @dsl.component applied to the same generated wrapper (getsource via linecache)."""
    source = components._wrapper_source(call, function, components.classify(call))
    filename = "<reference wrapper>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {
        "Input": kfp_dsl.Input,
        "Output": kfp_dsl.Output,
        "Artifact": kfp_dsl.Artifact,
        "OutputPath": kfp_dsl.OutputPath,
        "_dh_run_step": components._dh_run_step,
    }
    try:
        exec(compile(source, filename, "exec", dont_inherit=True), namespace)
        made = component_factory.create_component_from_func(
            namespace[components.WRAPPER],
            base_image=image,
            packages_to_install=list(function.requirements),
            additional_funcs=[components._dh_run_step],
        )
    finally:
        linecache.cache.pop(filename, None)
    return dataclasses.replace(made.component_spec, name=call.name)


def handler(url: str, n: int = 1):
    with dsl.pipeline_context() as pc:
        s1 = pc.step(
            name="one",
            function="f",
            inputs={"url": url, "n": n},
            parameters={"cfg": {"a": 1}, "none": None, "x": 1.5},
            outputs={"data": "data"},
            values=["count"],
        )
        pc.step(
            name="two", function="f", inputs={"d": s1.outputs["data"], "c": s1.outputs["count"]}
        )


@pytest.mark.parametrize("requirements", [(), ("pandas", "numpy>=2")])
def test_generated_components_equal_kfps_own(requirements):
    factory = Factory(requirements)
    with dsl.activate(factory):
        kfp_dsl.pipeline(name="p")(handler)
    assert len(factory.pairs) == 2
    for ours, theirs in factory.pairs:
        assert ours.component_spec == theirs
