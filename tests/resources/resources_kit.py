"""Helpers shared by the resources tests: sample props, the provider server, wire helpers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kfp_kit import ADDER, PIPELINE, VENV_BIN

REPO = Path(__file__).resolve().parents[2]
TOKEN = "tok-3f9c1e7a-never-in-state"  # the stack's KFP token in these tests


class ProviderServer:
    """`python -m pulumi.dynamic`, as the Pulumi engine starts it, and a gRPC stub to it."""

    def __init__(self, cwd: Path):
        import grpc
        from pulumi.runtime.proto import provider_pb2_grpc

        env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        env["PULUMI_PROJECT"] = "proto"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pulumi.dynamic"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        line = self.proc.stdout.readline().decode().strip()
        if not line.isdigit():
            self.proc.kill()
            raise RuntimeError(f"the provider server did not start: {self.proc.stderr.read()!r}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        self.proc.kill()
        self.proc.wait(timeout=10)


def serialize(props: dict[str, Any]) -> Any:
    """Props as the engine sends them (the SDK's own serializer)."""
    from pulumi.runtime import rpc

    return asyncio.run(rpc.serialize_properties(props, {}))


def deserialize(struct: Any) -> dict[str, Any]:
    """A response's properties as the SDK reads them (unknowns kept as `Unknown`)."""
    from pulumi.runtime import rpc

    return rpc.deserialize_properties(struct, keep_unknowns=True)


def write_project(root: Path, program: str, config: str = "config: {}\n") -> Path:
    """A Pulumi project `demo` in `root`: the program's __main__.py beside the sample pipeline
    (`pipe.py`) and function (`adder.py`); returns the program's directory."""
    prog = root / "prog"
    prog.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text("name: demo\nruntime: python\nmain: prog/\n")
    (root / "Pulumi.local.yaml").write_text(config)
    (prog / "pipe.py").write_text(PIPELINE)
    (prog / "adder.py").write_text(ADDER)
    (prog / "__main__.py").write_text(program)
    return prog
