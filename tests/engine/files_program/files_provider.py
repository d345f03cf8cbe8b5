"""A dynamic provider whose resources are text files under a root directory (config
`files:root`). Every call that changes something is appended to `<root>/calls.log`, so
tests can count writes the way the KFP tests count API writes."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

INPUTS = ("path", "content", "mode")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class FileProvider(ResourceProvider):
    root: str = ""
    max_size: int = 0

    def configure(self, req: ConfigureRequest) -> None:
        self.root = req.config.require("files:root")
        limits = req.config.get("files:limits")
        self.max_size = int(json.loads(limits)["max_size"]) if limits else 0

    def _log(self, *words: str) -> None:
        with open(Path(self.root) / "calls.log", "a") as handle:
            handle.write(" ".join(words) + "\n")

    def _fail_if_asked(self, op: str, path: str) -> None:
        """Markers tests drop in the root: `fail-<op>` / `hang-<op>` (empty or a path)."""
        for what in ("fail", "hang"):
            marker = Path(self.root) / f"{what}-{op}"
            if marker.exists() and marker.read_text().strip() in ("", path):
                if what == "hang":
                    time.sleep(120)
                raise RuntimeError(f"{op} of {path} failed on purpose")

    def check(self, olds, news):
        failures = []
        content = news.get("content")
        if not isinstance(content, (str, pulumi.output.Unknown)):
            failures.append(CheckFailure("content", f"must be text, got {content!r}"))
        elif isinstance(content, str) and self.max_size and len(content) > self.max_size:
            failures.append(CheckFailure("content", f"longer than {self.max_size}"))
        path = news.get("path")
        if isinstance(path, str) and (path.startswith("/") or ".." in path):
            failures.append(CheckFailure("path", f"must be relative, got {path!r}"))
        return CheckResult(dict(news, mode=news.get("mode") or "text"), failures)

    def diff(self, id_, olds, news):
        changed = [k for k in INPUTS if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[k for k in changed if k == "path"],
                          delete_before_replace=bool(news.get("dbr")))

    def _write(self, props, op: str) -> dict:
        self._fail_if_asked(op, props["path"])
        target = Path(self.root) / props["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(props["content"])
        self._log(op, props["path"])
        return dict(props, size=len(props["content"]), digest=_digest(props["content"]))

    def create(self, props):
        outs = self._write(props, "create")
        return CreateResult(props["path"], outs)

    def update(self, id_, olds, news):
        return UpdateResult(self._write(news, "update"))

    def delete(self, id_, props):
        self._fail_if_asked("delete", id_)
        target = Path(self.root) / id_
        if target.exists():
            os.unlink(target)
        self._log("delete", id_)

    def read(self, id_, props):
        self._fail_if_asked("read", id_)
        target = Path(self.root) / id_
        if not target.exists():
            return ReadResult("", {})
        content = target.read_text()
        live = {k: props.get(k) for k in INPUTS if k in props}
        live["content"] = content
        outs = dict(props, content=content, size=len(content), digest=_digest(content))
        return ReadResult(id_, outs, live)


class TextFile(Resource, module="files", name="TextFile"):
    size: pulumi.Output[int]
    digest: pulumi.Output[str]
    path: pulumi.Output[str]
    content: pulumi.Output[str]

    def __init__(self, name, path, content, opts=None, dbr=None):
        props = {"path": path, "content": content, "size": None, "digest": None}
        if dbr:
            props["dbr"] = True
        super().__init__(FileProvider(), name, props, opts)
