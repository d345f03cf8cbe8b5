"""Pod settings ─▶ KFP Kubernetes platform config of one step.

Every setting is applied with the same kfp-kubernetes / PipelineTask call a KFP user
would write by hand, so the compiled IR is exactly what such a pipeline gets and any KFP
(>= 2.14 backend) runs it. Nothing here writes `platform_config` directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kfp import kubernetes
from kfp.dsl import PipelineTask

from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.specs import FunctionSpec, TaskSpec
from dh_kfp_pulumi.specs.pod import (
    NodeSelectorTerm,
    PodSettings,
    Resources,
    Volume,
    check_dns_subdomain,
    kfp_accelerator_count,
    kfp_cpu,
    kfp_memory,
    parse_label,
    requests_and_limits,
)

DEFAULT_GPU_TYPE = "nvidia.com/gpu"


def apply_pod_settings(
    task: PipelineTask,
    settings: PodSettings,
    *,
    labels: Sequence[str] = (),
    image_pull_secrets: Sequence[str] = (),
    function_labels: Sequence[str] = (),
    function: str = "",
) -> None:
    """Apply resolved pod settings, the labels and the pull secrets to one step.

    `labels` are the workflow's, `function_labels` those of the step's `function`; for a
    key in both, the function's value wins (the more specific one, as a task's settings
    win over its profile's). `settings` must come out of `resolve_profile` (a set
    `profile` is refused, so that a profile can never be silently ignored).
    """
    if settings.profile is not None:
        raise ValueError(
            f"profile {settings.profile!r} is not resolved: call resolve_profile() first"
        )
    pod_labels = dict(_pod_labels(labels, "workflow"))
    pod_labels.update(_pod_labels(function_labels, f"function {function!r}"))
    pull_secrets = _pull_secrets(image_pull_secrets)

    for entry in settings.node_selector or []:
        kubernetes.add_node_selector(task, label_key=entry.key, label_value=entry.value)
    for volume in settings.volumes or []:
        _mount(task, volume)
    if settings.resources is not None:
        _resources(task, settings.resources)
    node_affinity = settings.affinity.nodeAffinity if settings.affinity else None
    if node_affinity is not None:
        required = node_affinity.requiredDuringSchedulingIgnoredDuringExecution
        for term in required.nodeSelectorTerms if required else []:
            _node_affinity(task, term, weight=None)
        for preferred in node_affinity.preferredDuringSchedulingIgnoredDuringExecution or []:
            _node_affinity(task, preferred.preference, weight=preferred.weight)
    for tol in settings.tolerations or []:
        kubernetes.add_toleration(
            task,
            key=tol.key,
            operator=tol.operator,
            value=tol.value,
            effect=tol.effect,
            toleration_seconds=tol.tolerationSeconds,
        )
    for env in settings.envs or []:
        task.set_env_variable(env.name, env.value)
    for ref in settings.secret_refs():
        if ref.env is None:
            kubernetes.use_secret_as_volume(task, secret_name=ref.secret, mount_path=ref.mount_path)
        else:
            kubernetes.use_secret_as_env(
                task, secret_name=ref.secret, secret_key_to_env={ref.key: ref.env}
            )
    if settings.run_as_user is not None or settings.run_as_group is not None:
        kubernetes.set_security_context(
            task, run_as_user=settings.run_as_user, run_as_group=settings.run_as_group
        )
    if settings.caching is not None:
        task.set_caching_options(enable_caching=settings.caching)
    for key, value in pod_labels.items():
        kubernetes.add_pod_label(task, label_key=key, label_value=value)
    if pull_secrets:
        kubernetes.set_image_pull_secrets(task, pull_secrets)


def _mount(task: PipelineTask, volume: Volume) -> None:
    spec = volume.spec
    kind = volume.volume_type
    if kind == "persistent_volume_claim":
        sub_path = spec.sub_path if spec and spec.sub_path else ""
        kubernetes.mount_pvc(
            task, pvc_name=volume.name, mount_path=volume.mount_path, sub_path=sub_path
        )
    elif kind == "empty_dir":
        kubernetes.empty_dir_mount(
            task,
            volume_name=volume.name,
            mount_path=volume.mount_path,
            medium=spec.medium if spec else None,
            size_limit=spec.size_limit if spec else None,
        )
    elif kind == "config_map":
        kubernetes.use_config_map_as_volume(
            task,
            config_map_name=volume.name,
            mount_path=volume.mount_path,
            optional=bool(spec and spec.optional),
        )
    elif kind == "secret":
        kubernetes.use_secret_as_volume(
            task,
            secret_name=volume.name,
            mount_path=volume.mount_path,
            optional=bool(spec and spec.optional),
        )
    elif kind == "ephemeral":
        assert spec is not None and spec.size is not None  # the model requires them
        kubernetes.add_ephemeral_volume(
            task,
            volume_name=volume.name,
            mount_path=volume.mount_path,
            access_modes=list(spec.access_modes or ["ReadWriteOnce"]),
            size=spec.size,
            storage_class_name=spec.storage_class_name,
            labels=spec.labels,
            annotations=spec.annotations,
        )
    else:  # the model admits only VOLUME_TYPES
        raise ValueError(f"volume_type {kind!r} has no KFP mapping")


def _resources(task: PipelineTask, resources: Resources) -> None:
    request, limit = requests_and_limits(resources.cpu)
    if request is not None:
        task.set_cpu_request(kfp_cpu(request))
    if limit is not None:
        task.set_cpu_limit(kfp_cpu(limit))
    request, limit = requests_and_limits(resources.mem)
    if request is not None:
        task.set_memory_request(kfp_memory(request))
    if limit is not None:
        task.set_memory_limit(kfp_memory(limit))
    # A GPU count is a limit in Kubernetes (requests, if given, equal it); "0" means none.
    _, count = requests_and_limits(resources.gpu)
    count = kfp_accelerator_count(count) if count is not None else None
    if count == "0":
        return
    if count is not None or resources.gpu_type is not None:
        task.set_accelerator_type(resources.gpu_type or DEFAULT_GPU_TYPE)
    if count is not None:
        task.set_accelerator_limit(count)


def _node_affinity(task: PipelineTask, term: NodeSelectorTerm, weight: int | None) -> None:
    def requirements(reqs):
        return [
            {"key": r.key, "operator": r.operator, "values": list(r.values or [])}
            for r in reqs or []
        ]

    kubernetes.add_node_affinity(
        task,
        match_expressions=requirements(term.matchExpressions) or None,
        match_fields=requirements(term.matchFields) or None,
        weight=weight,
    )


def _pod_labels(labels: Sequence[str], subject: str) -> list[tuple[str, str]]:
    """Labels as (key, value); a label repeated with another value is an error."""
    problems: list[FieldProblem] = []
    out: dict[str, str] = {}
    for i, text in enumerate(labels):
        try:
            key, value = parse_label(text)
        except ValueError as exc:
            problems.append(FieldProblem(f"labels[{i}]", str(exc), text, True))
            continue
        if key in out and out[key] != value:
            problems.append(
                FieldProblem(
                    f"labels[{i}]", f"label {key} already has the value {out[key]!r}", text, True
                )
            )
        out.setdefault(key, value)
    if problems:
        raise SpecError(subject, problems)
    return list(out.items())


def _pull_secrets(names: Sequence[str]) -> list[str]:
    problems = []
    for i, name in enumerate(names):
        try:
            check_dns_subdomain(name, "an image pull secret")
        except ValueError as exc:
            problems.append(FieldProblem(f"image_pull_secrets[{i}]", str(exc), name, True))
    if problems:
        raise SpecError("stack config dh-kfp", problems)
    return list(dict.fromkeys(names))


__all__ = ["DEFAULT_GPU_TYPE", "apply_pod_settings"]


# ---- what every step of a build gets ------------------------------------------------------


@dataclass
class PodPlan:
    """What every step of one build gets: the Task's settings (profile resolved), the
    workflow's labels and the image pull secrets."""

    settings: PodSettings | None
    labels: tuple[str, ...]
    image_pull_secrets: tuple[str, ...]


def pod_plan(
    task: TaskSpec | PodSettings | None,
    profiles: Mapping[str, Any] | None,
    labels: Sequence[str],
    image_pull_secrets: Sequence[str],
) -> PodPlan | None:
    """What every step gets from the Task, the workflow's labels and pull secrets; None if nothing."""
    settings = task
    if task is not None:
        fields = set(PodSettings.model_fields)
        if not any(v not in (None, [], {}) for v in task.model_dump(include=fields).values()):
            settings = None
    labels = tuple(labels or ())
    pull = tuple(image_pull_secrets or ())
    if settings is None and not labels and not pull:
        return None
    if settings is not None:
        from dh_kfp_pulumi.specs.profiles import resolve_profile

        settings = resolve_profile(settings, profiles or {})
    return PodPlan(settings, labels, pull)


def secret_env_clashes(function: FunctionSpec, settings: PodSettings) -> None:
    """A Task secret (`name:KEY`, `name:key=ENV`) setting an env var the function's `envs`
    set too is an error naming both: the step would get the variable twice, once from the
    Secret and once as a plain value, and which one wins is nobody's decision."""
    envs = {e.name: i for i, e in enumerate(function.envs)}
    problems = [
        FieldProblem(
            f"secrets[{i}]",
            f"sets env var {ref.env}, which function {function.name!r} also sets in its "
            f"envs[{envs[ref.env]}]; a step cannot take both: drop one of the two, or give "
            "the Secret's key another variable name with 'name:key=ENV'",
            entry,
            True,
        )
        for i, (entry, ref) in enumerate(
            zip(settings.secrets or [], settings.secret_refs(), strict=True)
        )
        if ref.env is not None and ref.env in envs
    ]
    if problems:
        raise SpecError("task", problems)
