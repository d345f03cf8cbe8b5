"""`dhkfp_workflow`, `dhkfp_task`, `dhkfp_run`: Terraform's calls translated into reconcile's.

One adapter class for the three kinds; all decisions are reconcile's (`check`, `plan`,
`planned_outputs`, `create`, `read`, `update`, `delete`). What is Terraform's own:

- Terraform state holds the config as written (`code_src`, not the fetched text) plus
  the outputs; sources are read (`reconcile.resolve_sources`) at each plan and apply, so
  a changed file shows as a new `spec_hash`.
- The plan promises the outputs reconcile can tell in advance and leaves the rest
  "known after apply"; `requires_replace` is reconcile's `replaces`.
- Every failure becomes a diagnostic naming the attribute; nothing raises into gRPC.
- What reconcile tells the user while it works (warnings of its logger: the runs a
  delete waits for or cancels) becomes warning diagnostics of that call, and goes to
  the provider's stderr as it happens (Terraform's log, `TF_LOG`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from tf.schema import Schema
from tf.types import Unknown
from tf.utils import Diagnostics

from dh_kfp_pulumi.errors import DhKfpError, FieldProblem, SpecError
from dh_kfp_pulumi.terraform.schema import RESOURCES, KindSchema
from dh_kfp_pulumi.terraform.wire import attribute_path, to_core, to_tf


def add_problems(
    diags: Diagnostics, problems: list[FieldProblem], spec: KindSchema | None = None
) -> None:
    """Check problems as error diagnostics: the same words as the Pulumi adapter's, at the attribute."""
    for p in problems:
        path = attribute_path(p.path, spec.roots, spec.blocks.values()) if spec else None
        reason = str(FieldProblem("", p.message, p.value, p.has_value))
        summary = f"{p.path}: {reason}" if p.path else reason
        diags.add_error(summary, "", path=path) if path else diags.add_error(summary)


def add_error(
    diags: Diagnostics, what: str, exc: BaseException, spec: KindSchema | None = None
) -> None:
    """An exception as diagnostics: field problems at their attributes, else one message."""
    if isinstance(exc, SpecError):
        add_problems(diags, list(exc.problems), spec)
    elif isinstance(exc, DhKfpError):
        diags.add_error(f"{what}: {exc}")
    else:  # a bug, but still one readable line rather than a gRPC stack
        diags.add_error(f"{what}: {type(exc).__name__}: {exc}")


class _Collect(logging.Handler):
    """Reconcile's records made on one thread (the gRPC server runs calls on several)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        message = record.getMessage()
        self.messages.append(message)
        print(f"dhkfp: {message}", file=sys.stderr, flush=True)  # Terraform's log, as it goes


@contextlib.contextmanager
def reported(diags: Diagnostics) -> Iterator[None]:
    """Reconcile's warnings during the block as warning diagnostics."""
    logger = logging.getLogger("dh_kfp_pulumi.reconcile")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        for message in handler.messages:
            diags.add_warning(message)


def unbuilt(kind: str, props: dict[str, Any]) -> dict[str, Any]:
    """Props whose build reconcile's check leaves for later: their function list gets one
    more item, not known yet.

    Check builds a workflow (and a task carrying `workflow_spec`) only when every value is
    known; with an unknown function it still checks each field and each known function,
    as for any value from a resource still to make. A list that is not a list is left as
    it is, for check to name.
    """
    from dh_kfp_pulumi.reconcile import UNKNOWN

    def more(spec: Mapping[str, Any]) -> dict[str, Any]:
        functions = spec.get("functions")
        if functions is None or isinstance(functions, list):
            return {**spec, "functions": [*(functions or []), UNKNOWN]}
        return dict(spec)

    out = more(props) if kind == "workflow" else dict(props)
    if isinstance(props.get("workflow_spec"), Mapping):
        out["workflow_spec"] = more(props["workflow_spec"])
    return out


class KindResource:
    """A reconcile kind as a `tf` Resource; subclasses name the type and the schema."""

    TYPE: str = ""
    SPEC: KindSchema

    def __init__(self, provider: Any):
        self.provider = provider

    # -- the tf framework's class interface --

    @classmethod
    def get_name(cls) -> str:
        return cls.TYPE.removeprefix("dhkfp_")

    @classmethod
    def get_schema(cls) -> Schema:
        return cls.SPEC.schema

    @property
    def core(self) -> Any:
        from dh_kfp_pulumi import reconcile

        return reconcile.KINDS[self.SPEC.kind]

    # -- state <-> props --

    def props(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The input attributes as reconcile props (nulls left out, unknowns as UNKNOWN)."""
        out: dict[str, Any] = {}
        for name in self.SPEC.inputs:
            value = state.get(name)
            if value is None:
                continue
            if name in self.SPEC.json_attrs and isinstance(value, str):
                with contextlib.suppress(ValueError):  # else check says what it must be
                    value = json.loads(value)
            out[name] = to_core(value)
        for key, block in self.SPEC.blocks.items():
            items = state.get(block)
            if items is Unknown:
                out[key] = to_core(items)
            elif items:
                out[key] = [{k: to_core(v) for k, v in i.items() if v is not None} for i in items]
        out["owner"] = self.provider.owner  # the provider's `stack`, in every object's mark
        return out

    def olds(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Props plus the outputs: what reconcile calls the previous outputs."""
        out = self.props(state)
        out.update({k: to_core(state.get(k)) for k in self.SPEC.outputs if k != "id"})
        return out

    def sourced(self, props: dict[str, Any], local_only: bool = False) -> dict[str, Any]:
        """Props with `code_src` read (relative paths from the working directory)."""
        if self.SPEC.kind != "workflow":
            return props
        from dh_kfp_pulumi.reconcile import resolve_sources

        return resolve_sources(props, os.getcwd(), local_only=local_only)

    def state(
        self, config_attrs: Mapping[str, Any], id: Any, outputs: Mapping[str, Any], inputs: Any
    ) -> dict[str, Any]:
        """A full Terraform state: input attributes as given, outputs from reconcile."""
        out = {name: config_attrs.get(name) for name in self.SPEC.inputs}
        for block in self.SPEC.blocks.values():
            out[block] = config_attrs.get(block) or []
        for name in self.SPEC.outputs:
            if name == "id":
                out[name] = to_tf(id)
            elif name == "workflow_spec":
                out[name] = self.workflow_spec(inputs)
            elif name == "spec_hash" and name not in outputs:
                out[name] = to_tf(inputs.get("spec_hash"))
            else:
                out[name] = to_tf(outputs.get(name))
        return out

    def workflow_spec(self, inputs: Mapping[str, Any]) -> Any:
        from dh_kfp_pulumi.reconcile import is_unknown, workflow

        spec = workflow.spec_for_task(inputs)
        return Unknown if is_unknown(spec) else json.dumps(spec, sort_keys=True)

    def checked(
        self, diags: Diagnostics, state: Mapping[str, Any], *, remembered: bool = False
    ) -> dict[str, Any] | None:
        """Checked inputs of a state's (or a config's) input attributes, None after problems.

        `remembered`: a clean result of an earlier process for the same props, settings
        and code may answer (`checks.py`); a plan takes it, an apply checks (and builds)
        afresh. Every clean result is remembered.
        """
        memo, configured = self.provider.checks, self.props(state)
        key = memo.key("plan", self.SPEC.kind, configured, self.provider.config)
        if remembered:
            kept = memo.get(key)
            if kept is not None:
                return kept
        try:
            props = self.sourced(configured)
        except SpecError as exc:
            add_error(diags, self.TYPE, exc, self.SPEC)
            return None
        inputs, problems = self.core.check(props, self.provider.config)
        if problems:
            add_problems(diags, problems, self.SPEC)
            return None
        memo.put(key, inputs)
        return inputs

    def backend(self) -> Any:
        return self.provider.backend()

    # -- validate and plan --

    def validate(self, diags: Diagnostics, type_name: str, config: Mapping[str, Any]) -> None:
        """Config checks before the provider is configured: no network, no stack settings.

        A `profile`, remote sources and the build are judged at plan time (they need the
        provider's `profiles`, the network, and its image and pull secrets), so here they
        count as not known yet. Without the build, validation never imports kfp: Terraform
        validates in a plugin process of its own at every plan and apply.
        """
        from dh_kfp_pulumi.backends import BackendConfig
        from dh_kfp_pulumi.reconcile import UNKNOWN

        memo, settings, configured = self.provider.checks, BackendConfig(), self.props(config)
        key = memo.key("validate", self.SPEC.kind, configured, settings)
        if memo.get(key) is not None:
            return  # found clean before, by this same code
        try:
            props = self.sourced(configured, local_only=True)
        except SpecError as exc:
            add_error(diags, type_name, exc, self.SPEC)
            return
        if props.get("profile") is not None:
            props["profile"] = UNKNOWN
        _, problems = self.core.check(unbuilt(self.SPEC.kind, props), settings)
        add_problems(diags, problems, self.SPEC)
        if not problems:
            memo.put(key, {})

    def plan_change(
        self,
        diags: Diagnostics,
        prior: Mapping[str, Any] | None,
        config: Mapping[str, Any],
        proposed: Mapping[str, Any],
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """(the planned state, attributes forcing replacement) for a create or an update."""
        news = self.checked(diags, config, remembered=True)
        if news is None:
            return None, []
        if prior is None:
            return self._planned(config, proposed, None, news, None), []
        olds = self.olds(prior)
        plan = self.core.plan(olds, news)
        if plan.replaces:  # Terraform plans the new object again with no prior state
            return self._planned(config, proposed, None, news, None), [
                self.SPEC.roots.get(k, k) for k in plan.replaces
            ]
        return self._planned(config, proposed, prior, news, olds, set(plan.changes)), []

    def _planned(
        self,
        config: Mapping[str, Any],
        proposed: Mapping[str, Any],
        prior: Mapping[str, Any] | None,
        news: Mapping[str, Any],
        olds: Mapping[str, Any] | None,
        changes: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> dict[str, Any]:
        attrs: dict[str, Any] = dict(proposed)
        defaults = self.core.DEFAULTS
        for name in self.SPEC.inputs:
            if config.get(name) is not None:
                attrs[name] = proposed.get(name)
            elif prior is None or name in changes:
                attrs[name] = defaults.get(name) if prior is not None else None
            else:
                attrs[name] = prior.get(name)  # left out, and what is deployed is the default
        outputs = self.core.planned_outputs(olds, news)
        id = prior.get("id") if prior is not None else Unknown
        return self.state(attrs, id, outputs, news)

    # -- apply --

    def create(self, ctx: Any, planned: dict[str, Any]) -> dict[str, Any] | None:
        inputs = self.checked(ctx.diagnostics, planned)
        if inputs is None:
            return None
        try:
            with reported(ctx.diagnostics):
                id, outputs = self.core.create(inputs, self.backend())
        except Exception as exc:  # noqa: BLE001 - every failure becomes a diagnostic
            add_error(ctx.diagnostics, f"cannot create {self.TYPE}", exc, self.SPEC)
            return None
        return self.state(planned, id, outputs, inputs)

    def update(
        self, ctx: Any, current: dict[str, Any], planned: dict[str, Any]
    ) -> dict[str, Any] | None:
        inputs = self.checked(ctx.diagnostics, planned)
        if inputs is None:
            return current
        try:
            with reported(ctx.diagnostics):
                outputs = self.core.update(
                    current["id"], self.olds(current), inputs, self.backend()
                )
        except Exception as exc:  # noqa: BLE001
            add_error(ctx.diagnostics, f"cannot update {self.TYPE}", exc, self.SPEC)
            return current
        return self.state(planned, current["id"], outputs, inputs)

    def delete(self, ctx: Any, current: dict[str, Any]) -> dict[str, Any] | None:
        try:
            with reported(ctx.diagnostics):
                self.core.delete(current["id"], self.olds(current), self.backend())
        except Exception as exc:  # noqa: BLE001
            add_error(ctx.diagnostics, f"cannot delete {self.TYPE}", exc, self.SPEC)
            return current
        return None

    def read(self, ctx: Any, current: dict[str, Any]) -> dict[str, Any] | None:
        """Live state: inputs that KFP shows changed (drift) replace the config's values."""
        olds = self.olds(current)
        try:
            reader = self.provider.reader(current)
            new_id, outputs, inputs = self.core.read(current["id"], olds, reader)
        except Exception as exc:  # noqa: BLE001
            add_error(ctx.diagnostics, f"cannot read {self.TYPE}", exc, self.SPEC)
            return current
        if not new_id:
            return None  # gone: Terraform plans to create it again
        attrs = dict(current)
        drifted = set(self.core.plan(olds, inputs).changes)  # a live default is no drift
        for name in self.SPEC.inputs:
            if name in drifted and name in inputs:
                attrs[name] = to_tf(inputs[name])
        state = self.state(attrs, new_id, outputs, {**olds, **inputs})
        if "workflow_spec" in self.SPEC.outputs:
            state["workflow_spec"] = current.get("workflow_spec")  # from config, not from KFP
        return state

    def import_(self, ctx: Any, id: str) -> dict[str, Any] | None:
        """`terraform import`: what KFP knows of the object (reconcile's read with no state)."""
        try:
            new_id, outputs, inputs = self.core.read(id, {}, self.backend())
        except Exception as exc:  # noqa: BLE001
            add_error(ctx.diagnostics, f"cannot import {self.TYPE}", exc, self.SPEC)
            return None
        if not new_id:
            what = {"workflow": "pipeline (id or name)", "task": "recurring run (id or name)"}
            ctx.diagnostics.add_error(
                f"cannot import {self.TYPE}: no KFP {what.get(self.SPEC.kind, 'run (id)')} {id!r}"
            )
            return None
        attrs = {name: to_tf(inputs.get(name)) for name in self.SPEC.inputs}
        return self.state(attrs, new_id, outputs, inputs)

    def upgrade(self, ctx: Any, version: int, old: dict[str, Any]) -> dict[str, Any]:
        return old  # schema version 0 only

    def plan(self, ctx: Any, current: Any, planned: dict[str, Any]) -> dict[str, Any]:
        return planned  # unused: the servicer calls plan_change


class Workflow(KindResource):
    """A KFP pipeline `<project>-<name>` with one version per compiled spec."""

    TYPE = "dhkfp_workflow"
    SPEC = RESOURCES[TYPE]


class Task(KindResource):
    """A task: its own version with pod settings, and a recurring run when scheduled."""

    TYPE = "dhkfp_task"
    SPEC = RESOURCES[TYPE]


class Run(KindResource):
    """One KFP run (immutable: new inputs or version replace it)."""

    TYPE = "dhkfp_run"
    SPEC = RESOURCES[TYPE]


RESOURCE_CLASSES = [Workflow, Task, Run]
