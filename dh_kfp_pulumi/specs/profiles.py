"""Profiles: named pod settings in the stack config (`dh-kfp:profiles`) that a Task names
with `profile`; the Task's own settings are merged over its profile's, then checked again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.specs.pod import POD_FIELDS, PodSettings

PROFILES_SUBJECT = "stack config dh-kfp:profiles"


def resolve_profile(settings: PodSettings, profiles: Mapping[str, Mapping] | None) -> PodSettings:
    """The settings with their named profile merged under them (the task wins).

    Merge, field by field (None in the task means "not set"):
    - node_selector, envs, volumes: merged by key / name / name; the task's entry wins;
    - tolerations, secrets: the profile's entries, then the task's (exact repeats dropped);
    - resources: per resource (cpu, mem, gpu, gpu_type), the task's entry wins whole;
    - affinity, caching, run_as_user, run_as_group: the task's value wins whole.
    The result has `profile=None` (it is resolved) and keeps the type of `settings`.
    """
    name = settings.profile
    if name is None:
        return settings
    profiles = profiles or {}
    if name not in profiles:
        defined = ", ".join(sorted(profiles)) or "none (set dh-kfp:profiles in the stack config)"
        raise SpecError(
            "task", [FieldProblem("profile", f"unknown profile; defined: {defined}", name, True)]
        )
    body = profiles[name]
    base = f"profiles.{name}"
    if not isinstance(body, Mapping):
        raise SpecError(
            PROFILES_SUBJECT,
            [FieldProblem(base, "must be a mapping of pod settings", body, True)],
        )
    if "profile" in body:
        raise SpecError(
            PROFILES_SUBJECT,
            [FieldProblem(f"{base}.profile", "profiles do not nest", body["profile"], True)],
        )
    profile = _parse(body, PROFILES_SUBJECT, base)
    merged = _merge(profile, settings)
    result = _parse(merged, f"task (with profile {name!r})", "")
    return settings.model_copy(update={f: getattr(result, f) for f in POD_FIELDS})


def _parse(data: Mapping[str, Any], subject: str, base: str) -> PodSettings:
    from pydantic import ValidationError

    from dh_kfp_pulumi.specs.validation import join_path, problems_from

    try:
        return PodSettings.model_validate(data)
    except ValidationError as exc:
        problems = [
            FieldProblem(join_path(base, p.path), p.message, p.value, p.has_value)
            for p in problems_from(exc, PodSettings)
        ]
        raise SpecError(subject, problems) from None


def _merge(profile: PodSettings, task: PodSettings) -> dict[str, Any]:
    p = profile.model_dump(exclude_none=True)
    t = {f: v for f, v in task.model_dump(exclude_none=True).items() if f in POD_FIELDS}
    out: dict[str, Any] = {**p, **t}
    for field, key in (("node_selector", "key"), ("envs", "name"), ("volumes", "name")):
        if field in p and field in t:
            out[field] = _merge_by(p[field], t[field], key)
    for field in ("tolerations", "secrets"):
        if field in p and field in t:
            out[field] = p[field] + [x for x in t[field] if x not in p[field]]
    if "resources" in p and "resources" in t:
        out["resources"] = {**p["resources"], **t["resources"]}
    out["profile"] = None
    return out


def _merge_by(base: list[dict], over: list[dict], key: str) -> list[dict]:
    """Entries of `base` with those of `over` replacing equal keys; new keys appended."""
    replaced = {e[key]: e for e in over}
    out = [replaced.pop(e[key], e) for e in base]
    return out + [e for e in over if e[key] in replaced]
