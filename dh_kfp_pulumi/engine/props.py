"""Resource properties as the engine holds them: the SDK's wire format, as plain JSON.

A protobuf `Struct` from the program or a provider becomes a JSON-able dict with the
SDK's own markers left in place: a secret is `{SIG: SECRET_SIG, "value": v}`, a value
not known yet (preview) is the `UNKNOWN` string. So the state file round-trips exactly
what the Pulumi engine would have received, and nothing is re-encoded by us.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc

from dh_kfp_pulumi.pulumi_internals import SECRET_SIG, SIG

UNKNOWN = rpc.UNKNOWN

Props = dict[str, Any]


def from_struct(struct: struct_pb2.Struct | None) -> Props:
    """A Struct as plain JSON (integral numbers as ints, which is all JSON can tell apart)."""
    if struct is None:
        return {}
    return _ints(json_format.MessageToDict(struct))


def to_struct(props: Mapping[str, Any] | None) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if props:
        struct.update(dict(props))
    return struct


def _ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def describe(urn: str) -> str:
    """`<type> '<name>'` of a URN, for messages."""
    parts = urn.split("::", 3)
    if len(parts) < 4:
        return urn
    return f"{parts[2].split('$')[-1]} {parts[3]!r}"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG) == SECRET_SIG


def make_secret(value: Any) -> Any:
    return value if is_secret(value) else {SIG: SECRET_SIG, "value": value}


def unwrap_secrets(value: Any) -> Any:
    """The plain values, as a provider that does not accept secrets is sent them."""
    if is_secret(value):
        return unwrap_secrets(value.get("value"))
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def mask_secrets(value: Any) -> Any:
    """Every secret replaced by the text "[secret]"."""
    if is_secret(value):
        return "[secret]"
    if isinstance(value, dict):
        return {k: mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


def contains_secrets(value: Any) -> bool:
    if is_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secrets(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secrets(v) for v in value)
    return False


def contains_unknowns(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknowns(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknowns(v) for v in value)
    return False


def annotate_secrets(outs: Props, ins: Mapping[str, Any], extra: Iterable[str] = ()) -> Props:
    """Give `outs` the secretness of `ins`, key by key (objects recursively).

    What the Pulumi engine does for providers that do not accept secrets (dynamic providers
    answer `acceptSecrets: false`): a value that went in secret comes back secret, and so do
    the resource's `additional_secret_outputs`.
    """
    result = dict(outs)
    for key, in_value in ins.items():
        if key not in result:
            continue
        out_value = result[key]
        if isinstance(out_value, dict) and not is_secret(out_value) and isinstance(in_value, dict) \
                and not is_secret(in_value):
            result[key] = annotate_secrets(out_value, in_value)
        elif not is_secret(out_value) and contains_secrets(in_value):
            result[key] = make_secret(out_value)
    for key in extra:
        if key in result:
            result[key] = make_secret(result[key])
    return result


def changed_keys(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """Top-level keys whose values differ (secretness aside; an unknown counts as changed)."""
    keys = []
    for key in sorted(set(olds) | set(news)):
        old, new = unwrap_secrets(olds.get(key)), unwrap_secrets(news.get(key))
        if old != new or contains_unknowns(new):
            keys.append(key)
    return keys


def show(value: Any, limit: int = 200) -> str:
    """A value for the console: secrets masked, unknowns named, long text cut."""
    text = _show(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any) -> str:
    if is_secret(value):
        return "[secret]"
    if value == UNKNOWN:
        return "output<unknown>"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\n", "\\n") + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def apply_ignore_changes(news: Props, old_inputs: Props, keys: Sequence[str]) -> Props:
    """`news` with the `ignore_changes` keys as they were (`*`: every key)."""
    result = dict(news)
    for key in (list(old_inputs) if "*" in keys else keys):
        if key in old_inputs:
            result[key] = old_inputs[key]
        else:
            result.pop(key, None)
    return result
