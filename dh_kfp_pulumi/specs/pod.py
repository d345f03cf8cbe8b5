"""Pod settings of a Task: the seed's node_selector, volumes, resources, affinity, ...

They are validated here, against what Kubernetes accepts *and* what KFP can express
through kfp-kubernetes, so that a bad setting fails at `check` (preview) with the field
path, the value and what would be valid, instead of as a pod that never starts.
`dh_kfp_pulumi.platform` turns valid settings into KFP platform config.

Kubernetes objects (tolerations, affinity) keep Kubernetes' own camelCase field names,
so a manifest fragment can be pasted as is. The seed's own shapes (`node_selector`,
`volumes`, `resources`, `envs`) keep the seed's snake_case names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from dh_kfp_pulumi.errors import FieldProblem, FieldValueError
from dh_kfp_pulumi.specs.fields import (
    DNS_SUBDOMAIN,
    LABEL_NAME,
    StrictBool,
    StrictInt,
)
from dh_kfp_pulumi.specs.k8s import (
    QUANTITY_HELP,
    SECRET_KEY,
    check_dns_label,
    check_dns_subdomain,
    check_env_name,
    check_label_key,
    check_label_value,
    check_mount_path,
    check_quantity,
    kfp_accelerator_count,
    kfp_cpu,
    kfp_memory,
    parse_label,
    parse_quantity,
)

# ---------------------------------------------------------------------------------------
# Sub-models
# ---------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _K8sModel(_Model):
    """A Kubernetes object: camelCase names; a snake_case spelling gets a pointed hint."""

    @model_validator(mode="before")
    @classmethod
    def _snake_case_hint(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            problems = []
            for key in data:
                if isinstance(key, str) and key not in cls.model_fields and "_" in key:
                    camel = re.sub(r"_([a-z])", lambda m: m[1].upper(), key)
                    if camel in cls.model_fields:
                        problems.append(
                            FieldProblem(key, f"unknown field; Kubernetes spells it {camel}")
                        )
            if problems:
                raise FieldValueError(*problems)
        return data


class NodeSelectorEntry(_Model):
    """One `{key, value}` of the seed's node_selector: a node label the pod requires."""

    key: str
    value: str

    @field_validator("key", mode="before")
    @classmethod
    def _key(cls, v: Any) -> str:
        return check_label_key(v)

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, v: Any) -> str:
        return check_label_value(v)


VOLUME_TYPES = ("persistent_volume_claim", "empty_dir", "config_map", "secret", "ephemeral")
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
EMPTY_DIR_MEDIA = ("", "Memory", "HugePages")

# Which `spec` keys each volume type takes (and the kfp-kubernetes call that uses them).
VOLUME_SPEC_KEYS: dict[str, tuple[str, ...]] = {
    "persistent_volume_claim": ("sub_path",),  # mount_pvc
    "empty_dir": ("medium", "size_limit"),  # empty_dir_mount
    "config_map": ("optional",),  # use_config_map_as_volume
    "secret": ("optional",),  # use_secret_as_volume
    "ephemeral": (  # add_ephemeral_volume
        "size",
        "access_modes",
        "storage_class_name",
        "labels",
        "annotations",
    ),
}


class VolumeSpec(_Model):
    """The `spec` of a volume; which keys apply depends on `volume_type` (VOLUME_SPEC_KEYS)."""

    sub_path: str | None = None
    medium: str | None = None
    size_limit: str | None = None
    optional: StrictBool | None = None
    size: str | None = None
    access_modes: list[str] | None = None
    storage_class_name: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None

    @field_validator("size_limit", "size", mode="before")
    @classmethod
    def _quantity(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, str):
            raise ValueError(f"must be a string holding {QUANTITY_HELP}")
        return check_quantity(v, positive=True)

    @field_validator("medium")
    @classmethod
    def _medium(cls, v: str | None) -> str | None:
        if v is not None and v not in EMPTY_DIR_MEDIA and not v.startswith("HugePages-"):
            raise ValueError("must be '' (node disk), 'Memory', 'HugePages' or 'HugePages-<size>'")
        return v

    @field_validator("access_modes")
    @classmethod
    def _access_modes(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        if not v:
            raise ValueError(f"must list at least one of {', '.join(ACCESS_MODES)}")
        problems = [
            FieldProblem(f"[{i}]", f"must be one of {', '.join(ACCESS_MODES)}", mode, True)
            for i, mode in enumerate(v)
            if mode not in ACCESS_MODES
        ]
        if problems:
            raise FieldValueError(*problems)
        return v

    @field_validator("storage_class_name")
    @classmethod
    def _storage_class(cls, v: str | None) -> str | None:
        return v if v is None else check_dns_subdomain(v, "a storage class name")

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for key, value in (v or {}).items():
            try:
                check_label_key(key)
                check_label_value(value)
            except ValueError as exc:
                raise FieldValueError(FieldProblem(f".{key}", str(exc), value, True)) from None
        return v


class Volume(_Model):
    """A volume mounted into every step.

    For persistent_volume_claim, config_map and secret, `name` is the name of the existing
    Kubernetes object (KFP names the pod volume after it); for empty_dir and ephemeral it
    is the name of the volume that the pod gets.
    """

    name: str
    volume_type: str
    mount_path: str
    spec: VolumeSpec | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> str:
        return check_dns_label(v, "a volume name")

    @field_validator("volume_type", mode="before")
    @classmethod
    def _volume_type(cls, v: Any) -> str:
        if v not in VOLUME_TYPES:
            raise ValueError(f"unknown volume_type; allowed: {', '.join(VOLUME_TYPES)}")
        return v

    @field_validator("mount_path", mode="before")
    @classmethod
    def _mount_path(cls, v: Any) -> str:
        return check_mount_path(v)

    @model_validator(mode="after")
    def _spec_fits_type(self) -> Volume:
        allowed = VOLUME_SPEC_KEYS[self.volume_type]
        given = self.spec.model_fields_set if self.spec is not None else set()
        problems = [
            FieldProblem(
                f"spec.{key}",
                f"not a setting of a {self.volume_type} volume; "
                f"allowed: {', '.join(allowed) or 'none'}",
            )
            for key in VolumeSpec.model_fields
            if key in given and key not in allowed
        ]
        if self.volume_type == "ephemeral" and (self.spec is None or self.spec.size is None):
            problems.append(
                FieldProblem("spec.size", "required for an ephemeral volume (e.g. '5Gi')")
            )
        if problems:
            raise FieldValueError(*problems)
        return self


class ResourceAmount(_Model):
    """The `{requests, limits}` form of one resource."""

    requests: str | int | float | None = None
    limits: str | int | float | None = None


QuantitySpec = str | int | float | ResourceAmount


def _resource(value: Any, *, gpu: bool) -> Any:
    """Validate one of cpu / mem / gpu: a quantity, or a mapping {requests, limits}."""
    if value is None:
        return value
    if isinstance(value, ResourceAmount):
        value = value.model_dump(exclude_none=True)
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in ("requests", "limits")]
        if unknown:
            raise FieldValueError(
                *(
                    FieldProblem(str(k), "unknown field; known fields: requests, limits")
                    for k in unknown
                )
            )
        amounts: dict[str, Decimal] = {}
        problems = []
        for key in ("requests", "limits"):
            if value.get(key) is None:
                continue
            try:
                amounts[key] = _amount(value[key], gpu=gpu)
            except ValueError as exc:
                problems.append(FieldProblem(key, str(exc), value[key], True))
        if problems:
            raise FieldValueError(*problems)
        if not amounts:
            raise ValueError("give requests, limits or both")
        if gpu:
            if "limits" not in amounts:
                raise FieldValueError(
                    FieldProblem("limits", "required: Kubernetes takes a GPU count as a limit")
                )
            if "requests" in amounts and amounts["requests"] != amounts["limits"]:
                raise FieldValueError(
                    FieldProblem(
                        "requests",
                        "must equal limits for a GPU (or be left out)",
                        value["requests"],
                        True,
                    )
                )
        elif (
            "requests" in amounts
            and "limits" in amounts
            and amounts["requests"] > amounts["limits"]
        ):
            raise FieldValueError(
                FieldProblem(
                    "requests",
                    f"must not exceed limits ({value['limits']!r})",
                    value["requests"],
                    True,
                )
            )
        return ResourceAmount(**{k: value[k] for k in amounts})
    _amount(value, gpu=gpu)
    return value


def _amount(value: Any, *, gpu: bool) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"must be {QUANTITY_HELP}, or a mapping {{requests, limits}}")
    number = parse_quantity(value)
    if number < 0:
        raise ValueError("must not be negative")
    if gpu and number != number.to_integral_value():
        raise ValueError("a GPU count must be a whole number (e.g. '1')")
    return number


class Resources(_Model):
    """The seed's resources: cpu, mem, gpu (a quantity each, or {requests, limits}).

    A plain quantity sets both the request and the limit. `gpu_type` is the accelerator
    (KFP's `set_accelerator_type`, a Kubernetes resource name such as nvidia.com/gpu).
    """

    cpu: QuantitySpec | None = None
    mem: QuantitySpec | None = None
    gpu: QuantitySpec | None = None
    gpu_type: str | None = None

    @field_validator("cpu", "mem", mode="before")
    @classmethod
    def _cpu_mem(cls, v: Any, info: ValidationInfo) -> Any:
        v = _resource(v, gpu=False)
        if info.field_name == "mem":
            for amount in _amounts(v):
                kfp_memory(amount)
        return v

    @field_validator("gpu", mode="before")
    @classmethod
    def _gpu(cls, v: Any) -> Any:
        return _resource(v, gpu=True)

    @field_validator("gpu_type", mode="before")
    @classmethod
    def _gpu_type(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, str) or not v:
            raise ValueError("must be an accelerator name such as nvidia.com/gpu")
        prefix, _, name = v.rpartition("/")
        if (prefix and not DNS_SUBDOMAIN.fullmatch(prefix)) or not LABEL_NAME.fullmatch(name):
            raise ValueError(
                "must be an accelerator resource name such as nvidia.com/gpu or amd.com/gpu"
            )
        return v


def _amounts(spec: Any) -> list[Any]:
    if spec is None:
        return []
    if isinstance(spec, ResourceAmount):
        return [a for a in (spec.requests, spec.limits) if a is not None]
    return [spec]


def requests_and_limits(spec: QuantitySpec | None) -> tuple[Any, Any]:
    """(request, limit) of one resource; a plain quantity is both."""
    if spec is None:
        return None, None
    if isinstance(spec, ResourceAmount):
        return spec.requests, spec.limits
    return spec, spec


TOLERATION_OPERATORS = ("Equal", "Exists")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class Toleration(_K8sModel):
    """A Kubernetes toleration (kfp-kubernetes `add_toleration`)."""

    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    tolerationSeconds: StrictInt | None = None  # noqa: N815 - Kubernetes' own spelling

    @field_validator("key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        return check_label_key(v) if v else v

    @field_validator("operator")
    @classmethod
    def _operator(cls, v: str | None) -> str | None:
        if v is not None and v not in TOLERATION_OPERATORS:
            raise ValueError(f"must be one of {', '.join(TOLERATION_OPERATORS)}")
        return v

    @field_validator("effect")
    @classmethod
    def _effect(cls, v: str | None) -> str | None:
        if v and v not in TAINT_EFFECTS:
            raise ValueError(
                f"must be one of {', '.join(TAINT_EFFECTS)} (or left out to match all effects)"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        operator = self.operator or "Equal"
        if not self.key and operator != "Exists":
            raise FieldValueError(
                FieldProblem(
                    "operator",
                    "must be Exists when key is empty (match every taint)",
                    self.operator,
                    True,
                )
            )
        if operator == "Exists" and self.value:
            raise FieldValueError(
                FieldProblem("value", "must be empty when operator is Exists", self.value, True)
            )
        if operator == "Equal" and self.value:
            try:
                check_label_value(self.value)
            except ValueError as exc:
                raise FieldValueError(FieldProblem("value", str(exc), self.value, True)) from None
        if self.tolerationSeconds is not None and self.effect != "NoExecute":
            raise FieldValueError(
                FieldProblem(
                    "tolerationSeconds",
                    "only allowed with effect NoExecute",
                    self.tolerationSeconds,
                    True,
                )
            )
        return self


NODE_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


class NodeSelectorRequirement(_K8sModel):
    """One matchExpressions / matchFields entry of a node selector term."""

    key: str
    operator: str
    values: list[str] | None = None

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        return check_label_key(v)

    @field_validator("operator")
    @classmethod
    def _operator(cls, v: str) -> str:
        if v not in NODE_OPERATORS:
            raise ValueError(f"must be one of {', '.join(NODE_OPERATORS)}")
        return v

    @model_validator(mode="after")
    def _values_fit_operator(self) -> NodeSelectorRequirement:
        values = self.values or []
        if self.operator in ("In", "NotIn") and not values:
            raise FieldValueError(FieldProblem("values", f"required with operator {self.operator}"))
        if self.operator in ("Exists", "DoesNotExist") and values:
            raise FieldValueError(
                FieldProblem("values", f"must be empty with operator {self.operator}", values, True)
            )
        if self.operator in ("Gt", "Lt") and (len(values) != 1 or not _is_int(values[0])):
            raise FieldValueError(
                FieldProblem(
                    "values", f"operator {self.operator} takes exactly one integer", values, True
                )
            )
        return self


def _is_int(text: str) -> bool:
    return re.fullmatch(r"[+-]?[0-9]+", text) is not None


class NodeSelectorTerm(_K8sModel):
    """A node selector term: requirements that must all hold (ANDed)."""

    matchExpressions: list[NodeSelectorRequirement] | None = None  # noqa: N815
    matchFields: list[NodeSelectorRequirement] | None = None  # noqa: N815

    @field_validator("matchFields")
    @classmethod
    def _fields(cls, v: list[NodeSelectorRequirement] | None) -> Any:
        problems = []
        for i, req in enumerate(v or []):
            if req.key != "metadata.name":
                problems.append(
                    FieldProblem(
                        f"[{i}].key", "matchFields only supports metadata.name", req.key, True
                    )
                )
            if req.operator not in ("In", "NotIn") or len(req.values or []) != 1:
                problems.append(
                    FieldProblem(
                        f"[{i}]", "matchFields takes operator In or NotIn with exactly one value"
                    )
                )
        if problems:
            raise FieldValueError(*problems)
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> NodeSelectorTerm:
        if not self.matchExpressions and not self.matchFields:
            raise ValueError(
                "an empty term matches no node in Kubernetes, and KFP drops it: give "
                "matchExpressions or matchFields"
            )
        return self


class NodeSelector(_K8sModel):
    """requiredDuringSchedulingIgnoredDuringExecution: the terms are ORed."""

    nodeSelectorTerms: list[NodeSelectorTerm]  # noqa: N815

    @field_validator("nodeSelectorTerms")
    @classmethod
    def _some(cls, v: list[NodeSelectorTerm]) -> list[NodeSelectorTerm]:
        if not v:
            raise ValueError("must hold at least one term")
        return v


class PreferredSchedulingTerm(_K8sModel):
    weight: StrictInt
    preference: NodeSelectorTerm

    @field_validator("weight")
    @classmethod
    def _weight(cls, v: int) -> int:
        if not 1 <= v <= 100:
            raise ValueError("must be between 1 and 100")
        return v


class NodeAffinity(_K8sModel):
    requiredDuringSchedulingIgnoredDuringExecution: NodeSelector | None = None  # noqa: N815
    preferredDuringSchedulingIgnoredDuringExecution: list[PreferredSchedulingTerm] | None = None  # noqa: N815


# Parts of a Kubernetes Affinity that kfp-kubernetes 2.17 has no call for.
UNSUPPORTED_AFFINITY = {
    "podAffinity": "pod affinity",
    "podAntiAffinity": "pod anti-affinity",
}


class Affinity(_K8sModel):
    """A Kubernetes affinity; KFP (kfp-kubernetes 2.17) can express only nodeAffinity."""

    nodeAffinity: NodeAffinity | None = None  # noqa: N815

    @model_validator(mode="before")
    @classmethod
    def _only_node_affinity(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            problems = [
                FieldProblem(
                    key,
                    f"KFP cannot express {what}: kfp-kubernetes has only node affinity "
                    "(add_node_affinity); use nodeAffinity or node_selector instead",
                )
                for key, what in UNSUPPORTED_AFFINITY.items()
                if key in data
            ]
            if problems:
                raise FieldValueError(*problems)
        return data


class EnvVar(_Model):
    """One `{name, value}` of the seed's envs."""

    name: str
    value: str

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> str:
        return check_env_name(v)

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, v: Any) -> str:
        if not isinstance(v, str):
            raise ValueError(
                f"must be a string ({type(v).__name__} given): Kubernetes env values are "
                "strings, so quote it"
            )
        return v


# ---------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------

SECRETS_MOUNT_ROOT = "/etc/secrets"


class SecretRef(BaseModel):
    """One parsed `secrets` entry.

    `name` mounts the whole Secret at SECRETS_MOUNT_ROOT/<name>; `name:KEY` sets env var
    KEY from the Secret's key KEY; `name:key=ENV` sets env var ENV from key `key`.
    """

    model_config = ConfigDict(frozen=True)

    secret: str
    key: str | None = None
    env: str | None = None

    @property
    def mount_path(self) -> str:
        return f"{SECRETS_MOUNT_ROOT}/{self.secret}"


SECRET_FORMS = "'name' (mounted at /etc/secrets/name), 'name:KEY' (env var KEY) or 'name:key=ENV'"


def parse_secret(text: Any) -> SecretRef:
    """One `secrets` entry; ValueError naming the accepted forms."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"must be a string: {SECRET_FORMS}")
    name, sep, rest = text.partition(":")
    if not sep:
        check_dns_label(name, "a Secret mounted as a volume")
        return SecretRef(secret=name)
    check_dns_subdomain(name, "a Secret name")
    key, eq, env = rest.partition("=")
    if not SECRET_KEY.match(key):
        raise ValueError(
            f"the Secret key must be letters, digits, '-', '_' or '.'; forms: {SECRET_FORMS}"
        )
    env = env if eq else key
    try:
        check_env_name(env)
    except ValueError:
        raise ValueError(
            f"{env!r} is not a valid env var name; name it with 'name:key=ENV'"
        ) from None
    return SecretRef(secret=name, key=key, env=env)


# ---------------------------------------------------------------------------------------
# Security context and what KFP cannot express
# ---------------------------------------------------------------------------------------

# Kubernetes' range for runAsUser / runAsGroup (apimachinery's IsValidUserID/IsValidGroupID).
MAX_ID = 2**31 - 1


def check_id(value: Any, what: str) -> int:
    """A user or group id: an integer 0..MAX_ID. Strict: no bools, no strings.

    An integral float (5.0) is taken as its int: Pulumi carries every number as a float.
    """
    ok = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not ok or not 0 <= value <= MAX_ID:
        raise ValueError(
            f"must be a whole number from 0 to {MAX_ID} (the {what} id the step's container "
            "runs as; a number, not a string or a boolean)"
        )
    return int(value)


# Seed Task fields that kfp-kubernetes 2.17 has no call for, and what to do instead. They
# are refused by name (like pod anti-affinity), never dropped.
INEXPRESSIBLE: dict[str, str] = {
    "priority_class": (
        "KFP cannot express a pod's priority class: kfp-kubernetes has no call that sets "
        "priorityClassName; give the pods of KFP's namespace a default instead (a PriorityClass "
        "with globalDefault: true), or set priorityClassName with a mutating admission policy "
        "(MutatingAdmissionPolicy, Kyverno, a webhook); then remove priority_class"
    ),
    "runtime_class": (
        "KFP cannot express a pod's runtime class: kfp-kubernetes has no call that sets "
        "runtimeClassName; set it on the pods of KFP's namespace with a mutating admission "
        "policy (MutatingAdmissionPolicy, Kyverno, a webhook), or make it the nodes' default "
        "container runtime handler; then remove runtime_class"
    ),
}


def inexpressible_problems(data: Mapping[str, Any]) -> list[FieldProblem]:
    """One problem per INEXPRESSIBLE field set in `data` (a null value is no setting)."""
    return [
        FieldProblem(key, message, data[key], True)
        for key, message in INEXPRESSIBLE.items()
        if data.get(key) is not None
    ]


# ---------------------------------------------------------------------------------------
# PodSettings
# ---------------------------------------------------------------------------------------


class PodSettings(_Model):
    """Kubernetes settings applied to every step pod of a workflow run."""

    node_selector: list[NodeSelectorEntry] | None = None
    volumes: list[Volume] | None = None
    resources: Resources | None = None
    affinity: Affinity | None = None
    tolerations: list[Toleration] | None = None
    envs: list[EnvVar] | None = None
    secrets: list[str] | None = None
    profile: str | None = None
    caching: StrictBool | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_inexpressible(cls, data: Any, handler: Any) -> Any:
        """priority_class / runtime_class are refused by name, with every other problem."""
        if not isinstance(data, Mapping) or not any(k in data for k in INEXPRESSIBLE):
            return handler(data)
        from pydantic import ValidationError

        from dh_kfp_pulumi.specs.validation import problems_from

        problems = inexpressible_problems(data)
        rest = {k: v for k, v in data.items() if k not in INEXPRESSIBLE}
        try:
            result = handler(rest)
        except ValidationError as exc:
            problems += problems_from(exc, cls)
        if problems:
            raise FieldValueError(*problems)
        return result

    @field_validator("run_as_user", "run_as_group", mode="before")
    @classmethod
    def _id(cls, v: Any, info: ValidationInfo) -> Any:
        what = "user" if info.field_name == "run_as_user" else "group"
        return v if v is None else check_id(v, what)

    @field_validator("node_selector")
    @classmethod
    def _unique_selector_keys(cls, v: list[NodeSelectorEntry] | None) -> Any:
        _unique(v or [], lambda e: e.key, "key", "node selector key")
        return v

    @field_validator("volumes")
    @classmethod
    def _unique_volumes(cls, v: list[Volume] | None) -> Any:
        _unique(v or [], lambda e: e.name, "name", "volume name (a pod's volume names are unique)")
        _unique(v or [], lambda e: e.mount_path, "mount_path", "mount path")
        return v

    @field_validator("envs")
    @classmethod
    def _unique_envs(cls, v: list[EnvVar] | None) -> Any:
        _unique(v or [], lambda e: e.name, "name", "env name")
        return v

    @field_validator("secrets", mode="before")
    @classmethod
    def _secrets(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None or not isinstance(v, list):
            return v
        problems = []
        refs: list[tuple[int, SecretRef]] = []
        for i, entry in enumerate(v):
            try:
                refs.append((i, parse_secret(entry)))
            except ValueError as exc:
                problems.append(FieldProblem(f"[{i}]", str(exc), entry, True))
        envs = {e.name: i for i, e in enumerate(info.data.get("envs") or [])}
        volumes = info.data.get("volumes") or []
        names = {vol.name: i for i, vol in enumerate(volumes)}
        paths = {vol.mount_path: i for i, vol in enumerate(volumes)}
        seen_env: dict[str, int] = {}
        seen_mount: dict[str, int] = {}
        for i, ref in refs:
            if ref.env is not None:
                if ref.env in envs:
                    problems.append(
                        FieldProblem(
                            f"[{i}]",
                            f"env var {ref.env} is also set by envs[{envs[ref.env]}]",
                            v[i],
                            True,
                        )
                    )
                elif ref.env in seen_env:
                    problems.append(
                        FieldProblem(
                            f"[{i}]",
                            f"env var {ref.env} is also set by secrets[{seen_env[ref.env]}]",
                            v[i],
                            True,
                        )
                    )
                seen_env.setdefault(ref.env, i)
                continue
            if ref.secret in seen_mount:
                problems.append(
                    FieldProblem(
                        f"[{i}]",
                        f"already mounted by secrets[{seen_mount[ref.secret]}]",
                        v[i],
                        True,
                    )
                )
            elif ref.secret in names:
                problems.append(
                    FieldProblem(
                        f"[{i}]",
                        f"KFP names the pod volume after the Secret, and volumes"
                        f"[{names[ref.secret]}] already has the name {ref.secret}",
                        v[i],
                        True,
                    )
                )
            elif ref.mount_path in paths:
                problems.append(
                    FieldProblem(
                        f"[{i}]",
                        f"mount path {ref.mount_path} is used by volumes[{paths[ref.mount_path]}]",
                        v[i],
                        True,
                    )
                )
            seen_mount.setdefault(ref.secret, i)
        if problems:
            raise FieldValueError(*problems)
        return v

    def secret_refs(self) -> list[SecretRef]:
        """The parsed `secrets` entries, in order."""
        return [parse_secret(s) for s in self.secrets or []]


def _unique(items: list[Any], get: Any, field: str, what: str) -> None:
    first: dict[Any, int] = {}
    problems = []
    for i, item in enumerate(items):
        value = get(item)
        if value in first:
            problems.append(
                FieldProblem(
                    f"[{i}].{field}",
                    f"duplicate {what}: already in entry {first[value]}",
                    value,
                    True,
                )
            )
        first.setdefault(value, i)
    if problems:
        raise FieldValueError(*problems)


POD_FIELDS = tuple(PodSettings.model_fields)


__all__ = [
    "Affinity",
    "EnvVar",
    "INEXPRESSIBLE",
    "MAX_ID",
    "NodeAffinity",
    "NodeSelector",
    "NodeSelectorEntry",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "PodSettings",
    "PreferredSchedulingTerm",
    "ResourceAmount",
    "Resources",
    "SecretRef",
    "Toleration",
    "Volume",
    "VolumeSpec",
    "check_id",
    "inexpressible_problems",
    "check_dns_subdomain",
    "kfp_accelerator_count",
    "kfp_cpu",
    "kfp_memory",
    "parse_label",
    "parse_quantity",
    "parse_secret",
    "requests_and_limits",
]
