"""Secrets never reach a field KFP stores in plain text.

A run's `inputs`, a job's `parameters`, `envs`, `labels` and `description` end up in KFP as they are (the run,
the recurring run, the pipeline version, the step's environment and its log), whatever
Pulumi's state does with them. Dynamic providers cannot receive secrets, so both engines
unwrap them before the provider sees them: only here, on the program side, does an Output
still know it is secret. Each Output in such a field is checked, and a secret one fails the
program with the field's path and the way that works instead (a Kubernetes Secret named in
the Task's `secrets`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pulumi import Output

from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.pulumi_internals import event_loop

PLAIN_FIELDS = ("inputs", "parameters", "envs", "labels", "description")

INSTEAD = (
    "is a secret, and KFP keeps this field in plain text (in the run or recurring run, the "
    "pipeline version, the step's environment and its logs), so it may not go there; put the "
    "value in a Kubernetes Secret and name it in the Task's `secrets` (`name` mounts it at "
    "/etc/secrets/<name>, `name:KEY` sets the env var KEY from it)"
)


def refuse_secrets(subject: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """`props` with every Output in its plain-text fields failing the program if secret."""
    return {k: _walk(subject, k, v) if k in PLAIN_FIELDS else v for k, v in props.items()}


def _walk(subject: str, path: str, value: Any) -> Any:
    if isinstance(value, Output):
        return _checked(subject, path, value)
    if isinstance(value, Mapping):
        return {k: _walk(subject, f"{path}.{k}", v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk(subject, f"{path}[{i}]", v) for i, v in enumerate(value)]
    return value


def _checked(subject: str, path: str, output: Output) -> Output:
    secret_future: asyncio.Future[bool] = asyncio.ensure_future(output.is_secret(),
                                                                loop=event_loop())
    secretness: Output[bool] = Output.from_input(secret_future)

    def plain(pair: list[Any]) -> Any:
        value, secret = pair
        if secret:
            raise SpecError(subject, [FieldProblem(path, INSTEAD)])
        return value

    # a nested Output inside (an Output of a dict of Outputs) is checked when it resolves
    return Output.all(output, secretness).apply(plain)
