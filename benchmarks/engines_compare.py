"""The parking scenario through both engines, side by side: Pulumi's own CLI
(.engines/bin/pulumi, scripts/engines.sh) and dh-kfp's offline engine, each on a fresh
embedded KFP server. Per phase: KFP requests (all / writes, counted by the server), the
steps each engine plans or takes, and the stack outputs' keys.

    PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/engines_compare.py

Prints a table; the differences it shows are listed in docs/decisions.md ("Offline engine").
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "engine")]

from kfp_kit import stats  # noqa: E402
from parking_kit import Kfp, change_function_code, copy_project  # noqa: E402
from pulumi_cli_kit import PULUMI, Cli  # noqa: E402

from dh_kfp_pulumi import engine  # noqa: E402
from dh_kfp_pulumi.server.lifecycle import running_server  # noqa: E402

PHASES = ["up", "no-op up", "preview", "preview --refresh", "code change up",
          "drift: preview --refresh", "up --refresh", "destroy"]


def counts(url: str) -> tuple[int, int]:
    requests = stats(url)["requests"]
    total = sum(requests.values())
    writes = sum(n for k, n in requests.items()
                 if k.split(" ", 1)[0] in ("POST", "PUT", "PATCH", "DELETE"))
    return total, writes


def offline_phases(project: Path, url: str, base: Path) -> dict[str, tuple]:
    state = base / "state"
    kfp = Kfp(url)

    def run(op: str, **kw) -> tuple:
        kfp.reset_writes()
        result = getattr(engine, op)(project, "local", state_dir=state,
                                     config_overrides={"dh-kfp:host": url},
                                     out=io.StringIO(), **kw)
        ops = [f"{'refresh: ' if s.phase == 'refresh' else ''}{s.op} {s.name}"
               for s in result.steps if s.op != "same" and s.type != "pulumi:pulumi:Stack"]
        assert result.ok, result.errors
        return (*counts(url), ops, sorted(result.exports), result.exports)

    out = {"up": run("up"), "no-op up": run("up"), "preview": run("preview"),
           "preview --refresh": run("preview", refresh=True)}
    change_function_code(project)
    out["code change up"] = run("up")
    drift(kfp, out["code change up"][4])
    out["drift: preview --refresh"] = run("preview", refresh=True)
    out["up --refresh"] = run("up", refresh=True)
    out["destroy"] = run("destroy")
    return out


def drift(kfp: Kfp, exports: dict) -> None:
    kfp.delete_recurring_run(exports["schedule_id"])
    kfp.delete_version(exports["pipeline_id"], exports["version_id"])


def pulumi_phases(project: Path, url: str, base: Path) -> dict[str, tuple]:
    (project / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    cli = Cli(project, base)
    cli.init(url)
    kfp = Kfp(url)

    def run(*args: str, preview: bool = False) -> tuple:
        kfp.reset_writes()
        if preview:
            plan = json.loads(cli("preview", "--json", *args).stdout)
            ops = [f"{s['op']} {s['urn'].rsplit('::', 1)[-1]}" for s in plan.get("steps", [])
                   if s["op"] != "same" and not s["urn"].endswith("pulumi:pulumi:Stack")
                   and "pulumi:pulumi:Stack" not in s["urn"]]
        else:
            proc = cli(*args, "--yes")
            ops = [line.strip() for line in proc.stdout.splitlines()
                   if line.strip()[:2] in ("+ ", "~ ", "- ", "+-")]
        exports = sorted(cli.exports()) if args[:1] != ("destroy",) else []
        return (*counts(url), ops, exports)

    out = {"up": run("up"), "no-op up": run("up"), "preview": run(preview=True),
           "preview --refresh": run("--refresh", preview=True)}
    change_function_code(project)
    out["code change up"] = run("up")
    drift(kfp, cli.exports())
    out["drift: preview --refresh"] = run("--refresh", preview=True)
    out["up --refresh"] = run("up", "--refresh")
    out["destroy"] = run("destroy")
    return out


def main() -> None:
    if PULUMI is None:
        sys.exit("no Pulumi CLI: run scripts/engines.sh first")
    results = {}
    for name, phases in (("pulumi", pulumi_phases), ("offline", offline_phases)):
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            with running_server(base / "kfp") as info:
                project = copy_project(base / "project")
                results[name] = phases(project, info.url, base)
    print(f"{'phase':<26} {'pulumi req/writes':>18} {'offline req/writes':>19}")
    for phase in PHASES:
        p, o = results["pulumi"][phase], results["offline"][phase]
        print(f"{phase:<26} {p[0]:>10} / {p[1]:<5} {o[0]:>10} / {o[1]:<5}")
    print("\nsteps (non-same) per phase")
    for phase in PHASES:
        print(f"  {phase}\n    pulumi : {results['pulumi'][phase][2]}\n"
              f"    offline: {results['offline'][phase][2]}")
        if results["pulumi"][phase][3] != results["offline"][phase][3]:
            print(f"    outputs differ: {results['pulumi'][phase][3]} vs "
                  f"{results['offline'][phase][3]}")


if __name__ == "__main__":
    main()
