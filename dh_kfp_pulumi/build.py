"""The compiler: a Workflow (or one Function run alone) -> KFP IR YAML + content hash.

The workflow's pipeline module is executed and its handler called under
`pipeline_context()` inside a `kfp.dsl.pipeline`; each `pc.step` becomes a KFP
task of a component generated for the step (`components`). Function code is
never executed here: a python function's module is only checked (ast) and
embedded in its component as text.

Deterministic: the same specs give byte-identical YAML on any machine and in any
order of dict keys (names are sorted, no absolute path or time reaches the IR).
The YAML is written by libyaml from the documents kfp's compiler would write
(kfp's pure-Python writer was most of a build). The hash covers the IR's content
(`spec_hash_of`), which embeds function code, requirements, images and pod
settings; a header comment adds the digest of the workflow's own source, so that
any change of the handler's code makes a new hash even when the pipeline it
declares is the same.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from google.protobuf import json_format
from kfp import dsl as kfp_dsl
from kfp.compiler import pipeline_spec_builder as kfp_builder
from kfp.dsl.types import type_utils

from dh_kfp_pulumi import components, dsl
from dh_kfp_pulumi.errors import BuildError, DhKfpError, SourceError
from dh_kfp_pulumi.naming import pipeline_name
from dh_kfp_pulumi.parameters import (  # noqa: F401 - build's callers name them here
    PARAMETER_TYPES,
    Parameter,
    handler_signature,
    input_problems,
    ir_parameters,
)
from dh_kfp_pulumi.platform import PodPlan, pod_plan, secret_env_clashes
from dh_kfp_pulumi.specs import FunctionSpec, PodSettings, TaskSpec, WorkflowSpec

__all__ = [
    "BuildResult",
    "build_function_job",
    "build_workflow",
    "pipeline_name",
    "spec_hash_of",
]

HEADER_PREFIX = "# dh-kfp-pulumi"

# kfp keeps the pipeline being defined in a class attribute: one build at a time per process.
_KFP_LOCK = threading.RLock()

@dataclass(frozen=True)
class BuildResult:
    """A compiled pipeline."""

    yaml: str
    spec_hash: str  # sha256 hex of the IR's content (`spec_hash_of(yaml)`)
    pipeline_name: str  # the IR's pipelineInfo.name
    parameters: dict[str, str] = field(default_factory=dict)  # name -> KFP type (STRING, ...)
    steps: tuple[str, ...] = ()  # step names, in declaration order


def build_workflow(
    workflow: WorkflowSpec,
    functions: Iterable[FunctionSpec],
    task: TaskSpec | PodSettings | None = None,
    *,
    base_dir: str | os.PathLike[str] = ".",
    profiles: Mapping[str, Any] | None = None,
    default_image: str | None = None,
    image_pull_secrets: Sequence[str] = (),
) -> BuildResult:
    """Compile `workflow` with the project's `functions` and a Task's pod settings.

    Pipeline parameters are the handler's parameters: annotated with str, int, float,
    bool, dict or list; un-annotated ones are str unless their default is another of
    these types. `base_dir` is where relative `code_src` paths start (the Pulumi
    program's directory). Step images: the function's image, else the workflow's
    image:tag, else `default_image`, else kfp's default.
    """
    loaded, handler = _load_workflow_handler(workflow, base_dir)
    with _KFP_LOCK:
        params = handler_signature(handler, loaded.function)
        session = _Session(
            functions,
            base_dir=base_dir,
            workflow_image=workflow.image_ref(),
            default_image=default_image,
            pod=pod_plan(task, profiles, workflow.labels, image_pull_secrets),
        )

        def body(*args: Any) -> None:
            handler(**{p.name: value for p, value in zip(params, args, strict=True)})

        result = _compile(
            pipeline_name(workflow.project, workflow.name),
            params,
            body,
            handler.__doc__,
            session,
            what=f"workflow {workflow.name!r} (handler {loaded.function!r})",
        )
    digest = hashlib.sha256(loaded.text.encode("utf-8")).hexdigest()
    header = f"{HEADER_PREFIX}: workflow handler {loaded.function} source sha256 {digest}\n"
    return _result(header, *result)


def build_workflow_cached(
    workflow: WorkflowSpec,
    functions: Sequence[FunctionSpec],
    task: TaskSpec | PodSettings | None = None,
    *,
    base_dir: str | os.PathLike[str],
    profiles: Mapping[str, Any] | None = None,
    default_image: str | None = None,
    image_pull_secrets: Sequence[str] = (),
) -> BuildResult:
    """`build_workflow`, memoized: an engine builds the same props in `check` and again in
    `create`/`update` (Terraform several times per command).

    Keyed by content (the specs, the task, the build settings) and `base_dir`; a spec
    with a `code_src` is read from disk, which may change between calls: always rebuilt.
    """

    def build() -> BuildResult:
        return build_workflow(
            workflow,
            functions,
            task,
            base_dir=base_dir,
            profiles=profiles,
            default_image=default_image,
            image_pull_secrets=image_pull_secrets,
        )

    specs = [workflow, *functions]
    if any(spec.code_src for spec in specs):
        return build()
    key = json.dumps(
        [[s.model_dump(mode="json") for s in specs],
         task.model_dump(mode="json") if task is not None else None,
         [dict(profiles or {}), default_image, list(image_pull_secrets)], os.fspath(base_dir)],
        sort_keys=True, default=str,
    )  # fmt: skip
    with _BUILT_LOCK:
        built = _BUILT.get(key)
    if built is None:
        built = build()
        with _BUILT_LOCK:
            _BUILT[key] = built
            while len(_BUILT) > _BUILT_MAX:
                _BUILT.pop(next(iter(_BUILT)))
    return built


_BUILT: dict[str, BuildResult] = {}  # content key -> BuildResult (frozen), oldest first
_BUILT_LOCK = threading.Lock()
_BUILT_MAX = 64


def build_function_job(
    function: FunctionSpec,
    *,
    inputs: Mapping[str, Any],
    parameters: Mapping[str, Any] | None = None,
    outputs: Mapping[str, str] | None = None,
    values: Sequence[str] | None = None,
    task: TaskSpec | PodSettings | None = None,
    base_dir: str | os.PathLike[str] = ".",
    profiles: Mapping[str, Any] | None = None,
    default_image: str | None = None,
    image_pull_secrets: Sequence[str] = (),
) -> BuildResult:
    """One function run alone (the seed's `function.run(action="job", inputs=...)`).

    A one-step pipeline named `<project>-<function>-job`; each of `inputs` is a pipeline
    parameter (its value the default, its type from the value) passed to the step's
    input of the same name. `parameters`, `outputs` and `values` are the step's.
    """
    if not isinstance(inputs, Mapping):
        raise BuildError(f"inputs: must be a dict of name -> value (got {inputs!r})")
    params = []
    for name in sorted(inputs, key=str):
        value = inputs[name]
        if not dsl.is_valid_name(name):
            raise BuildError(
                f"inputs: {name!r} is not a valid pipeline parameter name; use a Python "
                "identifier not starting with '_'"
            )
        kind = type(value) if type(value) in PARAMETER_TYPES else None
        if kind is None:
            raise BuildError(
                f"inputs.{name}: must be a str, int, float, bool, dict or list (got {value!r})"
            )
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=value, annotation=kind
            )
        )
    with _KFP_LOCK:
        session = _Session(
            [function],
            base_dir=base_dir,
            workflow_image=None,
            default_image=default_image,
            pod=pod_plan(task, profiles, (), image_pull_secrets),  # labels: the step's
        )

        def body(*args: Any) -> None:
            with dsl.pipeline_context() as pc:
                pc.step(
                    name=function.name,
                    function=function.name,
                    action="job",
                    inputs={p.name: arg for p, arg in zip(params, args, strict=True)},
                    parameters=parameters,
                    outputs=outputs,
                    values=values,
                )

        result = _compile(
            pipeline_name(function.project, f"{function.name}-job"),
            params,
            body,
            function.description,
            session,
            what=f"job of function {function.name!r}",
        )
    return _result("", *result)


# ---- internals ---------------------------------------------------------------------------


def _result(
    header: str,
    documents: list[dict[str, Any]],
    description: str | None,
    name: str,
    parameters: dict[str, str],
    steps: tuple[str, ...],
) -> BuildResult:
    return BuildResult(
        yaml=header + emit_ir(documents, description),
        spec_hash=_content_hash(header, documents),
        pipeline_name=name,
        parameters=dict(parameters),
        steps=steps,
    )


# libyaml's emitter, ~10x kfp's pure-Python yaml.dump on the same documents. Its line
# folding differs from the pure-Python emitter's (same YAML values), which is why the hash
# is not over these bytes: see `spec_hash_of`.
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


class _IrDumper(_DUMPER):
    """The safe dumper with a representer for what MessageToDict gives (dicts, lists, str
    and scalars, no shared objects): the same nodes as SafeRepresenter with sort_keys and
    block style, without its per-object alias bookkeeping, the slowest part left of
    writing an IR (a test keeps the two byte-equal)."""

    def represent(self, data: Any) -> None:
        self.serialize(self._node(data))

    def _node(self, data: Any) -> yaml.Node:
        kind = type(data)
        if kind is str:
            return yaml.ScalarNode(_STR, data)
        if kind is dict:
            pairs = [(self._node(k), self._node(v)) for k, v in sorted(data.items())]
            return yaml.MappingNode(_MAP, pairs, flow_style=False)
        if kind is list:
            return yaml.SequenceNode(_SEQ, [self._node(v) for v in data], flow_style=False)
        node: yaml.Node = self.represent_data(data)  # bool, int, float, None
        self.represented_objects.clear()  # as `represent` does after a document
        self.object_keeper.clear()
        return node


def emit_ir(documents: list[dict[str, Any]], description: str | None) -> str:
    """The IR YAML as kfp's compiler lays it out (its comment block, the pipeline spec,
    the platform spec if any, keys sorted), written by libyaml: byte-stable for the same
    documents, loaded by kfp to the same values as kfp's own file."""
    comments = kfp_builder.extract_comments_from_pipeline_spec(documents[0], description)
    return comments + yaml.dump_all(documents, Dumper=_IrDumper, sort_keys=True)


def spec_hash_of(ir_yaml: str) -> str:
    """The spec hash of an IR file `build_workflow` wrote, recomputed from its text.

    The hash is over the content, not the bytes: sha256 of canonical JSON (sorted keys,
    no spaces, ASCII) of `[header, *documents]`, where header is our first comment line
    (without its newline; "" for a function job) and documents the YAML's documents.
    Any YAML emitter (libyaml's, the pure-Python one, kfp's own) gives the same hash.
    """
    first = ir_yaml.split("\n", 1)[0]
    header = first + "\n" if first.startswith(HEADER_PREFIX) else ""
    return _content_hash(header, list(yaml.load_all(ir_yaml, Loader=_LOADER)))


def _content_hash(header: str, documents: list[dict[str, Any]]) -> str:
    canonical = json.dumps([header.rstrip("\n"), *documents], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _compile(
    name: str,
    params: list[inspect.Parameter],
    body: Callable[..., None],
    description: str | None,
    session: _Session,
    *,
    what: str,
) -> tuple[list[dict[str, Any]], str | None, str, dict[str, str], tuple[str, ...]]:
    body.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    body.__name__ = name.replace("-", "_")
    body.__doc__ = inspect.cleandoc(description) if description else None
    with dsl.activate(session) as context:
        try:
            graph = kfp_dsl.pipeline(name=name)(body)
        except DhKfpError:
            raise
        except ValueError as exc:
            if not context.steps and "Task is missing" in str(exc):
                raise BuildError(
                    f"{what}: declares no step; call pc.step(...) at least once"
                ) from None
            raise _user_error(what, exc) from None
        except Exception as exc:  # the handler's own bug: show where, not kfp's stack
            raise _user_error(what, exc) from None
        steps = tuple(step.name for step in context.steps)
    try:  # what kfp's Compiler.compile writes, without its temp file and pure-Python YAML
        documents = [json_format.MessageToDict(graph.pipeline_spec)]
        if graph.platform_spec.platforms:
            documents.append(json_format.MessageToDict(graph.platform_spec))
    except Exception as exc:
        raise BuildError(f"{what}: the kfp compiler refused the pipeline: {exc}") from None
    types = {p.name: type_utils.get_parameter_type_name(p.annotation) for p in params}
    return documents, graph.description, name, types, steps


def _user_error(what: str, exc: BaseException) -> BuildError:
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(_LIBRARY_DIRS) and f.filename != "<string>"
    ]
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    return BuildError(f"{what}: {type(exc).__name__}{where}: {exc}")


_LIBRARY_DIRS = (
    os.path.dirname(os.path.dirname(kfp_dsl.__file__)),  # site-packages/kfp
    os.path.dirname(__file__),
)


class _Session:
    """The StepFactory of one build: the project's functions, resolved on first use."""

    def __init__(
        self,
        functions: Iterable[FunctionSpec],
        *,
        base_dir: str | os.PathLike[str],
        workflow_image: str | None,
        default_image: str | None,
        pod: PodPlan | None,
    ):
        self._specs: dict[str, FunctionSpec] = {}
        for spec in functions:
            if spec.name in self._specs:
                raise BuildError(
                    f"functions: two functions are named {spec.name!r}; function names must be "
                    "unique in a project"
                )
            self._specs[spec.name] = spec
        self._resolved: dict[str, components.StepFunction] = {}
        self._base_dir = base_dir
        self._workflow_image = workflow_image
        self._default_image = default_image
        self._pod = pod

    def function_names(self) -> list[str]:
        return sorted(self._specs)

    def create_task(self, call: dsl.StepCall) -> Any:
        function = self._resolve(call.function)
        image = (
            function.image
            or self._workflow_image
            or self._default_image
            or components.KFP_DEFAULT_IMAGE
        )
        arguments = components.classify(call)
        if function.kind == "python":
            component = components.python_component(call, function, image)
        else:
            component = components.container_component(call, function, image)
        try:
            task = component(**components.task_arguments(arguments))
        except (TypeError, ValueError) as exc:
            raise BuildError(f"{call.label}: {exc}") from None
        task.set_display_name(call.name)
        if self._pod is not None and self._pod.settings is not None:
            secret_env_clashes(self._specs[call.function], self._pod.settings)
        for name, value in function.envs:
            task.set_env_variable(name, value)
        function_labels = self._specs[call.function].labels
        if self._pod is not None or function_labels:
            from dh_kfp_pulumi.platform import apply_pod_settings

            pod = self._pod or PodPlan(None, (), ())
            apply_pod_settings(
                task,
                pod.settings or PodSettings(),
                labels=pod.labels,
                image_pull_secrets=pod.image_pull_secrets,
                function_labels=function_labels,
                function=call.function,
            )
        return task

    def _resolve(self, name: str) -> components.StepFunction:
        found = self._resolved.get(name)
        if found is None:
            found = self._resolved[name] = step_function(self._specs[name], self._base_dir)
        return found


def step_function(spec: FunctionSpec, base_dir: str | os.PathLike[str]) -> components.StepFunction:
    """A FunctionSpec with its source loaded (python) and fields normalised for the IR."""
    envs = tuple(sorted({e.name: e.value for e in spec.envs}.items()))
    if spec.kind == "container":
        return components.StepFunction(
            name=spec.name,
            kind="container",
            image=spec.image_ref(),
            command=tuple(spec.command),
            args=tuple(spec.args),
            envs=envs,
        )
    from dh_kfp_pulumi import source

    try:
        loaded = source.load_spec_source(spec, base_dir)
        _check_handler_defined(loaded)
    except SourceError as exc:  # say which declaration, not only which file
        raise SourceError(f"function {spec.name!r}: {exc}") from None
    return components.StepFunction(
        name=spec.name,
        kind="python",
        image=spec.image_ref(),
        source=loaded.text,
        # Named after the module, not the path or URL it came from: no machine paths or
        # URL tokens in the IR, and tracebacks in the step still say `download.py:12`.
        filename=loaded.module.replace(".", "/") + ".py",
        module_name=loaded.module,
        handler=loaded.function,
        requirements=tuple(sorted(set(spec.requirements))),
        envs=envs,
    )


@functools.lru_cache(maxsize=256)
def _check_handler_defined(loaded: Any) -> None:
    """`source.check_handler_defined`, once per source text: parsing and compiling a
    function's module was a tenth of a small pipeline's build, and every build of a
    deployment sees the same texts (a bad one raises, which is not cached)."""
    from dh_kfp_pulumi import source

    source.check_handler_defined(loaded)


# ---- pipeline parameters: what a run's inputs are checked against ------------------------


def _load_workflow_handler(workflow: WorkflowSpec, base_dir: str | os.PathLike[str]) -> Any:
    from dh_kfp_pulumi import source

    try:
        loaded = source.load_spec_source(workflow, base_dir)
        with _KFP_LOCK:  # the module may use kfp while it runs
            return loaded, source.load_handler(loaded)
    except SourceError as exc:  # say which declaration, not only which file
        raise SourceError(f"workflow {workflow.name!r}: {exc}") from None


def handler_parameters(
    workflow: WorkflowSpec, base_dir: str | os.PathLike[str] = "."
) -> dict[str, Parameter]:
    """A workflow's pipeline parameters from its handler's signature, without compiling
    (which needs the project's functions): what a program checks a run's inputs against."""
    from dh_kfp_pulumi.parameters import parameters_of

    loaded, handler = _load_workflow_handler(workflow, base_dir)
    return parameters_of(handler_signature(handler, loaded.function))
