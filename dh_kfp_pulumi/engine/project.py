"""A Pulumi project on disk: `Pulumi.yaml`, its program and a stack's config, read as the
Pulumi CLI reads them.

Config values reach the program as Pulumi passes them (strings; structured values as JSON
text, so `Config.get_object` works) under namespaced keys (`dh-kfp:host`; a key without a
namespace belongs to the project). Values encrypted by Pulumi's secrets provider
(`secure:`) cannot be read here: they must be given as overrides.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dh_kfp_pulumi.errors import DhKfpError

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class ProjectError(DhKfpError):
    """The project, its program or a stack's config cannot be used."""


@dataclass(frozen=True)
class Secret:
    """A config override that is secret (kept out of state, logs and printed config)."""

    value: Any

    def __repr__(self) -> str:
        return "Secret(***)"


@dataclass(frozen=True)
class Project:
    name: str
    root: Path  # where Pulumi.yaml is
    program: Path  # the directory holding __main__.py (`main`)
    stack_config_dir: Path
    project_config: Mapping[str, Any] = field(default_factory=dict)

    def stack_file(self, stack: str) -> Path:
        return self.stack_config_dir / f"Pulumi.{stack}.yaml"


@dataclass(frozen=True)
class StackConfig:
    values: dict[str, str]  # namespaced key -> value as the program reads it
    secret_keys: tuple[str, ...]
    source: Path | None  # the stack file, when there is one

    def plain(self) -> dict[str, str]:
        """The config with secrets masked, for printing."""
        return {k: ("[secret]" if k in self.secret_keys else v) for k, v in self.values.items()}


def find_project(start: str | os.PathLike[str] | None = None) -> Project:
    """The project of `start`: the nearest Pulumi.yaml at or above it, as the CLI finds it."""
    here = Path(start or ".").expanduser().resolve()
    if not here.is_dir():
        raise ProjectError(f"program directory {str(here)!r} does not exist or is not a directory")
    for directory in (here, *here.parents):
        for name in PROJECT_FILES:
            if (directory / name).is_file():
                return load_project(directory / name)
    raise ProjectError(
        f"no Pulumi.yaml in {str(here)!r} or any parent directory: give the project's directory "
        "(the one with Pulumi.yaml)")


def load_project(path: Path) -> Project:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ProjectError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{path}: must be a mapping with at least `name` and `runtime`")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ProjectError(f"{path}: `name` must be a non-empty string (got {name!r})")
    runtime = data.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise ProjectError(
            f"{path}: runtime is {runtime_name!r}; dh-kfp's offline engine runs Python programs "
            "only (use the Pulumi CLI for others)")
    root = path.parent
    main = data.get("main") or "."
    if not isinstance(main, str):
        raise ProjectError(f"{path}: `main` must be a path (got {main!r})")
    program = (root / main).resolve()
    if program.is_file() and program.suffix == ".py":
        raise ProjectError(
            f"{path}: `main` is the file {main!r}; the offline engine runs a program directory "
            "holding __main__.py")
    if not (program / "__main__.py").is_file():
        raise ProjectError(f"{path}: the program {str(program)!r} (`main`) has no __main__.py")
    config_dir = data.get("stackConfigDir") or "."
    if not isinstance(config_dir, str):
        raise ProjectError(f"{path}: `stackConfigDir` must be a path (got {config_dir!r})")
    project_config = data.get("config") or {}
    if not isinstance(project_config, dict):
        raise ProjectError(f"{path}: `config` must be a mapping (got {project_config!r})")
    return Project(name=name, root=root, program=program,
                   stack_config_dir=(root / config_dir).resolve(), project_config=project_config)


def load_stack_config(project: Project, stack: str,
                      overrides: Mapping[str, Any] | None = None) -> StackConfig:
    """The stack's config: project defaults, then `Pulumi.<stack>.yaml`, then `overrides`."""
    if not _STACK_NAME.match(stack or ""):
        raise ProjectError(
            f"stack name {stack!r} is not valid: letters, digits, '_', '.', '-' only")
    values: dict[str, str] = {}
    secret: set[str] = set()
    undecryptable: list[str] = []

    for key, spec in project.project_config.items():
        default = spec.get("value", spec.get("default")) if isinstance(spec, dict) else spec
        if isinstance(spec, dict) and "value" not in spec and "default" not in spec:
            continue  # a typed declaration without a default
        if default is not None:
            values[_full_key(project.name, key)] = _as_config_text(default, key)

    path = project.stack_file(stack)
    source = None
    if path.is_file():
        source = path
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ProjectError(f"cannot read {path}: {exc}") from None
        config = data.get("config") or {} if isinstance(data, dict) else None
        if not isinstance(config, dict):
            raise ProjectError(f"{path}: `config` must be a mapping")
        for key, value in config.items():
            full = _full_key(project.name, str(key))
            if isinstance(value, dict) and set(value) == {"secure"}:
                undecryptable.append(full)
                continue
            values[full] = _as_config_text(value, f"{path.name}: {key}")

    for key, value in (overrides or {}).items():
        full = _full_key(project.name, str(key))
        if isinstance(value, Secret):
            secret.add(full)
            value = value.value
        if value is None:
            values.pop(full, None)
        else:
            values[full] = _as_config_text(value, f"override {key}")
        if full in undecryptable:
            undecryptable.remove(full)
    if undecryptable:
        raise ProjectError(
            f"{path}: {', '.join(undecryptable)} is encrypted by Pulumi's secrets provider, which "
            "only the Pulumi CLI can decrypt; give the value to the offline engine as a secret "
            "override (`--secret KEY=ENV_VAR` on the command line, `engine.Secret(...)` in "
            "config_overrides)")
    return StackConfig(values=values, secret_keys=tuple(sorted(secret)), source=source)


def _full_key(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _as_config_text(value: Any, where: str) -> str:
    """Pulumi's form of a config value: strings as they are, the rest as JSON text."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=False)
    except (TypeError, ValueError):
        raise ProjectError(f"{where}: config value {value!r} is not JSON") from None
