"""What the three kinds share: unknown values, plans, prop helpers, clean-up on failure.

Props are plain JSON-able dicts. Outputs are a superset of inputs, so a plan can take
the previous outputs as `olds` (as Pulumi's diff does) or the previous inputs (as
Terraform's does): only input keys are compared.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dh_kfp_pulumi.backends import ApiError
from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.naming import (  # noqa: F401 - named here for the kinds
    HASH_CHARS,
    Mark,
    identity_from_marker,
    mark_of,
    marker,
    short_hash,
)

log = logging.getLogger("dh_kfp_pulumi.reconcile")



class _Unknown:
    """A value the engine does not know yet (a preview before the producer exists)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Any = _Unknown()


def is_unknown(value: Any) -> bool:
    """True if the value is UNKNOWN or holds one anywhere inside."""
    if value is UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_unknown(v) for v in value)
    return False


def swap_unknowns(value: Any, is_theirs: Callable[[Any], bool], ours: Any) -> Any:
    """`value` with every unknown `is_theirs` recognises replaced by `ours`, at any depth
    (tuples become lists): how an adapter trades its engine's unknowns for UNKNOWN and back."""
    if is_theirs(value):
        return ours
    if isinstance(value, Mapping):
        return {k: swap_unknowns(v, is_theirs, ours) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [swap_unknowns(v, is_theirs, ours) for v in value]
    return value


@dataclass(frozen=True)
class Plan:
    """What an update would change: the changed input keys and those forcing replacement."""

    changes: list[str] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)
    delete_before_replace: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def plan_props(
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    *,
    inputs: Iterable[str],
    defaults: Mapping[str, Any],
    replaces: Iterable[str],
    replace_only_if_set: Iterable[str] = (),
    delete_before_replace: bool = False,
) -> Plan:
    """Compare input keys of `olds` (outputs or inputs) with `news`; unknown counts as changed.

    A missing key, None and the key's default are the same value. Keys in
    `replace_only_if_set` force replacement only when the old value was set (an imported
    resource takes them from config without being replaced).
    """
    keys = sorted(set(inputs))  # output keys (seeded as None by Pulumi) and strays never count
    changes = []
    for key in keys:
        new = news.get(key)
        if is_unknown(new):
            changes.append(key)
            continue
        old = olds.get(key)
        default = defaults.get(key)
        if _norm(old, default) != _norm(new, default):
            changes.append(key)
    only_if_set = set(replace_only_if_set)
    forcing = [
        k
        for k in changes
        if k in set(replaces) and (k not in only_if_set or olds.get(k) not in (None, ""))
    ]
    return Plan(changes, forcing, delete_before_replace and bool(forcing))


def _norm(value: Any, default: Any) -> str:
    if value is None:
        value = default
    if value in ([], {}, ()) and default is None:
        value = None
    return json.dumps(plain_numbers(value), sort_keys=True, default=str)


def plain_numbers(value: Any) -> Any:
    """Integral floats as ints, all the way down.

    Pulumi carries every number as a float (`{"x": 5}` arrives as `{"x": 5.0}`); KFP and
    kfp.local check integer parameters strictly, and hashes and diffs must not tell 5
    from 5.0.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: plain_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_numbers(v) for v in value]
    return value


def without_outputs(news: Mapping[str, Any], outputs: Iterable[str]) -> dict[str, Any]:
    """The props minus output keys (a Pulumi resource seeds its outputs as None in its props)."""
    drop = set(outputs)
    return {k: v for k, v in news.items() if k not in drop}


def split_props(
    props: Mapping[str, Any], keys: Iterable[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the props named in `keys`, the rest)."""
    wanted = set(keys)
    mine = {k: v for k, v in props.items() if k in wanted}
    rest = {k: v for k, v in props.items() if k not in wanted}
    return mine, rest


def only_inputs(outputs: Mapping[str, Any], inputs: Iterable[str]) -> dict[str, Any]:
    """The inputs' shape of a state: its input keys."""
    keys = set(inputs)
    return {k: v for k, v in outputs.items() if k in keys}


def digest(value: Any, chars: int = HASH_CHARS) -> str:
    """A short stable hash of a JSON-able value (key order does not matter)."""
    text = json.dumps(plain_numbers(value), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:chars]


def same_instant(a: str | None, b: str | None) -> bool:
    """Two RFC 3339 timestamps (or empties) meaning the same instant."""
    if not a or not b:
        return not a and not b
    try:
        return _instant(a) == _instant(b)
    except ValueError:
        return a == b


def not_after(a: str | None, b: str | None) -> bool:
    """RFC 3339 timestamp `a` is at or before `b` (False when either is empty or unreadable)."""
    if not a or not b:
        return False
    try:
        return _instant(a) <= _instant(b)
    except (TypeError, ValueError):  # unreadable, or one without its offset
        return False


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))


def problems_of(exc: BaseException, prefix: str = "") -> list[FieldProblem]:
    """FieldProblems from a SpecError (paths prefixed) or one problem for any other error."""
    if isinstance(exc, SpecError):
        return [
            FieldProblem(_join(prefix, p.path), p.message, p.value, p.has_value)
            for p in exc.problems
        ]
    return [FieldProblem(prefix, str(exc))]


def prefixed(problems: Iterable[FieldProblem], prefix: str) -> list[FieldProblem]:
    """The problems with their paths under `prefix` (e.g. 'functions[0]')."""
    return [FieldProblem(_join(prefix, p.path), p.message, p.value, p.has_value) for p in problems]


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    if not path:
        return prefix
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"


def drop_unknown_problems(
    problems: list[FieldProblem], data: Mapping[str, Any], groups: Iterable[Iterable[str]] = ()
) -> list[FieldProblem]:
    """Problems not caused by unknown values: those on an unknown field (or its group) go."""
    unknown = {k for k, v in data.items() if is_unknown(v)}
    for group in groups:
        group = set(group)
        if unknown & group:
            unknown |= group
    if not unknown:
        return problems
    return [p for p in problems if _root(p.path) not in unknown]


def _root(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def without_unknown(data: Mapping[str, Any]) -> dict[str, Any]:
    """The data with unknown top-level fields left out (validated as if not given)."""
    return {k: v for k, v in data.items() if not is_unknown(v)}


class Undo:
    """Clean-up steps for what a create made, run in reverse if it fails.

    `with Undo() as undo: ...; undo.push(what, fn)`; on an exception each step runs (its
    own failure is logged, never hiding the original error) and the error propagates.
    """

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], Any]]] = []

    def push(self, what: str, fn: Callable[[], Any]) -> None:
        self._steps.append((what, fn))

    def __enter__(self) -> Undo:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            return
        for what, fn in reversed(self._steps):
            try:
                fn()
            except Exception as cleanup_exc:  # noqa: BLE001 - the original error wins
                log.warning("clean-up after a failed change: could not %s: %s", what, cleanup_exc)


def require_text(props: Mapping[str, Any], key: str, problems: list[FieldProblem]) -> None:
    """A required non-empty string prop (unknown passes)."""
    value = props.get(key)
    if is_unknown(value):
        return
    if not isinstance(value, str) or not value.strip():
        problems.append(FieldProblem(key, "required: a non-empty string", value, value is not None))


def check_type(
    props: Mapping[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    what: str,
    problems: list[FieldProblem],
) -> None:
    """An optional prop of a given JSON type (None and unknown pass)."""
    value = props.get(key)
    if value is None or is_unknown(value):
        return
    ok = False if kind is not bool and isinstance(value, bool) else isinstance(value, kind)
    if not ok:
        problems.append(FieldProblem(key, f"must be {what}", value, True))


def unknown_keys(
    props: Mapping[str, Any], known: Iterable[str], problems: list[FieldProblem]
) -> None:
    """A problem for each key of `props` not in `known`, listing the known ones. A pod
    setting KFP cannot express (priority_class, runtime_class) is refused by name with
    what to do instead; left null (as Terraform sends an unset attribute), it is no setting."""
    from dh_kfp_pulumi.specs.pod import INEXPRESSIBLE

    known = list(known)
    for key in props:
        if key in known:
            continue
        if key in INEXPRESSIBLE:
            if props[key] is not None:
                problems.append(FieldProblem(key, INEXPRESSIBLE[key], props[key], True))
            continue
        problems.append(FieldProblem(key, f"unknown field; known fields: {', '.join(known)}"))


def get_or_none(get: Callable[..., Any], *ids: str) -> Any:
    """`get(*ids)`, or None when KFP says the object is not there (any other error raises)."""
    try:
        return get(*ids)
    except ApiError as exc:
        if exc.not_found:
            return None
        raise


def adopted(
    kind: str,
    noun: str,
    adopt: str,
    get: Callable[[str], Any],
    find: Callable[[str], Any] | None = None,
) -> Any:
    """The KFP object an `adopt` input names: `get` by id, else `find` by name (None if
    there is none). A name given where KFP wants an id answers 404 or 400 (not a UUID)."""
    try:
        return get(adopt)
    except ApiError as exc:
        if not exc.not_found and exc.status != 400:
            raise
    found = find(adopt) if find is not None else None
    if found is None:
        what = "id or name" if find is not None else "id"
        raise SpecError(kind, [FieldProblem("adopt", f"no KFP {noun} has this {what}", adopt, True)])
    return found


# ---- what every kind's plan and check start with -----------------------------------------


@dataclass(frozen=True)
class Fields:
    """A kind's props: its inputs, its output-only keys, defaults, and the inputs whose
    change replaces the object (`replace_only_if_set`: only when the old value is set)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    defaults: Mapping[str, Any]
    replaces: tuple[str, ...]
    replace_only_if_set: tuple[str, ...] = ()

    def plan(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> Plan:
        return plan_props(
            olds,
            news,
            inputs=self.inputs,
            defaults=self.defaults,
            replaces=self.replaces,
            replace_only_if_set=self.replace_only_if_set,
        )

    def start_check(
        self, news: Mapping[str, Any], required: Iterable[str] = ()
    ) -> tuple[dict[str, Any], list[FieldProblem]]:
        """`news` without outputs, and the problems of its unknown keys and of the
        `required` texts missing."""
        props = without_outputs(news, self.outputs)
        problems: list[FieldProblem] = []
        unknown_keys(props, self.inputs, problems)
        for key in required:
            require_text(props, key, problems)
        return props, problems


def owner_text(props: Mapping[str, Any]) -> str:
    """Who makes this resource's objects (`<engine>/<stack>`; "" when the caller gave none)."""
    owner = props.get("owner")
    return owner if isinstance(owner, str) else ""


def owner_problems(news: Mapping[str, Any]) -> list[FieldProblem]:
    """`owner`, set by the adapter (not the user): `<engine>/<stack>`, one word."""
    owner = news.get("owner")
    if owner is None or is_unknown(owner):
        return []
    if isinstance(owner, str) and re.fullmatch(r"[^\s/]+/\S+", owner) and len(owner) <= 200:
        return []
    return [FieldProblem("owner", "must be <engine>/<stack> (no spaces, at most 200 characters)",
                         owner, True)]


def foreign_mark(description: str, state: Mapping[str, Any]) -> Mark | None:
    """The object's owner mark when it names someone other than this resource, else None.

    Unmarked objects (made by hand, and adopted on purpose) and marks written before
    owners were recorded, for this same project and name, count as this resource's.
    """
    mark = mark_of(description)
    if mark is None:
        return None
    project, name = str(state.get("project") or ""), str(state.get("name") or "")
    if (mark.project, mark.name) != (project, name):
        return mark
    return mark if mark.owner and mark.owner != owner_text(state) else None


def adopt_problems(news: Mapping[str, Any], what: str) -> list[FieldProblem]:
    """`adopt`, when given, names an existing object: `what` says which (an id or name)."""
    adopt = news.get("adopt")
    if adopt is None or is_unknown(adopt) or (isinstance(adopt, str) and adopt):
        return []
    return [FieldProblem("adopt", f"must be {what}", adopt, True)]


def run_inputs_problems(news: Mapping[str, Any]) -> list[FieldProblem]:
    """The `inputs` of a run or schedule, as the Run spec takes them (unknown: no problem)."""
    from dh_kfp_pulumi.specs import parse_run

    run_inputs = news.get("inputs")
    if is_unknown(run_inputs):
        return []
    try:
        parse_run({"inputs": run_inputs if run_inputs is not None else {}})
    except SpecError as exc:
        return problems_of(exc)
    return []
