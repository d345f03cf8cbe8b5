"""What the engine prints: a banner, one line per step as it happens, then a summary in
the shape of Pulumi's (`+ create`, `~ update`, `+- replace`, `- delete`, changed keys)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from dh_kfp_pulumi.engine import props as P

if TYPE_CHECKING:
    from dh_kfp_pulumi.engine.result import Result, Step

_GLYPH = {"create": "+ ", "update": "~ ", "replace": "+-", "delete": "- ",
          "delete-replaced": "--", "same": "  "}
_DONE = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted",
         "delete-replaced": "deleted original", "same": "unchanged"}
_PLAN = {"create": "create", "update": "update", "replace": "replace", "delete": "delete",
         "delete-replaced": "delete original", "same": "unchanged"}
_REFRESH = {"update": "drift", "delete": "gone", "same": "unchanged"}
KIND_WIDTH = 40  # pulumi-python:dynamic/dh-kfp:Workflow and the like
STATUS_WIDTH = max(len(w) for w in [*_DONE.values(), *_PLAN.values(),
                                    *("refresh: " + r for r in _REFRESH.values())])
_TOTALS = (("create", "+", "created", "to create"), ("update", "~", "updated", "to update"),
           ("replace", "+-", "replaced", "to replace"), ("delete", "-", "deleted", "to delete"))

BANNER = ("dh-kfp offline engine: this is not Pulumi. It runs the Pulumi program and plays the "
          "Pulumi engine's part for dynamic resources, keeping its own state file.")


class Printer:
    """Console output; silent when `out` is None. Safe to call from several threads."""

    def __init__(self, out: TextIO | None):
        self.out = out
        self._lock = threading.Lock()

    def _print(self, text: str = "") -> None:
        if self.out is None:
            return
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def banner(self, operation: str, project: str, stack: str, preview: bool, state: Path,
               config: Path | None) -> None:
        command = {"preview": "preview", "refresh": "refresh --yes",
                   "destroy": "destroy --yes"}.get(operation, "up --yes")
        cli = shutil.which("pulumi")
        self._print(BANNER)
        self._print(f"  With the pulumi CLI{' (found at ' + cli + ')' if cli else ''}, run "
                    f"`pulumi {command} -s {stack}` instead: Pulumi's own engine and state.")
        self._print(f"  {operation} {project}/{stack}; state {state}; config "
                    f"{config if config else '(no stack file)'}")
        self._print()

    def step(self, step: Step, preview: bool) -> None:
        if step.op == "same" or step.type == "pulumi:pulumi:Stack":
            return
        if step.phase == "refresh":
            glyph = "~ " if step.op == "update" else "- "
            status = "refresh: " + _REFRESH[step.op]
        else:
            glyph = _GLYPH[step.op]
            status = (_PLAN if preview else _DONE)[step.op]
        detail = ""
        if step.keys:
            detail = " [diff: " + ", ".join(
                ("+-" if k in step.replaces else "~") + k for k in step.keys) + "]"
        elif step.replaces:
            detail = " [replaces: " + ", ".join(step.replaces) + "]"
        kind = step.type.split("$")[-1]
        # The name goes last, after the status (whose words are few and short): a long
        # resource name then never pushes the columns of its line out of line.
        self._print(f" {glyph} {kind:<{KIND_WIDTH}} {status:<{STATUS_WIDTH}} {step.name}{detail}")

    def info(self, message: str) -> None:
        self._print(f"    info: {message}")

    def warning(self, message: str) -> None:
        self._print(f"    warning: {message}")

    def error(self, message: str) -> None:
        self._print(f"    error: {message}")

    def summary(self, result: Result, exports: dict[str, Any]) -> None:
        if result.operation in ("up", "preview", "refresh") and exports:
            self._print()
            self._print("Outputs:")
            for key, value in sorted(exports.items()):
                self._print(f"    {key}: {P.show(value)}")
        self._print()
        self._print("Resources:")
        for phase in ("refresh", "deploy"):
            counts = result.counts(phase)
            if not counts:
                continue
            if phase == "refresh":
                drift, gone = counts.get("update", 0), counts.get("delete", 0)
                self._print(f"    refresh: {drift} drifted, {gone} gone, "
                            f"{counts.get('same', 0)} unchanged")
                continue
            for op, glyph, done, planned in _TOTALS:
                if counts.get(op):
                    self._print(f"    {glyph} {counts[op]} {planned if result.preview else done}")
            if counts.get("same"):
                self._print(f"    {counts['same']} unchanged")
        if not any(result.counts(p) for p in ("refresh", "deploy")):
            self._print("    none")
        self._print()
        outcome = "failed" if result.errors else ("planned" if result.preview else "done")
        self._print(f"Duration: {result.duration:.1f}s ({result.operation} {outcome})")
