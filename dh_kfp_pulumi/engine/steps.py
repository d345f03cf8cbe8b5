"""The step runner: what the engine does to one resource once the program registered it
(check, diff, create/update/replace, or only record a component), the deletions after the
program, and the one dynamic-provider process that carries them out. `Deployment` (the
monitor's side and the operations) hands each registration here and keeps the books
(steps, errors, the state through its ledger)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pulumi.runtime.proto import resource_pb2

from dh_kfp_pulumi.engine import props as P
from dh_kfp_pulumi.engine.provider import ProviderError, ProviderProcess
from dh_kfp_pulumi.engine.result import STACK_TYPE, Step
from dh_kfp_pulumi.engine.state import ResourceState, delete_order
from dh_kfp_pulumi.errors import DhKfpError

if TYPE_CHECKING:
    from dh_kfp_pulumi.engine.deploy import Deployment


class Refused(DhKfpError):
    """Raised into the program for a registration the engine does not carry out."""


class StepRunner:
    """The steps of one deployment, on its provider process."""

    def __init__(self, deployment: Deployment):
        self.d = deployment
        self._provider: ProviderProcess | None = None

    def component(self, request: Any, urn: str, news: P.Props,
                   old: ResourceState | None) -> Any:
        op = "create" if old is None else ("same" if old.inputs == news else "update")
        with self.d._lock:
            self.d.ledger.record(self._entry(request, urn, inputs=news,
                                     outputs=old.outputs if old else {}))
            self.d._done(Step(op, urn, request.type, custom=False,
                            keys=tuple(P.changed_keys(old.inputs, news)) if old else ()))
        return resource_pb2.RegisterResourceResponse(urn=urn, object=P.to_struct({}))

    def custom(self, request: Any, urn: str, news: P.Props, old: ResourceState | None) -> Any:
        provider = self.provider()
        name, type_ = request.name, request.type
        ignore = list(request.ignoreChanges)
        if old is not None and ignore:
            news = P.apply_ignore_changes(news, old.inputs, ignore)
        try:
            inputs, failures = provider.check(urn, name, type_, old.inputs if old else {}, news)
        except ProviderError as exc:
            self.d._fail(str(exc))
        if failures:
            self.d._fail(f"{type_} {name!r} has invalid inputs:\n" + "\n".join(
                f"    {prop + ': ' if prop else ''}{reason}" for prop, reason in failures))
        keys: tuple[str, ...]
        replaces: tuple[str, ...]
        if old is None:
            op, keys, replaces, dbr = "create", (), (), False
        else:
            try:
                diff = provider.diff(urn, name, type_, old.id, old.outputs, inputs, old.inputs,
                                     ignore)
            except ProviderError as exc:
                self.d._fail(str(exc))
            keys = diff.keys or tuple(P.changed_keys(old.inputs, inputs))
            changes = diff.changes if diff.changes is not None else bool(keys)
            replaces = tuple(diff.replaces)
            triggers = list(request.replaceOnChanges)
            if "*" in triggers:
                replaces = tuple(sorted(set(replaces) | set(keys)))
            else:
                replaces = tuple(sorted(set(replaces) | (set(keys) & set(triggers))))
            op = "same" if not changes else ("replace" if replaces else "update")
            if not changes:
                keys, replaces = (), ()
            dbr = (request.deleteBeforeReplace if request.deleteBeforeReplaceDefined
                   else diff.delete_before_replace)
        step = Step(op, urn, type_, keys=tuple(keys), replaces=tuple(replaces))
        secret_outputs = list(request.additionalSecretOutputs)

        if self.d.preview:
            outputs = old.outputs if old is not None and op == "same" else inputs
            id_ = old.id if old is not None and op in ("same", "update") else ""
            with self.d._lock:
                self.d.ledger.record(self._entry(request, urn, id_=id_, inputs=inputs, outputs=outputs))
                self.d._done(step)
            return resource_pb2.RegisterResourceResponse(urn=urn, id=id_,
                                                         object=P.to_struct(outputs))

        if old is None:  # op == "create"
            id_, outputs = self._mutate("create", urn, lambda: provider.create(
                urn, name, type_, inputs, secret_outputs))
        elif op == "same":
            id_, outputs = old.id, old.outputs
        elif op == "update":
            id_ = old.id
            outputs = self._mutate("update", urn, lambda: provider.update(
                urn, name, type_, old.id, old.outputs, inputs, old.inputs, secret_outputs,
                ignore))
        else:  # replace
            if old.protect:
                self.d._fail(f"{type_} {name!r} must be replaced ({', '.join(replaces)}) but is "
                           "protected; set protect=False and run up again")
            if dbr:
                if not old.retain_on_delete:
                    self._mutate("delete", urn, lambda: provider.delete(
                        urn, name, type_, old.id, old.outputs, old.inputs))
                self.d.ledger.mark_seen(urn)  # the old one is gone from the state
            id_, outputs = self._mutate("create", urn, lambda: provider.create(
                urn, name, type_, inputs, secret_outputs))
            if not dbr:
                self.d.ledger.condemn(old)
        with self.d._lock:
            self.d.ledger.record(self._entry(request, urn, id_=id_, inputs=inputs, outputs=outputs))
            self.d._done(step)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_,
                                                     object=P.to_struct(outputs))

    def delete_all(self, entries: Sequence[ResourceState]) -> None:
        for entry in delete_order(entries):
            if entry.type == STACK_TYPE and self.d.operation != "destroy":
                continue
            op = "delete-replaced" if entry.delete else "delete"
            step = Step(op, entry.urn, entry.type, custom=entry.custom)
            if self.d.preview:
                self.d._done(step)
                continue
            if entry.protect:
                self.d._error(f"{entry.type} {entry.name!r} is protected and cannot be deleted; "
                            "set protect=False and run up first")
                return
            if entry.custom and not entry.retain_on_delete:
                try:
                    self._mutate("delete", entry.urn, lambda e=entry: self.provider()
                                 .delete(e.urn, e.name, e.type, e.id, e.outputs, e.inputs))
                except Refused:
                    return
            with self.d._lock:
                self.d.ledger.forget(entry)
                self.d._done(step)

    def _mutate(self, op: str, urn: str, call: Any) -> Any:
        """A provider call that changes KFP, recorded in the state while it runs."""
        with self.d.ledger.operation(op, urn):
            try:
                return call()
            except ProviderError as exc:
                self.d._fail(str(exc))

    def _entry(self, request: Any, urn: str, *, id_: str = "", inputs: P.Props,
               outputs: P.Props) -> ResourceState:
        return ResourceState(
            urn=urn, type=request.type, custom=bool(request.custom), id=id_,
            parent=request.parent or "", inputs=inputs, outputs=outputs,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns)
                                   for k, v in request.propertyDependencies.items()},
            protect=bool(request.protect), retain_on_delete=bool(request.retainOnDelete))

    def provider(self) -> ProviderProcess:
        with self.d._lock:
            if self._provider is None:
                try:
                    provider = ProviderProcess(
                        self.d.project.program, self.d.project.name, self.d.config.values,
                        self.d.config.secret_keys,
                        self.d.store.path.with_suffix(".provider.log"),
                        on_message=self.d._provider_message)
                    provider.configure(self.d.config.values, self.d.config.secret_keys)
                except ProviderError as exc:
                    self.d._fail(str(exc))
                self._provider = provider
            return self._provider

    def close(self) -> None:
        if self._provider is not None:
            self._provider.close()
            self._provider = None
