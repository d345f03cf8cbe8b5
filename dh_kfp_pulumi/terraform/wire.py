"""Terraform's values as reconcile's, and back: types the `tf` framework lacks, unknowns, paths.

- `Dynamic`: an attribute of any type (`inputs = { url = "...", n = 5 }`, pod settings as
  HCL objects). On the wire a dynamic value is `[type as JSON, value]` (Terraform's
  object wire format); the type is taken from the value when we make one, and an
  unchanged value keeps the bytes Terraform sent (the framework reuses them when equal),
  so `[1, 2]` stays a tuple or a list as the config had it.
- `ListBlock`: nested blocks in order (`function { ... }` blocks), which `tf` 1.0 only has
  as sets.
- `to_core` / `to_tf`: `tf.types.Unknown` <-> `reconcile.UNKNOWN`, all the way down.
- `attribute_path`: a problem's path (`functions[1].handler`, `inputs['a b']`) as the
  steps of a Terraform attribute path, so a diagnostic points at the config line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import msgpack
from tf import utils as tf_utils
from tf.gen import tfplugin_pb2 as pb
from tf.schema import Block, NestedBlock, NestMode
from tf.types import TfType, Unknown

# ---- unknowns ----------------------------------------------------------------------------

REFINED_UNKNOWN = 12  # msgpack extension of an unknown with refinements (Terraform >= 1.6)


def _ext_hook(code: int, data: bytes) -> Any:
    """Unknowns off the wire: plain (extension 0) and refined ones ("not null", a prefix...).

    tf 1.0.1 predates refinements and would hand an `ExtType(12, ...)` to the resource
    (Terraform sends one for e.g. `"${local.dir}/x.py"` while variables are unknown).
    """
    if code in (0, REFINED_UNKNOWN):
        return Unknown
    return msgpack.ExtType(code, data)


tf_utils._msgpack_ext_hook = _ext_hook  # read_dynamic_value looks it up at each call


def to_core(value: Any) -> Any:
    """A decoded Terraform value with its unknowns as reconcile.UNKNOWN."""
    # not at import: a schema call needs none of reconcile
    from dh_kfp_pulumi.reconcile.common import UNKNOWN, swap_unknowns

    return swap_unknowns(value, lambda v: v is Unknown, UNKNOWN)


def to_tf(value: Any) -> Any:
    """A reconcile value with UNKNOWN as the framework's Unknown (tuples as lists)."""
    from dh_kfp_pulumi.reconcile.common import UNKNOWN, swap_unknowns

    return swap_unknowns(value, lambda v: v is UNKNOWN, Unknown)


def canonical(value: Any) -> str:
    """A comparable text of a value: key order ignored, true is not 1, unknown is itself."""
    return json.dumps(
        value, sort_keys=True, default=lambda v: "<unknown>" if v is Unknown else repr(v)
    )


# ---- the dynamic type --------------------------------------------------------------------


class Dynamic(TfType):
    """Terraform's `dynamic` pseudo-type: any value, its type sent along with it."""

    def tf_type(self) -> bytes:
        return b'"dynamic"'

    def encode(self, value: Any) -> Any:
        if value is None or value is Unknown:
            return value
        return [json.dumps(type_of(value)).encode(), value]

    def decode(self, value: Any) -> Any:
        if value is None or value is Unknown:
            return value
        return _decode_dynamic(value)

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        return canonical(a_decoded) == canonical(b_decoded)


class Typed(TfType):
    """A fixed Terraform type (e.g. a list of objects); msgpack carries it as lists and maps."""

    def __init__(self, type_spec: Any):
        self.type_spec = type_spec

    def tf_type(self) -> bytes:
        return json.dumps(self.type_spec).encode()

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, value: Any) -> Any:
        return _typed(self.type_spec, value)

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        return canonical(a_decoded) == canonical(b_decoded)


def type_of(value: Any) -> Any:
    """The Terraform type of a plain value (objects for mappings, tuples for lists)."""
    if value is None or value is Unknown:
        return "dynamic"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return ["object", {str(k): type_of(v) for k, v in value.items()}]
    if isinstance(value, (list, tuple)):
        return ["tuple", [type_of(v) for v in value]]
    raise TypeError(f"no Terraform type for {type(value).__name__} value {value!r}")


def _decode_dynamic(wire: Any) -> Any:
    if not isinstance(wire, (list, tuple)) or len(wire) != 2:
        raise ValueError(f"not a dynamic value on the wire: {wire!r}")
    type_json, payload = wire
    if isinstance(type_json, (bytes, bytearray)):
        type_json = type_json.decode()
    return _typed(json.loads(type_json), payload)


def _typed(ty: Any, value: Any) -> Any:
    """A payload decoded by its type: numbers sent as text become numbers, nested dynamics open."""
    if value is None or value is Unknown:
        return value
    if ty == "dynamic":
        return _decode_dynamic(value)
    if ty == "number":
        return _number(value)
    if isinstance(ty, list) and len(ty) == 2:
        kind, inner = ty
        if kind == "object":
            return {k: _typed(inner.get(k, "dynamic"), v) for k, v in value.items()}
        if kind == "map":
            return {k: _typed(inner, v) for k, v in value.items()}
        if kind in ("list", "set"):
            return [_typed(inner, v) for v in value]
        if kind == "tuple":
            return [_typed(t, v) for t, v in zip(inner, value, strict=True)]
    return value


def _number(value: Any) -> Any:
    if isinstance(value, (bytes, str)):  # a number msgpack cannot hold exactly travels as text
        text = value.decode() if isinstance(value, bytes) else value
        number = Decimal(text)
        return int(number) if number == number.to_integral_value() else float(number)
    return value


# ---- nested blocks in order --------------------------------------------------------------


class ListBlock(NestedBlock):
    """Repeated nested blocks kept in the order they are written (`function { ... }`)."""

    def __init__(self, type_name: str, block: Block):
        super().__init__(type_name, NestMode.Set, block)

    def to_pb(self) -> pb.Schema.NestedBlock:
        return pb.Schema.NestedBlock(
            type_name=self.type_name,
            block=self.block.to_pb(),
            nesting=pb.Schema.NestedBlock.NestingMode.LIST,
        )

    def encode(self, value: Any) -> Any:
        from tf.provider import _encode_state_d

        if value is Unknown:
            return value
        return [
            _encode_state_d(self._amap(), self._bmap(), full(self, v), None) for v in value or []
        ]

    def decode(self, value: Any) -> Any:
        from tf.provider import _decode_state

        if value is Unknown:
            return value
        return [_decode_state(self._amap(), self._bmap(), v)[1] for v in value or []]

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        return canonical(a_decoded or []) == canonical(b_decoded or [])


def full(block: NestedBlock, value: Mapping[str, Any]) -> dict[str, Any]:
    """Every attribute of a block element, null when not given (Terraform wants them all)."""
    out: dict[str, Any] = {a.name: value.get(a.name) for a in block.block.attributes}
    for nested in block.block.block_types:
        out[nested.type_name] = value.get(nested.type_name) or []
    return out


# ---- paths -------------------------------------------------------------------------------

_STEP = re.compile(r"""\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[(['"])(.*?)\3\]""")


def split_path(path: str) -> list[str | int] | None:
    """'functions[1].handler' -> ['functions', 1, 'handler']; None if it does not parse."""
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = _STEP.match(path, pos)
        if match is None or match.end() == pos:
            return None
        name, index, _, key = match.groups()
        if name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(str(key))
        pos = match.end()
    return steps


def attribute_path(
    path: str, roots: Mapping[str, str], blocks: Iterable[str] = ()
) -> list[Any] | None:
    """A problem path as attribute-path steps; None when it names no attribute of ours.

    `roots` maps a props key to its attribute or block name (`functions` -> `function`).
    Inside a block the path goes down to the attribute (`function[1].handler`); inside an
    attribute's value it stops at the attribute, the one place Terraform can point at in
    the config for a dynamic value (the message names the rest).
    """
    steps = split_path(path) if path else None
    if not steps or not isinstance(steps[0], str) or steps[0] not in roots:
        return None
    root = roots[str(steps[0])]
    if root not in set(blocks):
        return [root]
    return [root, *((step,) if isinstance(step, int) else step for step in steps[1:])]
