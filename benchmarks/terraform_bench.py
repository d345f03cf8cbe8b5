"""Terraform apply / plan / destroy with the dhkfp provider, against the same work done by
calling the reconcile core directly (the baseline), on one embedded KFP server.

Two configurations:
- the parking example (examples/terraform/main.tf: a workflow with 2 functions, a
  schedule and one run waited to SUCCEEDED);
- 50 generated workflows (one step each, inline code), no schedule, no run.

For each: `terraform apply` (from nothing), a no-op `terraform plan` (refresh + check of
every resource), `terraform destroy`; and the baseline: reconcile's check + create, then
read + check + plan, then delete, for the same objects in one Python process (sequential,
no Terraform, no plugin). The ratio is terraform / direct. A `terraform plan` of a config
with no resources shows Terraform's fixed cost (CLI start, provider start). No-op plans
run with the provider's remembered checks (terraform/checks.py, in this run's folder) and,
interleaved, without them. The plugin runs with its modules' bytecode cached (in this
run's folder), as an installed package does; `--no-bytecode` keeps the environment's
PYTHONDONTWRITEBYTECODE, so each plugin process compiles what it imports.

Re-run:  PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/terraform_bench.py [--workflows N]
         [--plans 5] [--parking-only] [--no-bytecode]
(needs the terraform CLI on PATH; the provider runs from this venv via dev_overrides)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

HEADER = """terraform {
  required_providers {
    dhkfp = { source = "dh-kfp.local/dh-kfp/dhkfp" }
  }
}
variable "kfp_host" { type = string }
provider "dhkfp" { host = var.kfp_host }
"""

PIPELINE = """from dh_kfp_pulumi.dsl import pipeline_context

def pipe(x: int = 1):
    with pipeline_context() as pc:
        pc.step(name="add", function="adder", action="job", inputs={"x": x}, values=["y"])
"""
ADDER = "def add(x):\n    return {'y': str(int(x) + %d)}\n"


def many_props(n: int) -> list[dict]:
    return [
        {"project": "bench", "name": f"wf{i:03d}", "kind": "kfp", "code": PIPELINE,
         "handler": "pipe", "functions": [{"name": "adder", "kind": "python",
                                           "code": ADDER % i, "handler": "add"}]}
        for i in range(n)
    ]  # fmt: skip


def many_tf(props: list[dict]) -> str:
    blocks = []
    for p in props:
        fn = p["functions"][0]
        blocks.append(
            f'resource "dhkfp_workflow" "{p["name"]}" {{\n'
            f'  project = "{p["project"]}"\n  name = "{p["name"]}"\n  kind = "kfp"\n'
            f'  code = {json.dumps(p["code"])}\n  handler = "pipe"\n'
            f'  function {{\n    name = "adder"\n    kind = "python"\n'
            f'    code = {json.dumps(fn["code"])}\n    handler = "add"\n  }}\n}}\n'
        )
    return HEADER + "\n".join(blocks)


class Terraform:
    def __init__(
        self, workdir: Path, cli_config: Path, variables: dict[str, str], bytecode: bool = True
    ):
        self.workdir, self.variables = workdir, variables
        environ = dict(os.environ)
        if bytecode:  # as an installed package runs: its modules' bytecode cached, once
            environ.pop("PYTHONDONTWRITEBYTECODE", None)
            environ["PYTHONPYCACHEPREFIX"] = str(cli_config.parent / "pycache")
        self.env = {
            **environ,
            # the provider's remembered checks (terraform/checks.py), in this run's folder
            "DH_KFP_CHECK_CACHE": str(cli_config.parent / "checks"),
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def timed(
        self, *args: str, ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None
    ) -> float:
        command = ["terraform", args[0], *[f"-var={k}={v}" for k, v in self.variables.items()]]
        command += list(args[1:])
        start = time.perf_counter()
        done = subprocess.run(
            command, cwd=self.workdir, env={**self.env, **(env or {})}, capture_output=True,
            text=True,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
        if done.returncode not in ok:
            raise SystemExit(f"terraform {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return elapsed


def direct(props_list: list[dict], kinds: list[str], config) -> tuple[float, float, float]:
    """(create, no-op check+read+plan, delete) seconds through reconcile, sequentially."""
    from dh_kfp_pulumi import reconcile
    from dh_kfp_pulumi.backends import Backend

    start = time.perf_counter()
    made = []
    outputs: dict[str, dict] = {}
    for kind, props in zip(kinds, props_list, strict=True):
        props = resolve(props, outputs)
        core = reconcile.KINDS[kind]
        inputs, problems = core.check(props, config)
        assert not problems, problems
        rid, out = core.create(inputs, Backend(config))
        outputs[props["name"]] = out
        made.append((kind, rid, out, props))
    created = time.perf_counter() - start

    start = time.perf_counter()
    for kind, rid, out, props in made:
        core = reconcile.KINDS[kind]
        _, live, _ = core.read(rid, out, Backend(config))
        inputs, _ = core.check(props, config)
        assert not core.plan(live, inputs).changed, (kind, core.plan(live, inputs))
    planned = time.perf_counter() - start

    start = time.perf_counter()
    for kind, rid, out, _ in reversed(made):
        reconcile.KINDS[kind].delete(rid, {**out, "delete_on_destroy": True}, Backend(config))
    deleted = time.perf_counter() - start
    return created, planned, deleted


def resolve(props: dict, outputs: dict[str, dict]) -> dict:
    """Fill a task's/run's references to the workflow made before it."""
    ref = props.pop("_workflow", None)
    if ref:
        wf = outputs[ref]
        props = {**props, "pipeline_id": wf["pipeline_id"]}
        key = "workflow_version_id" if "schedule" in props else "version_id"
        props[key] = wf["version_id"]
    return props


def parking_props() -> tuple[list[dict], list[str]]:
    from dh_kfp_pulumi.reconcile import resolve_sources

    src = REPO / "examples" / "parking"
    wf = resolve_sources(
        {"project": "parking", "name": "workflow", "kind": "kfp", "code_src": "pipeline.py",
         "handler": "myhandler", "functions": [
             {"name": "downloader-funct", "kind": "python", "code_src": "src/download.py",
              "handler": "download"},
             {"name": "extract-parkings", "kind": "python", "code_src": "src/extract.py",
              "handler": "extract"}]},
        src,
    )  # fmt: skip
    url = str(src / "data" / "parkings.csv")
    task = {"project": "parking", "name": "nightly", "schedule": "5 4 * * *",
            "inputs": {"url": url}, "_workflow": "workflow"}  # fmt: skip
    run = {"project": "parking", "name": "once", "inputs": {"url": url}, "wait": True,
           "_workflow": "workflow"}  # fmt: skip
    return [wf, task, run], ["workflow", "task", "run"]


def row(what: str, tf_s: float, direct_s: float) -> str:
    return f"  {what:<10} terraform {tf_s:7.2f} s   direct {direct_s:7.2f} s   ratio {tf_s / direct_s:6.1f}x"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--plans", type=int, default=5,
                        help="no-op plans of the parking example (median reported)")
    parser.add_argument("--parking-only", action="store_true",
                        help="stop after the parking example")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="run the plugin as the environment says (PYTHONDONTWRITEBYTECODE "
                             "set: every plugin process compiles the modules it imports)")
    args = parser.parse_args()
    if not shutil.which("terraform"):
        raise SystemExit("terraform is not on PATH")
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"

    from dh_kfp_pulumi.backends import BackendConfig
    from dh_kfp_pulumi.server.lifecycle import running_server

    with (
        tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp,
        running_server(Path(tmp) / "kfp") as server,
    ):
        root = Path(tmp)
        cli_config = root / "dev.tfrc"
        template = (REPO / "examples" / "terraform" / "dev.tfrc").read_text()
        cli_config.write_text(template.replace("VENV_BIN", str(VENV_BIN)))
        config = BackendConfig(host=server.url)
        host = {"kfp_host": server.url}
        print(f"terraform {subprocess.run(['terraform', 'version'], capture_output=True, text=True).stdout.split()[1]}, "
              f"embedded server {server.url}")  # fmt: skip

        empty = root / "empty"
        empty.mkdir()
        (empty / "main.tf").write_text(HEADER)
        bytecode = not args.no_bytecode
        fixed = Terraform(empty, cli_config, host, bytecode).timed("plan", "-input=false")
        print(f"fixed cost: `terraform plan` with no resources {fixed:.2f} s\n")

        parking = root / "parking"
        parking.mkdir()
        shutil.copy(REPO / "examples" / "terraform" / "main.tf", parking / "main.tf")
        tf = Terraform(
            parking, cli_config,
            {**host, "parking_dir": str(REPO / "examples" / "parking"),
             "delete_runs_on_destroy": "true"}, bytecode,
        )  # fmt: skip
        t_apply = tf.timed("apply", "-auto-approve", "-input=false")
        plans, unremembered = [], []
        for _ in range(args.plans):  # interleaved: the memo on, then off
            plans.append(tf.timed("plan", "-detailed-exitcode", "-input=false"))
            unremembered.append(tf.timed("plan", "-detailed-exitcode", "-input=false",
                                         env={"DH_KFP_CHECK_CACHE": "0"}))  # fmt: skip
        t_plan = statistics.median(plans)
        t_destroy = tf.timed("destroy", "-auto-approve", "-input=false")
        d_apply, d_plan, d_destroy = direct(*parking_props(), config)
        print("parking example (workflow + schedule + run waited to SUCCEEDED):")
        for what, a, b in (("apply", t_apply, d_apply), ("plan", t_plan, d_plan),
                           ("destroy", t_destroy, d_destroy)):  # fmt: skip
            print(row(what, a, b))
        print(f"  no-op plan: median {t_plan:.2f} s of {len(plans)} (all: "
              f"{', '.join(f'{t:.2f}' for t in plans)})")
        print(f"  no-op plan, checks not remembered (DH_KFP_CHECK_CACHE=0): median "
              f"{statistics.median(unremembered):.2f} s (all: "
              f"{', '.join(f'{t:.2f}' for t in unremembered)})")
        if args.parking_only:
            return 0

        n = args.workflows
        many = root / "many"
        many.mkdir()
        (many / "main.tf").write_text(many_tf(many_props(n)))
        tf = Terraform(many, cli_config, host, bytecode)
        t_apply = tf.timed("apply", "-auto-approve", "-input=false")
        t_plan = tf.timed("plan", "-detailed-exitcode", "-input=false")
        t_destroy = tf.timed("destroy", "-auto-approve", "-input=false")
        d_apply, d_plan, d_destroy = direct(many_props(n), ["workflow"] * n, config)
        print(f"\n{n} generated workflows:")
        for what, a, b in (("apply", t_apply, d_apply), ("plan", t_plan, d_plan),
                           ("destroy", t_destroy, d_destroy)):  # fmt: skip
            print(row(what, a, b))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
