"""The engine's part of a deployment: the steps Pulumi's engine takes for each resource.

For each registration from the program, in the order they arrive (one step at a time):
`Check(olds=previous inputs, news=program's inputs)`; failures end the deployment.
Not in state: `Create`. In state: `Diff(olds=previous outputs, news=checked inputs)`:
no change keeps the state and hands the old outputs back; changes without replacement
`Update`; with replacement, `Create` the new one and `Delete` the old one after the
program (or `Delete` first when `delete_before_replace`). When the program ends, what
the state holds and the program did not register is deleted, dependents first. What a
step changes is appended to the state's journal as it is made (with the call to KFP in
flight, so an interrupted deployment is reported next time), and the state file is
written once, at the end. A preview checks and diffs only; `refresh` reads each
resource and keeps what the provider reports (an empty id drops it); `destroy` deletes
everything, dependents first.

This module is the deployment's side facing the program (the monitor's registrations) and
its operations; `steps.StepRunner` takes each step, `ledger.Ledger` writes the state.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pulumi.runtime.proto import engine_pb2, resource_pb2

from dh_kfp_pulumi.engine import props as P
from dh_kfp_pulumi.engine.display import Printer
from dh_kfp_pulumi.engine.ledger import Ledger
from dh_kfp_pulumi.engine.program import Engine, Monitor, run_program, unsupported_options
from dh_kfp_pulumi.engine.project import Project, StackConfig
from dh_kfp_pulumi.engine.provider import ProviderError
from dh_kfp_pulumi.engine.result import STACK_TYPE, Result, Step
from dh_kfp_pulumi.engine.state import ResourceState, StateStore, now
from dh_kfp_pulumi.engine.steps import Refused as _Refused
from dh_kfp_pulumi.engine.steps import StepRunner
from dh_kfp_pulumi.errors import DhKfpError

DYNAMIC_PREFIX = "pulumi-python:dynamic"


class DeploymentError(DhKfpError):
    """The deployment failed; `result` holds the steps done before it did."""

    def __init__(self, message: str, result: Result):
        super().__init__(message)
        self.result = result


class Deployment:
    def __init__(self, project: Project, stack: str, config: StackConfig, store: StateStore,
                 printer: Printer, *, operation: str, preview: bool):
        self.project, self.stack, self.config, self.store = project, stack, config, store
        self.printer, self.operation, self.preview = printer, operation, preview
        self.ledger = Ledger(store, persist=not preview)
        self.state = self.ledger.state  # the same object, for the monitor's side
        self.persist = self.ledger.persist
        self.steps: list[Step] = []
        self.errors: list[str] = []
        self._started = time.monotonic()
        self._lock = self.ledger.lock  # the ledger, the steps and errors
        self._step_lock = threading.Lock()  # one step at a time
        self.runner = StepRunner(self)
        self._step_failed = False
        self._closed = False
        self._interrupted = list(self.state.pending_operations)
        self._stack_urn = ""

    # ---- operations -----------------------------------------------------------------------

    def run(self, refresh: bool = False) -> Result:
        self.printer.banner(self.operation, self.project.name, self.stack, self.preview,
                            self.store.path, self.config.source)
        for op in self._interrupted:
            self.printer.warning(
                f"the previous deployment was interrupted during the {op.get('op')} of "
                f"{op.get('urn')}; KFP may hold an object the state does not record (the "
                "resource adopts it by name on its next create), or lack one it records "
                "(`dh-kfp refresh` finds out)")
        if self.persist:
            self.state.pending_operations = []
        try:
            if refresh or self.operation == "refresh":
                self.refresh()
                if self.operation == "refresh" and not self.errors:
                    self.runner.close()
                    self.refresh_exports()
            if self.operation in ("up", "preview") and not self.errors:
                self.update()
            elif self.operation == "destroy" and not self.errors:
                self.destroy()
        finally:
            self.runner.close()
        self.state.last_update = {"operation": self.operation, "finished": now(),
                                  "result": "failed" if self.errors else "succeeded"}
        if self.persist:
            with self._lock:
                self.ledger.save()
        result = Result(
            operation=self.operation, project=self.project.name, stack=self.stack,
            preview=self.preview, steps=list(self.steps),
            resources={r.urn: r for r in self.state.resources if not r.delete},
            exports=P.unwrap_secrets(self.state.exports), state_file=self.store.path,
            duration=time.monotonic() - self._started, errors=list(self.errors))
        self.printer.summary(result, self.state.exports)
        if self.errors:
            raise DeploymentError(
                f"{self.operation} of {self.project.name}/{self.stack} failed:\n"
                + "\n".join(f"  - {e}" for e in self.errors), result)
        return result

    def refresh(self) -> None:
        """Read every custom resource; keep what the provider reports."""
        for entry in list(self.state.resources):
            if not entry.custom:
                continue
            try:
                new_id, outputs, inputs = self.runner.provider().read(
                    entry.urn, entry.name, entry.type, entry.id, entry.outputs, entry.inputs)
            except ProviderError as exc:
                self._error(str(exc))
                return
            except _Refused:  # the provider server did not start (already reported)
                return
            with self._lock:
                if not new_id:
                    self.ledger.forget(entry)
                    step = Step("delete", entry.urn, entry.type, phase="refresh")
                else:
                    keys = set(P.changed_keys(entry.outputs, outputs))
                    if inputs is not None:
                        keys.update(P.changed_keys(entry.inputs, inputs))
                    drift = bool(keys) or new_id != entry.id
                    self.ledger.refreshed(entry, new_id, inputs, outputs)
                    step = Step("update" if drift else "same", entry.urn, entry.type,
                                keys=tuple(sorted(keys)), phase="refresh")
                self._done(step)

    def refresh_exports(self) -> None:
        """The stack outputs after a refresh, as `pulumi refresh --run-program` gives them:
        the program runs again as a preview over the refreshed state, so an output made of
        a resource's (a run's `state`) shows what KFP holds. Kept as they were when the
        program would change something (those outputs would be guesses), saying so."""
        self.ledger.flush()  # the replay reads the state file and this journal
        replay = Deployment(self.project, self.stack, self.config, self.store, Printer(None),
                            operation="preview", preview=True)
        try:
            result = replay.run()
        except DeploymentError as exc:
            self.printer.warning("stack outputs not updated: the program failed ("
                                 f"{'; '.join(exc.result.errors)[:300]})")
            return
        changes = result.changed()
        if changes:
            self.printer.info(
                f"stack outputs kept from the last up: the program would change {len(changes)} "
                f"resource(s) ({', '.join(s.name for s in changes)}); `dh-kfp up` updates them")
            return
        if not self.state.resources:
            return
        with self._lock:
            changed = sorted(k for k in set(replay.state.exports) | set(self.state.exports)
                             if replay.state.exports.get(k) != self.state.exports.get(k))
            self.ledger.set_exports(replay.state.exports)
        if changed:
            self.printer.info(f"stack outputs updated: {', '.join(changed)}")

    def update(self) -> None:
        """`up` (or its preview): run the program, then delete what it no longer declares."""
        self.ledger.begin_update()
        # Old copies left by an earlier, failed deployment go first, as Pulumi's do.
        leftovers = list(self.ledger.pending)
        if leftovers and not self.preview:
            self.runner.delete_all(leftovers)
            if self.errors:
                return
        failure = run_program(
            self.project.program, project=self.project.name, stack=self.stack,
            root=self.project.root, config=self.config.values,
            secret_keys=self.config.secret_keys, preview=self.preview,
            monitor=Monitor(self), engine=Engine(self))
        with self._step_lock:  # waits for a step still in flight
            self._closed = True
        if failure is not None and not self._step_failed:
            self._error(failure)
        if self.errors:
            return  # like Pulumi: nothing is deleted after a failed program or step
        self.runner.delete_all(self.ledger.condemned())

    def destroy(self) -> None:
        self.runner.delete_all(list(self.state.resources))
        if not self.errors:
            self.ledger.set_exports({})

    # ---- the resource monitor's side --------------------------------------------------------

    def register_resource(self, request: Any) -> Any:
        urn = self._make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            with self._lock:
                self._stack_urn = urn
                old = self.ledger.old.get(urn)
                self.ledger.record(ResourceState(urn=urn, type=STACK_TYPE, custom=False,
                                           outputs=old.outputs if old else {}))
                self._done(Step("same" if old else "create", urn, STACK_TYPE, custom=False))
            return resource_pb2.RegisterResourceResponse(urn=urn)
        with self._step_lock:
            if self._closed:
                raise _Refused(f"{urn}: registered after the program ended")
            if self._step_failed:
                raise _Refused(f"{urn}: not deployed: an earlier step failed")
            if urn in self.ledger.seen:
                self._fail(f"duplicate resource URN {urn}: two {request.type} resources are "
                           f"named {request.name!r} under the same parent; names must differ")
            self._check_options(request, urn)
            news = P.from_struct(request.object)
            old = self.ledger.old.get(urn)
            if not request.custom:
                return self.runner.component(request, urn, news, old)
            if request.provider or not request.type.startswith(DYNAMIC_PREFIX):
                self._fail(
                    f"{request.type} {request.name!r} is not a Pulumi dynamic resource: its "
                    "provider plugin runs only under the Pulumi CLI (`pulumi up`). dh-kfp's "
                    "offline engine deploys dynamic resources and components only.")
            return self.runner.custom(request, urn, news, old)

    def register_outputs(self, request: Any) -> None:
        outputs = P.from_struct(request.outputs)
        with self._lock:
            self.ledger.set_outputs(request.urn, outputs)
            if request.urn == self._stack_urn:
                self.ledger.set_exports(outputs)

    def log(self, severity: int, message: str, urn: str) -> None:
        where = f"{urn.split('::', 3)[-1]}: " if urn else ""
        if severity == engine_pb2.ERROR:
            with self._lock:
                self.errors.append(f"{where}{message}")
            self.printer.error(f"{where}{message}")
        elif severity == engine_pb2.WARNING:
            self.printer.warning(f"{where}{message}")
        elif severity == engine_pb2.INFO:
            self.printer.info(f"{where}{message}")

    def _provider_message(self, severity: str, message: str) -> None:
        """What a provider logged with pulumi.log (the runs a delete waits for, ...)."""
        if severity == "warning":
            self.printer.warning(message)
        else:
            self.printer.info(message)

    def unsupported(self, message: str) -> DhKfpError:
        self._error(f"dh-kfp's offline engine: {message}")
        self._step_failed = True
        return _Refused(message)

    # ---- bookkeeping ------------------------------------------------------------------------

    def _done(self, step: Step) -> None:
        self.steps.append(step)
        self.printer.step(step, self.preview)

    def _error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)
        self.printer.error(message)

    def _fail(self, message: str) -> None:
        self._step_failed = True
        self._error(message)
        raise _Refused(message)

    def _check_options(self, request: Any, urn: str) -> None:
        problems = unsupported_options(request)
        if problems:
            self._fail(f"{request.type} {request.name!r}: dh-kfp's offline engine does not "
                       f"support {'; '.join(problems)}; use the Pulumi CLI")

    def _make_urn(self, parent: str, type_: str, name: str) -> str:
        qualified = type_
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                qualified = f"{parent_type}${type_}"
        return f"urn:pulumi:{self.stack}::{self.project.name}::{qualified}::{name}"
