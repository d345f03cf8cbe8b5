"""A tiny two-step KFP pipeline compiled by the real KFP compiler, with a hook per step."""

# no `from __future__ import annotations`: KFP reads component annotations as types

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler, dsl


@dsl.component(base_image="python:3.11-slim")
def produce(text: str) -> str:
    return text.upper()


@dsl.container_component
def consume(message: str):
    return dsl.ContainerSpec(image="alpine:3.20", command=["echo"], args=[message])


class Compiled:
    """The compiled IR: its text, the pipeline spec and the Kubernetes platform spec."""

    def __init__(self, text: str):
        self.text = text
        docs = list(yaml.safe_load_all(text))
        self.pipeline = docs[0]
        self.platform = docs[1] if len(docs) > 1 else None

    def executor(self, name: str) -> dict[str, Any]:
        """The platform config of one step's executor (`exec-produce`, `exec-consume`)."""
        assert self.platform is not None, "the IR has no platform section"
        return self.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][name]

    def container(self, name: str) -> dict[str, Any]:
        return self.pipeline["deploymentSpec"]["executors"][name]["container"]

    def task(self, name: str) -> dict[str, Any]:
        return self.pipeline["root"]["dag"]["tasks"][name]


@pytest.fixture
def compile_with(tmp_path: Path) -> Callable[[Callable[[dsl.PipelineTask], None]], Compiled]:
    """compile_with(hook) compiles the pipeline with hook(task) called on each of its steps."""
    counter = iter(range(1000))

    def run(hook: Callable[[dsl.PipelineTask], None]) -> Compiled:
        @dsl.pipeline(name="pod-settings")
        def pipeline(text: str = "hello"):
            first = produce(text=text)
            second = consume(message=first.output)
            hook(first)
            hook(second)

        path = tmp_path / f"pipeline-{next(counter)}.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        return Compiled(path.read_text())

    return run
