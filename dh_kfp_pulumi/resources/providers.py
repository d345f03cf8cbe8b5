"""The Pulumi dynamic providers: thin adapters over `dh_kfp_pulumi.reconcile`.

Pulumi's rules for dynamic providers, and how they are kept here:

- A provider is pickled (dill) into every resource's `__provider` property by the
  program and unpickled by the provider server (`python -m pulumi.dynamic`). These
  classes live in the installed package, so they pickle by reference; an instance holds
  no state when pickled (`__getstate__`), so `__provider` is the same few bytes in every
  stack and can never carry the token.
- `configure` (provider process only, once per provider before any other call) keeps
  the stack's `dh-kfp:` settings on the instance. Each call builds its own `Backend`
  over the process's one kfp.Client per KFP (`backends.connect`). A `read` answers
  pipelines and recurring runs from one list per project and experiment
  (`backends.snapshot`), which a create, update or delete in the process ends.
- `check` and `diff` make no network call. During a preview they get unknown values
  (`pulumi.output.Unknown`, or the wire's UNKNOWN string), mapped to
  `reconcile.UNKNOWN`; an unknown in what `check` returns goes back as the wire's UNKNOWN.
- `check` failures name the field (`volumes[1].volume_type`), so `pulumi preview`
  shows them next to the resource. A secret value in the inputs is a failure: secrets
  come from stack config only, never from inputs (they would reach KFP in clear).
- `diff` gets the old outputs (a superset of the inputs) and compares input keys only;
  `update` returns full outputs; `read` returns the live shape both as outputs and as
  inputs, so `pulumi preview --refresh` shows drift; a gone object reads as id "".
- What reconcile has to tell the user while it works (warnings of its logger: the runs
  a delete waits for or cancels) goes to `pulumi.log` (`_EngineLog`). A provider server
  has no engine connection, so pulumi.log writes it to the server's stderr, which the
  Pulumi CLI (and dh-kfp's offline engine) show.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from dh_kfp_pulumi.errors import DhKfpError, FieldProblem, SpecError
from dh_kfp_pulumi.pulumi_internals import PROVIDER_KEY

__all__ = ["DeploymentError", "JobProvider", "RunProvider", "TaskProvider", "WorkflowProvider"]


class DeploymentError(DhKfpError):
    """A create/read/update/delete that KFP refused or that failed (a run that FAILED, ...)."""


class _EngineLog(logging.Handler):
    """Records of reconcile's logger to the engine's log: warnings as `pulumi.log.warn`,
    progress (INFO: a run waited for, the embedded server started on demand) as
    `pulumi.log.info`."""

    def emit(self, record: logging.LogRecord) -> None:
        import pulumi

        try:
            if record.levelno >= logging.WARNING:
                pulumi.log.warn(self.format(record))
            else:
                pulumi.log.info(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never fail a call
            self.handleError(record)


def engine_log() -> None:
    """Send reconcile's warnings and progress to the engine's log (once per process)."""
    logger = logging.getLogger("dh_kfp_pulumi.reconcile")
    if not any(isinstance(h, _EngineLog) for h in logger.handlers):
        handler = _EngineLog(logging.INFO)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logging.getLogger("dh_kfp_pulumi.reconcile.progress").setLevel(logging.INFO)


class _Provider(ResourceProvider):
    """One kind of object (a `reconcile` module) as a Pulumi dynamic provider."""

    kind: ClassVar[str]
    # Nothing secret is ever pickled (see __getstate__): keep `__provider` readable in state.
    serialize_as_secret_always = False

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {}  # the stack config never travels with the pickled provider

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self._settings = {}

    # -- helpers --

    def _module(self) -> Any:
        from dh_kfp_pulumi import reconcile

        return reconcile.KINDS[self.kind]

    def _config(self) -> Any:
        from dh_kfp_pulumi.backends import config_from_mapping

        return config_from_mapping(self._settings)

    def _backend(self) -> Any:
        """A Backend for a call that may write: it ends the process's read snapshots."""
        from dh_kfp_pulumi.backends import Backend
        from dh_kfp_pulumi.backends.snapshot import SNAPSHOTS

        SNAPSHOTS.forget()
        return Backend(self._config())

    def _reader(self, state: Mapping[str, Any]) -> Any:
        """A Backend for `read`: the gets of a refresh answered by one list per scope."""
        from dh_kfp_pulumi.backends.snapshot import SnapshotBackend

        return SnapshotBackend(
            self._config(),
            project=str(state.get("project") or ""),
            experiment_id=str(state.get("experiment_id") or ""),
        )

    # -- the protocol --

    def configure(self, req: ConfigureRequest) -> None:
        from dh_kfp_pulumi.resources.config import provider_settings

        self._settings = provider_settings(req.config)
        engine_log()  # configure runs in the provider server only: its log goes to the engine

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        props = from_engine(news)
        secret = [FieldProblem(path, SECRET_INPUT) for path in secret_paths(news)]
        try:
            config = self._config()
        except SpecError as exc:
            return CheckResult(to_engine(props), failures(secret + list(exc.problems)))
        inputs, problems = self._module().check(props, config)
        return CheckResult(to_engine(inputs), failures(secret + list(problems)))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        plan = self._module().plan(from_engine(olds), from_engine(news))
        return DiffResult(
            changes=plan.changed,
            replaces=list(plan.replaces),
            delete_before_replace=plan.delete_before_replace,
        )

    # Our errors (KFP's refusal, a failed run, a bad spec) are re-raised here as one
    # DeploymentError: the provider server prints the traceback of what reaches it, and
    # this way it ends at this module with the message, not deep inside kfp.Client.

    def create(self, props: dict[str, Any]) -> CreateResult:
        try:
            id_, outputs = self._module().create(from_engine(props), self._backend())
        except DhKfpError as exc:
            raise DeploymentError(str(exc)) from None
        return CreateResult(id_, to_engine(outputs))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            state = from_engine(props)
            new_id, outputs, inputs = self._module().read(id_, state, self._reader(state))
        except DhKfpError as exc:
            raise DeploymentError(str(exc)) from None
        return ReadResult(new_id, to_engine(outputs), to_engine(inputs))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        try:
            outputs = self._module().update(
                id_, from_engine(olds), from_engine(news), self._backend()
            )
        except DhKfpError as exc:
            raise DeploymentError(str(exc)) from None
        return UpdateResult(to_engine(outputs))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            self._module().delete(id_, from_engine(props), self._backend())
        except DhKfpError as exc:
            raise DeploymentError(str(exc)) from None


class WorkflowProvider(_Provider):
    """A workflow: a KFP pipeline and one version per compiled spec."""

    kind = "workflow"


class TaskProvider(_Provider):
    """A task: its own version when it has pod settings, and a recurring run when scheduled."""

    kind = "task"


class RunProvider(_Provider):
    """One KFP run."""

    kind = "run"


class JobProvider(_Provider):
    """One function run alone: a one-step pipeline and a version per spec."""

    kind = "job"


# ---- values between the engine and reconcile ---------------------------------------------

SECRET_INPUT = (
    "a secret value cannot be a resource input (it would reach KFP and the state in clear); "
    "keep credentials in a Kubernetes Secret and refer to it by name (`secrets`), or in the "
    "stack config (dh-kfp:token)"
)


def _is_unknown(value: Any) -> bool:
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    return isinstance(value, Unknown) or (isinstance(value, str) and value == rpc.UNKNOWN)


def from_engine(value: Any) -> Any:
    """Engine props -> reconcile's: no `__provider`, unknowns as UNKNOWN, secrets unwrapped."""
    from pulumi.runtime import rpc

    from dh_kfp_pulumi.reconcile import UNKNOWN

    if _is_unknown(value):
        return UNKNOWN
    if rpc.is_rpc_secret(value):
        return from_engine(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {k: from_engine(v) for k, v in value.items() if k != PROVIDER_KEY}
    if isinstance(value, (list, tuple)):
        return [from_engine(v) for v in value]
    return value


def to_engine(value: Any) -> Any:
    """reconcile's values -> the engine's: UNKNOWN as the wire's unknown, tuples as lists."""
    from pulumi.runtime import rpc

    from dh_kfp_pulumi.reconcile.common import UNKNOWN, swap_unknowns

    return swap_unknowns(value, lambda v: v is UNKNOWN, rpc.UNKNOWN)


def secret_paths(value: Any, path: str = "") -> list[str]:
    """Where the engine's props hold a secret (e.g. `inputs.password`)."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return [path]
    if isinstance(value, Mapping):
        out: list[str] = []
        for k, v in value.items():
            if k != PROVIDER_KEY:
                out += secret_paths(v, f"{path}.{k}" if path else str(k))
        return out
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in secret_paths(v, f"{path}[{i}]")]
    return []


def failures(problems: list[FieldProblem]) -> list[CheckFailure]:
    """CheckFailures whose property is the field's path and whose reason says what is valid."""
    out = []
    for p in problems:
        reason = str(FieldProblem("", p.message, p.value, p.has_value))
        out.append(CheckFailure(p.path, reason))
    return out
