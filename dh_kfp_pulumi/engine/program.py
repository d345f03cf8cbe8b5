"""Run a Pulumi Python program in this process against our resource monitor.

What `pulumi-language-python-exec` does under the Pulumi CLI, minus the gRPC hop: stack
config set in the SDK (`pulumi.Config` works), `Settings` with our monitor and engine
objects (the SDK calls their methods with the same protobuf requests it would send over
gRPC), then `run_in_stack(runpy.run_path(program))`, which waits for every outstanding
registration. The run gets a fresh contextvars context and event loop, so runs do not
leak into each other, and modules imported from the program's directory are dropped
afterwards (the next run sees edited code, as a new `pulumi up` process would).

One part of the SDK is replaced while our engine runs a program: the final wait for the
outstanding outputs (`wait_for_rpcs`), which waits on all of them again each time one
completes, quadratic in the outputs (a program of 200 workflows has thousands); ours
waits on each batch once (`pulumi_internals.batched_output_wait`).
"""

from __future__ import annotations

import contextvars
import gc
import logging
import runpy
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import pulumi.runtime.stack
from google.protobuf import empty_pb2
from pulumi.runtime.proto import resource_pb2

from dh_kfp_pulumi.engine.sandbox import program_sandbox
from dh_kfp_pulumi.errors import DhKfpError
from dh_kfp_pulumi.pulumi_internals import batched_output_wait

_NOT_SUPPORTED = "does not support"


class Monitor:
    """The ResourceMonitor service, answered by a deployment (see `deploy.Deployment`)."""

    FEATURES = (resource_pb2.RESOURCE_MONITOR_FEATURE_SECRETS,)

    def __init__(self, deployment: Any):
        self._d = deployment

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method names)
        return self._d.register_resource(request)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        self._d.register_outputs(request)
        return empty_pb2.Empty()

    def SupportsFeature(self, request: Any) -> Any:  # noqa: N802
        supported = {"secrets"}
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id in supported)

    def GetDeploymentInfo(self, request: Any) -> Any:  # noqa: N802
        return resource_pb2.DeploymentInfo(supportedFeatures=list(self.FEATURES))

    def SignalAndWaitForShutdown(self, request: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()

    def Invoke(self, request: Any) -> Any:  # noqa: N802
        raise self._d.unsupported(
            f"the function {request.tok!r} (an invoke) needs its provider plugin, which only the "
            "Pulumi CLI runs")

    def Call(self, request: Any) -> Any:  # noqa: N802
        raise self._d.unsupported(f"the method call {request.tok!r} needs the Pulumi CLI")

    def ReadResource(self, request: Any) -> Any:  # noqa: N802
        raise self._d.unsupported(
            f"reading an existing resource ({request.type} {request.name!r}: `.get()` or a "
            "StackReference) needs the Pulumi CLI")

    def RegisterStackTransform(self, request: Any) -> Any:  # noqa: N802
        raise self._d.unsupported("stack transforms need the Pulumi CLI")

    RegisterStackInvokeTransform = RegisterStackTransform

    def RegisterPackage(self, request: Any) -> Any:  # noqa: N802
        raise self._d.unsupported(f"the package {request.name!r} needs the Pulumi CLI")


class Engine:
    """The Engine service: the program's log messages."""

    def __init__(self, deployment: Any):
        self._d = deployment

    def Log(self, request: Any) -> Any:  # noqa: N802
        self._d.log(request.severity, request.message, request.urn)
        return empty_pb2.Empty()

    def RequirePulumiVersion(self, request: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()


def run_program(program: Path, *, project: str, stack: str, root: Path,
                config: Mapping[str, str], secret_keys: Sequence[str], preview: bool,
                monitor: Monitor, engine: Engine) -> str | None:
    """Run the program; what it failed with, if it did (once every RPC has finished)."""
    return contextvars.Context().run(
        _run, program, project, stack, root, config, secret_keys, preview, monitor, engine)


def _run(program: Path, project: str, stack: str, root: Path, config: Mapping[str, str],
         secret_keys: Sequence[str], preview: bool, monitor: Monitor,
         engine: Engine) -> str | None:
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.configure(pulumi.runtime.Settings(
        project=project, stack=stack, monitor=monitor, engine=engine, dry_run=preview,
        root_directory=str(root), organization="organization"))
    asyncio_logger = logging.getLogger("asyncio")
    old_level = asyncio_logger.level
    # Like the language host: asyncio's complaints about futures left by a failed program
    # are noise (pulumi-language-python-exec silences them the same way).
    asyncio_logger.setLevel(logging.CRITICAL)
    message = None
    try:
        with program_sandbox(program, program) as loop, batched_output_wait():

            def main() -> None:
                runpy.run_path(str(program), run_name="__main__")

            loop.run_until_complete(pulumi.runtime.run_in_stack(main))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 (reported by the caller)
        message = program_error(exc)
        exc.__traceback__ = None
        del exc
    finally:
        # Outputs of a failed program hold futures whose errors nobody retrieved: collect
        # them while asyncio is silenced, not later in the middle of other output.
        gc.collect()
        asyncio_logger.setLevel(old_level)
    return message


def program_error(exc: BaseException) -> str:
    """What the user reads: our errors' and Pulumi's RunError's messages as they are, the
    SDK's "CLI does not support" for what it means here, else the program's traceback."""
    if isinstance(exc, (DhKfpError, pulumi.RunError)):
        return str(exc)
    message = explain_sdk_error(str(exc))
    if message != str(exc):
        return message
    if isinstance(exc, SystemExit):
        return f"the program exited with code {exc.code}"
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"the program failed:\n{text.rstrip()}"


def explain_sdk_error(message: str) -> str:
    """The SDK's "The Pulumi CLI does not support X" said for what it is here."""
    if "The Pulumi CLI " + _NOT_SUPPORTED in message:
        feature = message.split(_NOT_SUPPORTED, 1)[1].split(". Please", 1)[0].strip()
        return (f"dh-kfp's offline engine does not support {feature}; run this program with "
                "the Pulumi CLI")
    return message


def unsupported_options(request: Any) -> list[str]:
    """The resource options of a RegisterResource request the offline engine does not do."""
    problems = []
    if request.importId:
        problems.append("`import` (bring existing objects under management with the "
                        "resource's own `adopt` input instead)")
    if list(request.aliasURNs) or list(request.aliases):
        problems.append("`aliases`")
    if request.remote:
        problems.append("multi-language (remote) components")
    if request.HasField("replacement_trigger"):
        problems.append("`replacement_trigger`")
    for option, paths in (("ignore_changes", request.ignoreChanges),
                          ("replace_on_changes", request.replaceOnChanges)):
        nested = [p for p in paths if p != "*" and not p.isidentifier()]
        if nested:
            problems.append(f"nested `{option}` paths {nested} (top-level keys only)")
    return problems
