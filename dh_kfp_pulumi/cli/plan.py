"""`dh-kfp plan PROGRAM_DIR`: what a Pulumi program declares, checked and compiled offline.

    dh-kfp plan examples/parking --stack dev --out plan/

Runs the program under `pulumi.runtime.set_mocks` with a stack's config: the
`Pulumi.<stack>.yaml` of the project owning the program (the nearest `Pulumi.yaml` at or
above PROGRAM_DIR, and its `stackConfigDir`). Each Workflow, Job, Task and Run goes
through its provider's `check` (the validation and the build `pulumi preview` runs),
is printed with its spec hash, and each compiled IR is written to `--out` as
`<resource name>.yaml`. No KFP, no server, no network (but for sources the program
fetches itself). Exit status 1 when a check fails (each problem names its field), 2 when
the program or its config fails. A CI lint step for pipelines without a cluster.

The mocks answer for KFP: ids are `plan:...` placeholders; other resources (e.g.
pulumi-kubernetes objects) echo their inputs, and a Kubernetes object without a name
gets `<resource name>-<8 hex>` as Pulumi's auto-naming would. Config values encrypted
by Pulumi (`secure:`) cannot be read here: they read as "[secret]" unless given with
`--config`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dh_kfp_pulumi.errors import FieldProblem

KIND_ORDER = ("workflow", "job", "task", "run")
SECRET_PLACEHOLDER = "[secret]"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="run a Pulumi program offline: check and compile what it declares, write the IR",
        description=(
            "Run a Pulumi program under Pulumi's mocks with a stack's config, check every "
            "Workflow/Job/Task/Run it declares as a preview would, print them with their spec "
            "hash and write each compiled pipeline (IR YAML). No KFP, no server, no network."
        ),
    )
    parser.add_argument("program", metavar="PROGRAM_DIR", help="the program's directory (or file)")
    parser.add_argument(
        "-s", "--stack", default="local", help="stack whose config to use (default: local)"
    )
    parser.add_argument(
        "--out",
        default="dh-kfp-plan",
        metavar="DIR",
        help="where to write the IR files (default: dh-kfp-plan)",
    )
    parser.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config value over the stack's (repeatable; e.g. parking:schedule='0 * * * *')",
    )
    parser.set_defaults(func=_main)


def _main(args: Any) -> int:
    from dh_kfp_pulumi.engine.mocks import PlanError  # pulumi: only when planning
    overrides = {}
    for item in args.config:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PlanError(f"--config {item!r}: expected KEY=VALUE")
        overrides[key] = value
    plan = plan_program(args.program, stack=args.stack, overrides=overrides)
    written = plan.write_ir(Path(args.out))
    print(plan.report(written))
    return 1 if plan.problems() else 0


# ---- what was declared ----------------------------------------------------------------------


@dataclass
class Declared:
    """One of our resources as the program declared it, after its provider's check."""

    kind: str
    name: str  # the Pulumi resource name
    inputs: dict[str, Any]  # the checked inputs
    outputs: dict[str, Any]  # what the mocks answered
    problems: list[FieldProblem]
    ir: str | None = None

    @property
    def spec_hash(self) -> str:
        value = self.inputs.get("spec_hash")
        return value if isinstance(value, str) else ""


@dataclass
class Plan:
    project: str
    stack: str
    program: Path
    declared: list[Declared]
    others: list[tuple[str, str]]  # (type, name) of every other custom resource
    urns: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # what the program logged (pulumi.log)

    def problems(self) -> list[tuple[Declared, FieldProblem]]:
        return [(d, p) for d in self.declared for p in d.problems]

    def ordered(self) -> list[Declared]:
        return sorted(self.declared, key=lambda d: (KIND_ORDER.index(d.kind), d.name))

    def write_ir(self, out: Path) -> dict[tuple[str, str], Path]:
        """Each compiled IR as `<out>/<resource name>.yaml`; (kind, name) -> file."""
        written: dict[tuple[str, str], Path] = {}
        for d in self.ordered():
            if d.ir is None:
                continue
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"{d.name}.yaml"
            if path in written.values():  # a job and a workflow of the same pipeline name
                path = out / f"{d.name}.{d.kind}.yaml"
            path.write_text(d.ir, encoding="utf-8")
            written[(d.kind, d.name)] = path
        return written

    def report(self, written: Mapping[tuple[str, str], Path] | None = None) -> str:
        written = written or {}
        lines = [f"plan of {self.program} (project {self.project}, stack {self.stack})"]
        width = max([len(d.name) for d in self.declared] + [10])
        for d in self.ordered():
            lines.append(f"  {d.kind.capitalize():<9}{d.name:<{width}}  {_summary(d)}")
            if (d.kind, d.name) in written:
                lines.append(f"  {'':<9}{'':<{width}}  IR: {written[(d.kind, d.name)]}")
            for p in d.problems:
                lines.append(f"  {'':<9}! {p}")
        for message in self.messages:
            lines.append(f"  program: {message}")
        if self.others:
            # by name: Pulumi registers resources concurrently, so their order varies
            shown = ", ".join(
                f"{name} ({typ})" for typ, name in sorted(self.others, key=lambda o: (o[1], o[0]))
            )
            lines.append(f"  also declared: {shown}")
        counts = ", ".join(
            f"{n} {kind}{'s' if n != 1 else ''}"
            for kind in KIND_ORDER
            if (n := sum(d.kind == kind for d in self.declared))
        )
        problems = len(self.problems())
        lines.append(
            f"{counts or 'no KFP resources'}; {len(written)} IR file(s) written; "
            + (f"{problems} problem(s)" if problems else "no problems")
        )
        return "\n".join(lines)


def _summary(d: Declared) -> str:
    from dh_kfp_pulumi.specs import kfp_cron

    if d.kind in ("workflow", "job"):
        name = d.outputs.get("pipeline_name") or "?"
        return f"pipeline {name}, version {d.spec_hash[:16] or '?'}  sha256:{d.spec_hash or '?'}"
    if d.kind == "task":
        if d.inputs.get("spec_hash"):
            runs = f"own version {d.spec_hash[:16]} (pod settings)  sha256:{d.spec_hash}"
        else:
            runs = "runs the workflow's version"
        schedule = d.inputs.get("schedule")
        if isinstance(schedule, str) and schedule:
            try:
                cron = kfp_cron(schedule)
            except ValueError:
                cron = "?"
            return f"schedule {schedule!r} (KFP cron {cron!r}), {runs}"
        return f"no schedule, {runs}"
    inputs = json.dumps(_plain(d.inputs.get("inputs") or {}), sort_keys=True)
    return f"inputs {inputs}" + (", waits for the end" if d.inputs.get("wait") else "")


def _plain(value: Any) -> Any:
    from dh_kfp_pulumi.reconcile.common import plain_numbers

    return plain_numbers(value)


# ---- the mocks ------------------------------------------------------------------------------


def _kind_of_type(typ: str) -> str | None:
    from dh_kfp_pulumi.resources.resources import type_token

    return next((kind for kind in KIND_ORDER if type_token(kind) == typ), None)


class PlanMocks:
    """Pulumi mocks that answer for KFP by running each provider's offline `check`.

    A `pulumi.runtime.Mocks` (duck-typed, so importing this module needs no Pulumi).
    `declared` lists our resources, `others` every other custom resource, in order.
    """

    def __init__(self, config: Any):
        self.config = config
        self.declared: list[Declared] = []
        self.others: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def new_resource(self, args: Any) -> tuple[str | None, dict[str, Any]]:
        from dh_kfp_pulumi.resources.providers import from_engine

        kind = _kind_of_type(args.typ)
        props = from_engine(dict(args.inputs))
        if kind is None:
            if getattr(args, "custom", True) and not args.typ.startswith("pulumi:providers:"):
                with self._lock:
                    self.others.append((args.typ, args.name))
            return (f"{args.name}-id" if getattr(args, "custom", True) else None), _auto_named(
                args.typ, args.name, props
            )
        declared = plan_resource(kind, args.name, props, self.config)
        with self._lock:
            self.declared.append(declared)
        return str(declared.outputs.get("_id") or f"plan:{args.name}"), {
            k: v for k, v in declared.outputs.items() if k != "_id"
        }

    def call(self, args: Any) -> dict[str, Any]:
        return {}


def _auto_named(typ: str, name: str, props: dict[str, Any]) -> dict[str, Any]:
    """A Kubernetes object's props with `metadata.name` as Pulumi's auto-naming would set it."""
    if not typ.startswith("kubernetes:"):
        return props
    metadata = dict(props.get("metadata") or {})
    if not metadata.get("name"):
        suffix = hashlib.sha256(name.encode()).hexdigest()[:8]
        metadata["name"] = f"{name}-{suffix}"
    return {**props, "metadata": metadata}


def plan_resource(kind: str, name: str, props: dict[str, Any], config: Any) -> Declared:
    """Check one resource as its provider would, build its IR, and mock its outputs."""
    from dh_kfp_pulumi import reconcile
    from dh_kfp_pulumi.reconcile.common import short_hash

    module = reconcile.KINDS[kind]
    inputs, problems = module.check(props, config)
    ir = None
    if not problems:
        try:
            ir = _build(kind, module, inputs, config)
        except Exception as exc:  # noqa: BLE001 - check built it already; report, never crash
            problems = [FieldProblem("", f"the build failed: {exc}")]
    spec_hash = inputs.get("spec_hash") if isinstance(inputs.get("spec_hash"), str) else ""
    short = short_hash(spec_hash) if spec_hash else ""
    out: dict[str, Any] = dict(inputs)
    if kind in ("workflow", "job"):
        pipeline = _pipeline_name(inputs)
        out.update(
            _id=f"plan:{pipeline}",
            pipeline_id=f"plan:{pipeline}",
            pipeline_name=pipeline,
            version_id=f"plan:{pipeline}:{short}",
            version_name=short,
            ir=ir if inputs.get("embedded", True) is not False else None,
            url="",
        )
    elif kind == "task":
        own = bool(spec_hash)
        schedule = inputs.get("schedule")
        out.update(
            _id=f"plan:task:{name}",
            version_id=f"plan:{inputs.get('pipeline_id')}:{short}"
            if own
            else inputs.get("workflow_version_id"),
            version_name=short,
            own_version=own,
            recurring_run_id=f"plan:schedule:{name}" if schedule else "",
            recurring_run_name=name if schedule else "",
            cron=_cron(schedule),
            experiment_id="",
            url="",
            retired_recurring_run_ids=[],
        )
    else:
        out.update(
            _id=f"plan:run:{name}",
            run_id=f"plan:run:{name}",
            run_name=name,
            state="",
            created_at="",
            finished_at="",
            url="",
            experiment_id="",
            error="",
        )
    return Declared(kind, name, inputs, out, list(problems), ir)


def _build(kind: str, module: Any, inputs: Mapping[str, Any], config: Any) -> str | None:
    if kind in ("workflow", "job"):
        return module.build(inputs, config).yaml
    if kind == "task" and inputs.get("spec_hash"):
        from dh_kfp_pulumi.reconcile import workflow
        from dh_kfp_pulumi.specs import parse_task

        task = parse_task(
            {"action": "pipeline", **{k: inputs[k] for k in module.TASK_FIELDS if k in inputs}}
        )
        return workflow.build(inputs["workflow_spec"], config, task=task).yaml
    return None


def _pipeline_name(inputs: Mapping[str, Any]) -> str:
    from dh_kfp_pulumi.reconcile import workflow

    try:
        return workflow.pipeline_display_name(inputs)
    except Exception:  # noqa: BLE001 - a bad name is already a check problem
        return f"{inputs.get('project')}-{inputs.get('name')}"


def _cron(schedule: Any) -> str:
    from dh_kfp_pulumi.specs import kfp_cron

    if not isinstance(schedule, str) or not schedule:
        return ""
    try:
        return kfp_cron(schedule)
    except ValueError:
        return ""


# ---- running a program -----------------------------------------------------------------------


def plan_program(
    program: str | os.PathLike[str],
    *,
    stack: str = "local",
    overrides: Mapping[str, Any] | None = None,
) -> Plan:
    """Run the program with the stack's config under mocks; what it declared, checked."""
    from dh_kfp_pulumi.backends import NAMESPACE, config_from_mapping
    from dh_kfp_pulumi.engine.mocks import PlanError, run_with_mocks  # pulumi: only when planning
    from dh_kfp_pulumi.engine.project import Secret, find_project, load_stack_config

    main = _main_file(Path(program))
    project = find_project(main.parent)
    secure = {k: Secret(SECRET_PLACEHOLDER) for k in _secure_keys(project.stack_file(stack))}
    config = load_stack_config(project, stack, {**secure, **(overrides or {})})
    if config.source is None:
        stacks = sorted(
            p.name[len("Pulumi.") : -len(".yaml")]
            for p in project.stack_config_dir.glob("Pulumi.*.yaml")
        )
        raise PlanError(
            f"stack {stack!r} has no config file {project.stack_file(stack)}; "
            f"stacks: {', '.join(stacks) or 'none'}"
        )
    backend = config_from_mapping(
        {
            k: v
            for k, v in config.values.items()
            if k.startswith(f"{NAMESPACE}:") and k != f"{NAMESPACE}:token"
        }
    )
    mocks = PlanMocks(backend)
    messages: list[str] = []
    urns = run_with_mocks(
        main,
        mocks,
        project=project.name,
        stack=stack,
        config=config.values,
        secret_keys=config.secret_keys,
        log=messages,
    )
    return Plan(project.name, stack, main, mocks.declared, mocks.others, urns, messages)


def _main_file(program: Path) -> Path:
    from dh_kfp_pulumi.engine.mocks import PlanError  # pulumi: only when planning
    program = program.expanduser().resolve()
    main = program / "__main__.py" if program.is_dir() else program
    if not main.is_file():
        raise PlanError(
            f"no Pulumi program at {program} (a directory with __main__.py, or a .py file)"
        )
    return main


def _secure_keys(stack_file: Path) -> list[str]:
    """Keys of the stack file whose values are `secure:` (encrypted by Pulumi)."""
    import yaml

    try:
        data = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        return []
    return [str(k) for k, v in config.items() if isinstance(v, dict) and set(v) == {"secure"}]
