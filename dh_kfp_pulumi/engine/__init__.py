"""dh-kfp's offline engine: deploys a Pulumi Python program without the Pulumi CLI.

It plays the Pulumi engine's part for programs whose custom resources are Pulumi dynamic
resources (plus components): the program runs in this process and registers its
resources with our resource monitor; one real dynamic-provider server
(`python -m pulumi.dynamic`) is driven over gRPC with Configure, Check, Diff, Create,
Update, Delete and Read, exactly as the engine calls it; the stack's state is a JSON file
written once per command, with a journal of what each step changed (replayed if the
command was killed). It is the deployment harness of the tests and what
`dh-kfp up/preview/refresh/destroy` use where the `pulumi` CLI is missing. With the CLI,
use `pulumi up`: Pulumi's own engine and state (the two states are separate).

    from dh_kfp_pulumi import engine
    result = engine.up("path/to/project", "local")            # -> Result
    engine.preview("path/to/project", "local", refresh=True)  # plan only, drift included
    engine.refresh(...); engine.destroy(...)

A failure raises `DeploymentError` (its `result` holds what was done). What it does not
reproduce of the Pulumi engine is listed in docs/decisions.md ("Offline engine").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from dh_kfp_pulumi.engine.deploy import (
    Deployment,
    DeploymentError,
    Result,
    Step,
)
from dh_kfp_pulumi.engine.display import Printer
from dh_kfp_pulumi.engine.project import (
    Project,
    ProjectError,
    Secret,
    find_project,
    load_stack_config,
)
from dh_kfp_pulumi.engine.provider import ProviderError
from dh_kfp_pulumi.engine.state import (
    ResourceState,
    State,
    StateError,
    StateStore,
    default_state_dir,
    delete_order,
)

PathLike = str | os.PathLike[str]

__all__ = [
    "DeploymentError", "Project", "ProjectError", "ProviderError", "ResourceState", "Result",
    "Secret", "State", "StateError", "StateStore", "Step", "delete_order", "destroy",
    "find_project", "load_state", "preview", "refresh", "state_file", "up",
]


def up(program_dir: PathLike | None = None, stack: str = "dev", *,
       state_dir: PathLike | None = None, config_overrides: Mapping[str, Any] | None = None,
       refresh: bool = False, out: TextIO | None = None) -> Result:
    """Deploy: create, update, replace and delete until the stack matches the program."""
    return _run("up", program_dir, stack, state_dir, config_overrides, out, refresh=refresh)


def preview(program_dir: PathLike | None = None, stack: str = "dev", *,
            state_dir: PathLike | None = None, config_overrides: Mapping[str, Any] | None = None,
            refresh: bool = False, out: TextIO | None = None) -> Result:
    """The plan of an `up` (check and diff only; nothing changes, the state is not written).
    With `refresh`, the resources are read first (in memory), so drift shows as changes."""
    return _run("preview", program_dir, stack, state_dir, config_overrides, out, refresh=refresh)


def refresh(program_dir: PathLike | None = None, stack: str = "dev", *,
            state_dir: PathLike | None = None, config_overrides: Mapping[str, Any] | None = None,
            out: TextIO | None = None) -> Result:
    """Read every resource from KFP into the state (drift becomes the recorded state)."""
    return _run("refresh", program_dir, stack, state_dir, config_overrides, out)


def destroy(program_dir: PathLike | None = None, stack: str = "dev", *,
            state_dir: PathLike | None = None, config_overrides: Mapping[str, Any] | None = None,
            out: TextIO | None = None) -> Result:
    """Delete every resource of the stack, dependents first."""
    return _run("destroy", program_dir, stack, state_dir, config_overrides, out)


def state_file(program_dir: PathLike | None, stack: str,
               state_dir: PathLike | None = None) -> Path:
    project = find_project(program_dir)
    return _store(project, stack, state_dir).path


def load_state(program_dir: PathLike | None, stack: str,
               state_dir: PathLike | None = None) -> State:
    project = find_project(program_dir)
    return _store(project, stack, state_dir).load()


def _store(project: Project, stack: str, state_dir: PathLike | None) -> StateStore:
    directory = Path(state_dir).expanduser().resolve() if state_dir else \
        default_state_dir(project.root)
    return StateStore(directory, project.name, stack)


def _run(operation: str, program_dir: PathLike | None, stack: str,
         state_dir: PathLike | None, config_overrides: Mapping[str, Any] | None,
         out: TextIO | None, refresh: bool = False) -> Result:
    project = find_project(program_dir)
    config = load_stack_config(project, stack, config_overrides)
    store = _store(project, stack, state_dir)
    if config.source is None and not store.path.exists():
        # Pulumi deploys only stacks that exist (`pulumi stack init`): a typo must not
        # deploy a new, empty-config stack.
        known = sorted(p.name[len("Pulumi."):-len(".yaml")]
                       for p in project.stack_config_dir.glob("Pulumi.*.yaml"))
        raise ProjectError(
            f"stack {stack!r} does not exist: no {project.stack_file(stack)} and no state "
            f"{store.path}; stacks: {', '.join(known) or 'none'} (an empty stack file "
            "starts a new stack)")
    with store.locked():
        deployment = Deployment(project, stack, config, store, Printer(out),
                                operation=operation, preview=operation == "preview")
        return deployment.run(refresh=refresh)
