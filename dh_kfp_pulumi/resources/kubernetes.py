"""pulumi-kubernetes objects where a Task setting names a Kubernetes object.

- `secrets`: an entry may be a pulumi-kubernetes `Secret` (mounted whole at
  `/etc/secrets/<name>`), an Output of a Secret's name, or a pair `(secret, "KEY")` /
  `(secret, "key=ENV")` (env var KEY / ENV from the Secret's key), besides the plain
  strings of the seed's form (`"name"`, `"name:KEY"`, `"name:key=ENV"`).
- `volumes`: an entry's `name` may be a `PersistentVolumeClaim`, `ConfigMap` or `Secret`
  (or an Output of a name); without `volume_type`, the type follows the object's kind.

The task then depends on the object (Pulumi creates it first, and the task's inputs
wait for it) and uses its real name, which for an auto-named object carries Pulumi's
random suffix. pulumi_kubernetes is never imported here: objects are recognised by
their Pulumi type, so a program without Kubernetes objects does not need the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi import Output, Resource

from dh_kfp_pulumi.errors import FieldProblem, SpecError

VOLUME_TYPE_OF = {
    "kubernetes:core/v1:PersistentVolumeClaim": "persistent_volume_claim",
    "kubernetes:core/v1:ConfigMap": "config_map",
    "kubernetes:core/v1:Secret": "secret",
}
_OBJECTS = "a pulumi-kubernetes Secret, ConfigMap or PersistentVolumeClaim"


def is_object(value: Any) -> bool:
    """A pulumi-kubernetes Secret, ConfigMap or PersistentVolumeClaim."""
    return isinstance(value, Resource) and value.pulumi_resource_type in VOLUME_TYPE_OF


def object_name(value: Any) -> Output[str]:
    """The object's real name (`metadata.name`), as an Output carrying the dependency."""

    def name_of(metadata: Any) -> Any:
        if isinstance(metadata, Mapping):
            return metadata.get("name")
        return getattr(metadata, "name", None)

    return value.metadata.apply(name_of)


def _name(value: Any, path: str, kinds: tuple[str, ...] = tuple(VOLUME_TYPE_OF)) -> Any:
    if isinstance(value, (str, Output)):
        return value
    if is_object(value) and value.pulumi_resource_type in kinds:
        return object_name(value)
    raise SpecError(
        "run() settings",
        [FieldProblem(path, f"must be a name, an Output of a name or {_OBJECTS}", value, True)],
    )


def settings_with_names(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The run() settings with Kubernetes objects replaced by their names (Outputs)."""
    out = dict(settings)
    if isinstance(settings.get("secrets"), (list, tuple)):
        out["secrets"] = [
            _secret(entry, f"secrets[{i}]") for i, entry in enumerate(settings["secrets"])
        ]
    if isinstance(settings.get("volumes"), (list, tuple)):
        out["volumes"] = [
            _volume(entry, f"volumes[{i}]") for i, entry in enumerate(settings["volumes"])
        ]
    return out


def _secret(entry: Any, path: str) -> Any:
    secret_kind = ("kubernetes:core/v1:Secret",)
    if isinstance(entry, tuple):
        if len(entry) != 2 or not isinstance(entry[1], str) or not entry[1]:
            raise SpecError(
                "run() settings",
                [
                    FieldProblem(
                        path,
                        "a pair must be (secret, 'KEY') or (secret, 'key=ENV')",
                        entry,
                        True,
                    )
                ],
            )
        return Output.concat(_name(entry[0], f"{path}[0]", secret_kind), ":", entry[1])
    if is_object(entry):
        return _name(entry, path, secret_kind)
    return entry


def _volume(entry: Any, path: str) -> Any:
    if not isinstance(entry, Mapping) or not is_object(entry.get("name")):
        return entry
    obj = entry["name"]
    out = dict(entry)
    out["name"] = object_name(obj)
    out.setdefault("volume_type", VOLUME_TYPE_OF[obj.pulumi_resource_type])
    return out
