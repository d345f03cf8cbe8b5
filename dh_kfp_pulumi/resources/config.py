"""Stack config (namespace `dh-kfp`) on both sides of a deployment.

- In the provider process, `configure` gets the whole stack config (`dh-kfp:host`, ...,
  other namespaces too, the token decrypted); `provider_settings` keeps the `dh-kfp`
  keys. They stay on the provider object in that process only: the provider is
  pickled into the state by the program, before `configure`, and drops them when
  pickled anyway.
- In the program, `program_settings` reads the same keys with `pulumi.Config`, but
  never the token: the program has no use for it, so it cannot leak into a resource
  input, an output or a log. `Project` validates them early (a typo in a key or a bad
  host fails the program, not the first `check`).

Unset `dh-kfp:host` means the embedded server, started on demand by the provider
(`backends.Backend.host`), under `dh-kfp:data_dir` or the server's default data dir.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dh_kfp_pulumi.backends import NAMESPACE, BackendConfig, config_from_mapping

# The keys of the namespace (the backends module validates their values).
KEYS: tuple[str, ...] = (
    "host",
    "namespace",
    "experiment",
    "token",
    "verify_ssl",
    "image",
    "pipeline_root",
    "profiles",
    "image_pull_secrets",
    "data_dir",
    "request_timeout",
    "destroy_wait_timeout",
    "on_destroy_active_runs",
)
SECRET_KEYS = frozenset({"token"})


def provider_settings(config: Any) -> dict[str, Any]:
    """The `dh-kfp:` entries of a `pulumi.dynamic.Config` (or any mapping of stack config)."""
    raw = config if isinstance(config, Mapping) else getattr(config, "_props", None)
    if isinstance(raw, Mapping):
        return {str(k): v for k, v in raw.items() if str(k).startswith(f"{NAMESPACE}:")}
    # a Config without its mapping: ask for each known key
    out = {}
    for key in KEYS:
        value = config.get(f"{NAMESPACE}:{key}")
        if value is not None:
            out[f"{NAMESPACE}:{key}"] = value
    return out


def program_settings() -> dict[str, Any]:
    """The `dh-kfp:` stack config as the program sees it, without the token."""
    import pulumi

    config = pulumi.Config(NAMESPACE)
    out: dict[str, Any] = {}
    for key in KEYS:
        if key in SECRET_KEYS:
            continue
        value = config.get(key)
        if value is not None:
            out[f"{NAMESPACE}:{key}"] = value
    for key, value in _unknown_keys().items():
        out.setdefault(key, value)  # a typo is reported by config_from_mapping
    return out


def _unknown_keys() -> dict[str, Any]:
    """`dh-kfp:` keys of the stack config that are not settings (there is no public listing)."""
    from pulumi.runtime import config as runtime_config

    try:
        known = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    except Exception:  # noqa: BLE001 - best effort: no listing means no typo check
        return {}
    prefix = f"{NAMESPACE}:"
    return {
        k: v
        for k, v in known.items()
        if isinstance(k, str) and k.startswith(prefix) and k[len(prefix) :] not in KEYS
    }


def program_config() -> BackendConfig:
    """The stack's BackendConfig as the program sees it (no token); SpecError naming a bad key."""
    return config_from_mapping(program_settings())
