"""KFP's JSON conventions on the wire: errors, timestamps, request bodies, zero-value omission.

The real server is grpc-gateway over protobuf: request bodies are read by protojson (proto or
lowerCamel names, enums by name or number, int64 as number or string, unknown fields refused)
and responses are written with proto names and without zero values. Request bodies are checked
here against the official swagger definitions shipped in `swagger/`, so the accepted fields are
exactly KFP's.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import resources
from typing import Any

# gRPC code -> HTTP status, as grpc-gateway v2.28 maps them.
HTTP_STATUS = {
    0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429,
    9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
}
INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS = 3, 5, 6
FAILED_PRECONDITION, ABORTED, UNIMPLEMENTED, INTERNAL = 9, 10, 12, 13


class ApiError(Exception):
    """A KFP error: a gRPC code, the internal message chain and the user-facing message."""

    def __init__(self, code: int, message: str, user_message: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.user_message = user_message if user_message is not None else message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def body(self) -> dict[str, Any]:
        """`google.rpc.Status` with the user message in `details[0]`, as the gateway writes it."""
        return {
            "code": self.code,
            "message": self.message,
            "details": [{
                "@type": "type.googleapis.com/google.rpc.Status",
                "code": self.code,
                "message": self.user_message,
            }],
        }

    def upload_body(self) -> dict[str, Any]:
        """The upload handlers' `api.v1beta1.Error` shape (never with a stack trace here)."""
        return {"error_message": self.user_message, "error_details": self.message}


def invalid(message: str, user_message: str | None = None) -> ApiError:
    return ApiError(INVALID_ARGUMENT, message, user_message)


def not_found(kind: str, ident: str, action: str) -> ApiError:
    user = f"{kind} {ident} not found"
    return ApiError(NOT_FOUND, f"{action}: ResourceNotFoundError: {user}", user)


# --- timestamps -------------------------------------------------------------------------------

def ts(seconds: int | float | None) -> str:
    """RFC 3339 UTC with `Z`, whole seconds; 0/None is the epoch, as KFP writes unset times."""
    value = int(seconds or 0)
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(text: str, field: str) -> int:
    """RFC 3339 (any offset, optional fraction) -> epoch seconds, as protojson reads Timestamps."""
    if not isinstance(text, str) or not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}", text):
        raise invalid(f"proto: invalid value for {field}: {json.dumps(text)} is not an RFC 3339 "
                      "timestamp (e.g. 2026-01-02T03:04:05Z)")
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise invalid(f"proto: invalid value for {field}: {json.dumps(text)}: {exc}") from None
    if moment.tzinfo is None:
        raise invalid(f"proto: invalid value for {field}: {json.dumps(text)} has no time zone "
                      "(add Z or an offset)")
    return int(moment.timestamp())


# --- responses --------------------------------------------------------------------------------

def message(**fields: Any) -> dict[str, Any]:
    """A proto message as protojson emits it: fields at their zero value are left out.

    Only this level is pruned; nested dicts are built by their own `message` call, and opaque
    values (a pipeline spec, parameter values) are kept as given.
    """
    return {k: v for k, v in fields.items() if v not in (None, "", 0, False, [], {})}


def int64(value: int | None) -> str | None:
    """int64 fields travel as JSON strings."""
    return None if not value else str(int(value))


# --- requests ---------------------------------------------------------------------------------

@functools.cache
def swagger() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("swagger/kfp_api_single_file.swagger.json")
    return json.loads(text.read_text(encoding="utf-8"))


def _definition(ref: str) -> dict[str, Any]:
    return swagger()["definitions"][ref.rsplit("/", 1)[-1]]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def parse_body(raw: bytes, definition: str) -> dict[str, Any]:
    """A JSON request body -> a dict with proto field names, checked like protojson would."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"proto: syntax error: {exc}") from None
    return parse_message(value, swagger()["definitions"][definition], definition)


def parse_message(value: Any, schema: dict[str, Any], path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"proto: invalid value for message {path}: {json.dumps(value)[:80]}")
    props = schema.get("properties", {})
    names = {name: name for name in props} | {_camel(name): name for name in props}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = names.get(key)
        if name is None:
            raise invalid(f'proto: unknown field "{key}" in {path}')
        if name in out:
            raise invalid(f'proto: duplicate field "{key}" in {path}')
        if item is None:
            continue
        out[name] = _parse_value(item, props[name], f"{path}.{name}")
    return out


def _parse_value(value: Any, schema: dict[str, Any], path: str) -> Any:
    if "$ref" in schema:
        target = _definition(schema["$ref"])
        if "enum" in target:
            return _parse_enum(value, target["enum"], path)
        return parse_message(value, target, path)
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "string" and fmt == "int64":
        return _parse_int(value, path, 64)
    if kind == "string" and fmt == "date-time":
        return parse_ts(value, path)
    if kind == "string":
        if not isinstance(value, str):
            raise invalid(f"proto: invalid value for string field {path}: {json.dumps(value)[:80]}")
        return value
    if kind == "integer":
        return _parse_int(value, path, 32)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise invalid(f"proto: invalid value for bool field {path}: {json.dumps(value)[:80]}")
        return value
    if kind == "array":
        if not isinstance(value, list):
            raise invalid(f"proto: invalid value for repeated field {path}: expected a list")
        return [_parse_value(v, schema.get("items", {}), f"{path}[{i}]") for i, v in enumerate(value)]
    if kind == "object":
        if not isinstance(value, dict):
            raise invalid(f"proto: invalid value for {path}: expected a JSON object")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra.get("type") == "string":
            bad = [k for k, v in value.items() if not isinstance(v, str)]
            if bad:
                raise invalid(f"proto: invalid value for {path}.{bad[0]}: expected a string")
        return value  # a Struct or a map of Values: kept verbatim
    return value


def _parse_int(value: Any, path: str, bits: int) -> int:
    if isinstance(value, bool):
        raise invalid(f"proto: invalid value for int{bits} field {path}: {value}")
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise invalid(f"proto: invalid value for int{bits} field {path}: {json.dumps(value)[:80]}")
    return value


def _parse_enum(value: Any, names: list[str], path: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, str) and value in names:
        return value
    raise invalid(f"proto: invalid value for enum field {path}: {json.dumps(value)[:80]} "
                  f"(valid: {', '.join(names)})")


# --- stored rows -> KFP messages ---------------------------------------------------------------

def _json(text: str, default: Any = None) -> Any:
    return json.loads(text) if text else default


def experiment(row: Any) -> dict[str, Any]:
    return message(
        experiment_id=row["id"], display_name=row["name"], description=row["description"],
        created_at=ts(row["created_at"]), namespace=row["namespace"],
        storage_state=row["storage_state"], last_run_created_at=ts(row["last_run_created_at"]))


def pipeline(row: Any) -> dict[str, Any]:
    return message(
        pipeline_id=row["id"], display_name=row["display_name"], name=row["name"],
        description=row["description"], created_at=ts(row["created_at"]),
        namespace=row["namespace"], tags=_json(row["tags"], {}))


def pipeline_version(row: Any) -> dict[str, Any]:
    return message(
        pipeline_id=row["pipeline_id"], pipeline_version_id=row["id"],
        display_name=row["display_name"], name=row["name"], description=row["description"],
        created_at=ts(row["created_at"]),
        package_url=message(pipeline_url=row["package_url"]),
        code_source_url=row["code_source_url"], pipeline_spec=_json(row["spec_json"]),
        tags=_json(row["tags"], {}))


def _source(row: Any, inline: bool) -> dict[str, Any]:
    if inline:
        return {"pipeline_spec": _json(row["spec_json"])}
    return {"pipeline_version_reference": message(
        pipeline_id=row["pipeline_id"], pipeline_version_id=row["pipeline_version_id"])}


def _runtime_config(text: str) -> dict[str, Any]:
    config = _json(text, {})
    return message(parameters=config.get("parameters"), pipeline_root=config.get("pipeline_root"))


def _history(text: str) -> list[dict[str, Any]]:
    return [message(update_time=ts(h["update_time"]), state=h["state"], error=h.get("error"))
            for h in _json(text, [])]


def run(row: Any, tasks: Sequence[Any] = (), artifacts: Sequence[Any] = ()) -> dict[str, Any]:
    return message(
        experiment_id=row["experiment_id"], run_id=row["id"], display_name=row["display_name"],
        storage_state=row["storage_state"], description=row["description"],
        **_source(row, not row["pipeline_version_id"]),
        runtime_config=_runtime_config(row["runtime_config"]),
        service_account=row["service_account"], created_at=ts(row["created_at"]),
        scheduled_at=ts(row["scheduled_at"]), finished_at=ts(row["finished_at"]),
        state=row["state"], error=_json(row["error"]),
        run_details=message(task_details=[task(t, artifacts, tasks) for t in tasks]),
        recurring_run_id=row["recurring_run_id"], state_history=_history(row["state_history"]))


def task(row: Any, artifacts: Sequence[Any] = (), tasks: Sequence[Any] = ()) -> dict[str, Any]:
    """KFP's PipelineTaskDetail. As KFP's converter writes it, the task's own `pod_name` is
    never set and `child_tasks` lists the tasks under it (of `tasks`, the run's) by
    `pod_name`; there are no pods here, so a child's pod name is its task id."""
    outputs: dict[str, dict[str, list[str]]] = {}
    for art in artifacts:
        if art["task_id"] == row["task_id"]:
            outputs.setdefault(art["output"], {"artifact_ids": []})["artifact_ids"].append(
                str(art["id"]))
    return message(
        run_id=row["run_id"], task_id=row["task_id"], display_name=row["display_name"],
        create_time=ts(row["create_time"]), start_time=ts(row["start_time"]),
        end_time=ts(row["end_time"]), state=row["state"], execution_id=int64(row["seq"]),
        error=_json(row["error"]), outputs=outputs, parent_task_id=row["parent_task_id"],
        state_history=_history(row["state_history"]),
        child_tasks=[{"pod_name": t["task_id"]} for t in tasks
                     if t["parent_task_id"] and t["parent_task_id"] == row["task_id"]])


def recurring_run(row: Any) -> dict[str, Any]:
    trig = _json(row["trigger"], {})
    times = {"start_time": ts(trig["start_time"]) if trig.get("start_time") else None,
             "end_time": ts(trig["end_time"]) if trig.get("end_time") else None}
    if trig.get("cron") is not None:
        trigger = {"cron_schedule": message(**times, cron=trig["cron"])}
    else:
        trigger = {"periodic_schedule": message(**times,
                                                interval_second=int64(trig["interval_second"]))}
    enabled = row["mode"] == "ENABLE"
    return message(
        recurring_run_id=row["id"], display_name=row["display_name"],
        description=row["description"], **_source(row, bool(row["spec_inline"])),
        runtime_config=_runtime_config(row["runtime_config"]),
        service_account=row["service_account"], max_concurrency=int64(row["max_concurrency"]),
        trigger=trigger, mode="ENABLE" if enabled else "DISABLE",
        created_at=ts(row["created_at"]), updated_at=ts(row["updated_at"]),
        status="ENABLED" if enabled else "DISABLED", no_catchup=bool(row["no_catchup"]),
        namespace=row["namespace"], experiment_id=row["experiment_id"])
