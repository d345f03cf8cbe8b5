"""Pipeline specs (KFP IR) as the server receives, checks, keeps and returns them.

An upload is kept byte for byte; its parsed form is what `pipeline_spec` shows on the wire:
the IR itself, or `{"pipeline_spec": ..., "platform_spec": ...}` when the YAML carries a second
(platform) document, as KFP does. Checks are KFP's: a mapping that protobuf accepts as a
`PipelineSpec`, with a valid `pipelineInfo.name`.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
import zipfile
from dataclasses import dataclass
from typing import Any

import yaml

from dh_kfp_pulumi.server.wire import invalid

MAX_FILE_BYTES = 32 << 20
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PYTHON_EXECUTOR = "kfp.dsl.executor_main"


@dataclass(frozen=True)
class Spec:
    pipeline_spec: dict[str, Any]
    platform_spec: dict[str, Any] | None = None

    def wire(self) -> dict[str, Any]:
        if self.platform_spec:
            return {"pipeline_spec": self.pipeline_spec, "platform_spec": self.platform_spec}
        return self.pipeline_spec

    @property
    def name(self) -> str:
        return str(self.pipeline_spec.get("pipelineInfo", {}).get("name", ""))


def read_file(filename: str, data: bytes) -> Spec:
    """An uploaded pipeline file (YAML, JSON, zip or tar.gz holding one) -> a checked Spec."""
    if len(data) > MAX_FILE_BYTES:
        raise invalid(f"File size too large. Maximum supported size: {MAX_FILE_BYTES} bytes "
                      f"(got {len(data)})")
    lower = filename.lower()
    if data[:4] == b"PK\x03\x04" or lower.endswith(".zip"):
        filename, data = _from_zip(data)
    elif data[:2] == b"\x1f\x8b" or lower.endswith((".tar.gz", ".tgz")):
        filename, data = _from_tar(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("Failed to read a pipeline spec file: it is not UTF-8 text",
                      "Unexpected pipeline file format. Support .zip, .tar.gz or YAML.") from None
    return from_yaml(text)


def from_yaml(text: str) -> Spec:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise invalid(f"Failed to read a pipeline spec file: invalid YAML: {exc}") from None
    if not docs:
        raise invalid("Failed to read a pipeline spec file: the file is empty")
    if len(docs) > 2:
        raise invalid(f"Failed to read a pipeline spec file: expected a pipeline spec and at most "
                      f"one platform spec document, got {len(docs)} documents")
    if len(docs) == 1 and isinstance(docs[0], dict) and "pipeline_spec" in docs[0]:
        return from_wire(docs[0])
    spec = Spec(docs[0], docs[1] if len(docs) == 2 else None)
    check(spec)
    return spec


def from_wire(value: Any, *, validate: bool = True) -> Spec:
    """A `pipeline_spec` field from a request (plain IR or the pipeline/platform pair)."""
    if isinstance(value, dict) and "pipeline_spec" in value:
        unknown = set(value) - {"pipeline_spec", "platform_spec"}
        if unknown:
            raise invalid(f"Invalid pipeline spec: unexpected keys {sorted(unknown)} next to "
                          "pipeline_spec (only platform_spec may accompany it)")
        spec = Spec(value["pipeline_spec"], value.get("platform_spec") or None)
    else:
        spec = Spec(value)
    if validate:
        check(spec)
    return spec


def check(spec: Spec) -> None:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    doc = spec.pipeline_spec
    if not isinstance(doc, dict):
        raise invalid(f"Invalid pipeline spec: expected a mapping, got {type(doc).__name__}")
    name = doc.get("pipelineInfo", {}).get("name") if isinstance(doc.get("pipelineInfo"), dict) else None
    if not isinstance(name, str) or not name:
        raise invalid("Invalid pipeline spec: pipelineInfo.name is missing")
    if len(name) > 128 or not _NAME.match(name):
        raise invalid(f"Invalid pipeline spec: pipelineInfo.name {name!r} must be lowercase "
                      "alphanumerics and '-', start and end alphanumeric, at most 128 characters")
    if not isinstance(doc.get("root"), dict):
        raise invalid("Invalid pipeline spec: root is missing (it holds the pipeline's DAG)")
    try:
        json_format.ParseDict(doc, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as exc:
        raise invalid(f"Invalid pipeline spec: {exc}") from None
    if spec.platform_spec is not None:
        if not isinstance(spec.platform_spec, dict):
            raise invalid("Invalid platform spec: expected a mapping")
        try:
            json_format.ParseDict(spec.platform_spec, pipeline_spec_pb2.PlatformSpec())
        except json_format.ParseError as exc:
            raise invalid(f"Invalid platform spec: {exc}") from None


def check_parameters(spec: Spec, parameters: dict[str, Any]) -> None:
    """Refuse unknown pipeline parameters and missing required ones, naming them."""
    defs = spec.pipeline_spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    unknown = sorted(set(parameters) - set(defs))
    if unknown:
        raise invalid(f"Invalid runtime_config.parameters: unknown parameter(s) {unknown}; the "
                      f"pipeline takes {sorted(defs) or 'no parameters'}")
    missing = sorted(name for name, d in defs.items()
                     if name not in parameters and "defaultValue" not in d
                     and not d.get("isOptional"))
    if missing:
        raise invalid(f"Invalid runtime_config.parameters: missing required parameter(s) {missing}")


def container_executors(spec: Spec) -> list[str]:
    """Executors that are not lightweight Python components: they need a container engine."""
    executors = spec.pipeline_spec.get("deploymentSpec", {}).get("executors", {})
    out = []
    for label, executor in executors.items():
        container = executor.get("container")
        if container is None:
            continue  # importer or other non-container executors
        command = " ".join([*container.get("command", []), *container.get("args", [])])
        if _PYTHON_EXECUTOR not in command or "--executor_input" not in command:
            out.append(label)
        elif container.get("command", [])[:3] == ["python3", "-m", _PYTHON_EXECUTOR]:
            out.append(label)  # containerized python component: code lives in the image
    return sorted(out)


# Platform settings that change nothing of a run on this machine, so dropping them loses
# nothing: pod labels and annotations (no pod exists here for anything to select by them).
NO_LOCAL_EFFECT = frozenset({"podMetadata"})


def platform_notes(spec: Spec) -> list[str]:
    """What the platform spec asks of Kubernetes that a local run cannot honour, per executor
    (settings with no effect here, `NO_LOCAL_EFFECT`, are not named)."""
    platforms = (spec.platform_spec or {}).get("platforms", {})
    notes = []
    for platform, config in sorted(platforms.items()):
        executors = (config or {}).get("deploymentSpec", {}).get("executors", {})
        for label, settings in sorted(executors.items()):
            keys = sorted(k for k, v in (settings or {}).items()
                          if v not in (None, {}, []) and k not in NO_LOCAL_EFFECT)
            if keys:
                notes.append(f"{label}: {', '.join(keys)}")
        if not executors and config:
            notes.append(f"{platform}: {', '.join(sorted(config))}")
    return notes


def _from_zip(data: bytes) -> tuple[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise invalid(f"Failed to read pipeline from file: a zip upload must hold exactly "
                              f"one file, got {len(names)}")
            info = archive.getinfo(names[0])
            if info.file_size > MAX_FILE_BYTES:
                raise invalid("File size too large: the zipped pipeline spec exceeds 32 MiB")
            return names[0], archive.read(names[0])
    except zipfile.BadZipFile as exc:
        raise invalid(f"Failed to read pipeline from file: bad zip archive: {exc}") from None


def _from_tar(data: bytes) -> tuple[str, bytes]:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            members = [m for m in archive.getmembers() if m.isfile()]
            if len(members) != 1:
                raise invalid(f"Failed to read pipeline from file: a tar.gz upload must hold "
                              f"exactly one file, got {len(members)}")
            if members[0].size > MAX_FILE_BYTES:
                raise invalid("File size too large: the archived pipeline spec exceeds 32 MiB")
            handle = archive.extractfile(members[0])
            return members[0].name, handle.read() if handle else b""
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, OSError) as exc:
        raise invalid(f"Failed to read pipeline from file: bad tar.gz archive: {exc}") from None


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=False)
