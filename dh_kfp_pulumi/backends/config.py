"""The `dh-kfp` stack config: where KFP is and what every build and run uses.

`config_from_mapping` reads it from Pulumi's namespaced config or Terraform's provider
block and names every bad value; `BackendConfig` is plain data (picklable), the token
hidden from its repr.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dh_kfp_pulumi.errors import FieldProblem, SpecError

NAMESPACE = "dh-kfp"


@dataclass(frozen=True)
class BackendConfig:
    """The `dh-kfp` stack config: where KFP is and what every build and run uses.

    `host` None means the embedded server, started on demand under `data_dir` (None: the
    server's default data dir). `image`, `profiles` and `image_pull_secrets` are build
    settings (they change the compiled IR); the rest are connection settings.
    """

    host: str | None = None
    namespace: str = ""
    experiment: str | None = None
    token: str | None = field(default=None, repr=False, compare=False)
    verify_ssl: bool = True
    pipeline_root: str | None = None
    data_dir: str | None = None
    image: str | None = None
    profiles: Mapping[str, Any] = field(default_factory=dict, hash=False)
    image_pull_secrets: tuple[str, ...] = ()
    request_timeout: float = 60.0
    # What a destroy (or a task removed from the program) does with the runs its
    # recurring runs still have going: wait for them (at most this long), or cancel them.
    destroy_wait_timeout: float = 3600.0
    on_destroy_active_runs: str = "wait"

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'***' if name == 'token' and value else repr(value)}"
            for name, value in self.__dict__.items()
        )
        return f"BackendConfig({shown})"

    def experiment_for(self, project: str) -> str:
        """The experiment runs and schedules go to: config `experiment`, else the project name."""
        return self.experiment or project


_STR_KEYS = ("host", "namespace", "experiment", "token", "pipeline_root", "data_dir", "image")
_KEYS = (
    *_STR_KEYS,
    "verify_ssl",
    "profiles",
    "image_pull_secrets",
    "request_timeout",
    "destroy_wait_timeout",
    "on_destroy_active_runs",
)
ON_DESTROY_ACTIVE_RUNS = ("wait", "cancel")


def config_from_mapping(mapping: Mapping[str, Any] | None) -> BackendConfig:
    """A BackendConfig from stack config.

    Accepts Pulumi's whole namespaced config (`{"dh-kfp:host": ..., "aws:region": ...}`,
    values possibly JSON strings, as `configure` gets them) or plain keys (`{"host": ...}`,
    as Terraform's provider block gives them). Keys of other namespaces are ignored;
    an unknown `dh-kfp` key is an error (a typo would otherwise silently do nothing).
    """
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for raw_key, value in (mapping or {}).items():
        namespace, sep, key = str(raw_key).rpartition(":")
        if sep and namespace != NAMESPACE:
            continue
        shown = f"{NAMESPACE}:{key}"
        if key not in _KEYS:
            problems.append(
                FieldProblem(shown, f"unknown setting; valid: {', '.join(_KEYS)}", raw_key, True)
            )
            continue
        if value is None:
            continue
        try:
            values[key] = _config_value(key, value)
        except ValueError as exc:
            shown_value = "***" if key == "token" else value
            problems.append(FieldProblem(shown, str(exc), shown_value, True))
    if problems:
        raise SpecError("stack config", problems)
    if values.get("host") == "":
        values["host"] = None
    return BackendConfig(**values)


def _config_value(key: str, value: Any) -> Any:
    if key in _STR_KEYS:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if key == "host" and value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL of the KFP API")
        return value
    if key == "verify_ssl":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError("must be true or false")
    if key == "request_timeout":
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a number of seconds") from None
        if seconds <= 0:
            raise ValueError("must be a positive number of seconds")
        return seconds
    if key == "destroy_wait_timeout":
        try:
            seconds = float(value) if not isinstance(value, bool) else float("nan")
        except (TypeError, ValueError):
            seconds = float("nan")
        if not seconds >= 0 or seconds == float("inf"):
            raise ValueError(
                "must be a number of seconds, 0 or more (how long a destroy waits for the "
                "runs of its recurring runs to end; default 3600)"
            )
        return seconds
    if key == "on_destroy_active_runs":
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in ON_DESTROY_ACTIVE_RUNS:
            raise ValueError(
                "must be 'wait' (the default: a destroy waits for the runs of its recurring "
                "runs to end, up to destroy_wait_timeout) or 'cancel' (it cancels them)"
            )
        return text
    parsed = _maybe_json(value)
    if key == "profiles":
        if not isinstance(parsed, Mapping) or not all(
            isinstance(k, str) and isinstance(v, Mapping) for k, v in parsed.items()
        ):
            raise ValueError("must map profile names to pod settings, e.g. {'gpu': {...}}")
        return dict(parsed)
    # image_pull_secrets
    if isinstance(parsed, str):
        parsed = [parsed]
    if not isinstance(parsed, list) or not all(isinstance(s, str) for s in parsed):
        raise ValueError("must be a list of Kubernetes secret names")
    return tuple(parsed)


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError("is not valid JSON") from None
    return value
