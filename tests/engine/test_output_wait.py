"""The final wait for a program's outputs, batched (pulumi_internals.py `_wait_for_rpcs`): the
SDK's waits on every outstanding output again each time one completes, quadratic in the
outputs of a program of hundreds of workflows. Ours must keep what the SDK's does:
every output and every output made while waiting is done before the program ends, and
an output that fails fails the program with its own error."""

from __future__ import annotations

import inspect
import textwrap

import pulumi.runtime.stack
import pytest

from dh_kfp_pulumi import engine, pulumi_internals

PROVIDER = """
import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

class Echo(ResourceProvider):
    def create(self, props):
        return CreateResult(f"e-{props['n']}", dict(props))

class Thing(Resource):
    n: pulumi.Output[float]
    def __init__(self, name, n):
        super().__init__(Echo(), name, {"n": n})
"""

PROGRAM = """
import asyncio
import pulumi
from echo_provider import Thing

async def later(value):
    await asyncio.sleep(0.01)
    return value

things = [Thing(f"t{i}", i) for i in range(30)]
total = pulumi.Output.all(*[t.n for t in things]).apply(lambda ns: sum(ns))
# an output made from another one's apply, itself waiting: created while the wait runs
chained = total.apply(lambda t: pulumi.Output.from_input(later(t * 2)))
pulumi.export("total", total)
pulumi.export("chained", chained)
if FAIL:
    things[-1].n.apply(lambda n: 1 / 0)
"""


def make(tmp_path, fail: bool):
    project = tmp_path / ("fails" if fail else "sums")
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: waits\nruntime: python\n")
    (project / "Pulumi.dev.yaml").write_text("")
    (project / "echo_provider.py").write_text(PROVIDER)
    (project / "__main__.py").write_text(textwrap.dedent(PROGRAM).replace("FAIL", str(fail)))
    return project


def test_every_output_is_awaited_and_the_sdk_wait_is_put_back(tmp_path):
    sdk_wait = pulumi.runtime.stack.wait_for_rpcs
    result = engine.up(make(tmp_path, False), "dev", state_dir=tmp_path / "state")
    assert result.exports == {"total": float(sum(range(30))), "chained": 2.0 * sum(range(30))}
    assert len([r for r in result.resources.values() if r.custom]) == 30
    assert pulumi.runtime.stack.wait_for_rpcs is sdk_wait


def test_an_output_that_fails_fails_the_program_with_its_error(tmp_path):
    with pytest.raises(engine.DeploymentError, match="ZeroDivisionError"):
        engine.up(make(tmp_path, True), "dev", state_dir=tmp_path / "state")


def test_the_sdk_wait_is_still_the_one_ours_copies():
    """An SDK upgrade that changes `wait_for_rpcs` or how `run_pulumi_func` finds it fails
    here: compare the new one with `_wait_for_rpcs` and bring the change over."""
    source = inspect.getsource(pulumi.runtime.stack.wait_for_rpcs)
    for piece in ("rpc_manager.rpcs.pop()", "rpc_manager.unhandled_exception",
                  "SETTINGS.outputs.clear()", "return_when=asyncio.FIRST_COMPLETED",
                  "SETTINGS.outputs.add(task)"):
        assert piece in source, piece
    assert "await wait_for_rpcs()" in inspect.getsource(pulumi.runtime.stack.run_pulumi_func)
    assert inspect.signature(pulumi.runtime.stack.wait_for_rpcs).parameters.keys() == \
        inspect.signature(pulumi_internals._wait_for_rpcs).parameters.keys()
