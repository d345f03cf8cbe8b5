"""Helpers of the Terraform tests: the CLI in a working directory, and plan JSON readers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
VENV_BIN = Path(sys.executable).parent
PROVIDER_SCRIPT = VENV_BIN / "terraform-provider-dhkfp"


class Terraform:
    """`terraform` in one working directory, with the dev_overrides config and variables."""

    def __init__(self, binary: str, workdir: Path, cli_config: Path, variables: dict[str, Any]):
        self.binary, self.workdir, self.variables = binary, workdir, variables
        self.env = {
            **os.environ,
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        self.transcript: list[tuple[str, str]] = []  # (subcommand, output), for secrecy checks

    def _vars(self) -> list[str]:
        out = []
        for key, value in self.variables.items():
            text = json.dumps(value) if not isinstance(value, str) else value
            out += ["-var", f"{key}={text}"]
        return out

    def run(self, *args: str, ok: tuple[int, ...] = (0,), variables: bool = True) -> Any:
        command = [self.binary, *args]
        if variables:  # options go before positional arguments (import ADDR ID)
            command[2:2] = self._vars()
        done = subprocess.run(
            command,
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.transcript.append((args[0], done.stdout + done.stderr))
        if done.returncode not in ok:
            raise AssertionError(
                f"terraform {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def apply(self, saved_plan: str | None = None) -> Any:
        """`apply`, of the config or of a saved plan (which carries its own variables)."""
        if saved_plan:
            return self.run("apply", "-input=false", "-no-color", saved_plan, variables=False)
        return self.run("apply", "-auto-approve", "-input=false", "-no-color")

    def plan_exit(self) -> int:
        """`plan -detailed-exitcode`: 0 no changes, 2 changes."""
        return self.run(
            "plan", "-detailed-exitcode", "-input=false", "-no-color", ok=(0, 2)
        ).returncode

    def plan_json(self, out: str = "tfplan") -> dict[str, Any]:
        """A saved plan (to apply exactly) and its JSON form."""
        self.run("plan", "-input=false", "-no-color", f"-out={out}")
        shown = self.run("show", "-json", out, variables=False)
        return json.loads(shown.stdout)

    def state(self) -> dict[str, dict[str, Any]]:
        """address -> attributes, from terraform.tfstate."""
        data = json.loads((self.workdir / "terraform.tfstate").read_text())
        out = {}
        for r in data.get("resources", []):
            if r.get("mode") == "managed":
                out[f"{r['type']}.{r['name']}"] = r["instances"][0]["attributes"]
        return out


def actions(plan: dict[str, Any]) -> dict[str, list[str]]:
    """address -> planned actions (["no-op"], ["update"], ["delete", "create"], ...)."""
    return {c["address"]: c["change"]["actions"] for c in plan.get("resource_changes", [])}


def drift(plan: dict[str, Any]) -> dict[str, list[str]]:
    return {c["address"]: c["change"]["actions"] for c in plan.get("resource_drift", [])}


def change(plan: dict[str, Any], address: str) -> dict[str, Any]:
    return next(c["change"] for c in plan["resource_changes"] if c["address"] == address)
