"""How the offline engine scales (issue 12): a program of N workflows, each the parking
example's (examples/parking: its two functions and pipeline) with a schedule (a Task with
its recurring run), deployed to a fresh embedded KFP server at several N, timing `up`, a
no-op `up`, `preview`, `preview --refresh` and `destroy`.

    PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/scale_bench.py [--sizes 10,100,400]

Each command runs in its own Python process (the engine, as `dh-kfp up` would), which
times the operation itself (not the interpreter's start), wall and the engine process's
CPU (less skewed by other work on the machine), and reports its peak RSS with
getrusage: RUSAGE_SELF for the engine process, RUSAGE_CHILDREN for the dynamic-provider
process it started and reaped (its only child). Prints a table per command, the
exponent k of time ~ N^k fitted by least squares on log(time) vs log(N), and the ratio
no-op up / preview. Nothing is asserted: a 2-core machine doing other work skews runs.
`--profile DIR` writes a cProfile of each command's engine process there.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "engine")]

from pulumi_cli_kit import write_project  # noqa: E402

from dh_kfp_pulumi.server.lifecycle import running_server  # noqa: E402

COMMANDS = [("up", "up", False), ("no-op up", "up", False), ("preview", "preview", False),
            ("preview --refresh", "preview", True), ("destroy", "destroy", False)]

PARKING = REPO / "examples" / "parking"
BODY = """\
project.new_function(name="downloader-funct", kind="python", code_src="src/download.py",
                     handler="download")
project.new_function(name="extract-parkings", kind="python", code_src="src/extract.py",
                     handler="extract")
url = (Path(__file__).resolve().parent / "data" / "parkings.csv").as_uri()
for i in range({n}):
    wf = project.new_workflow(name=f"wf-{{i:04d}}", kind="kfp", code_src="parking.py",
                              handler="myhandler", labels=[f"n={n}"])
    wf.run(action="pipeline", name=f"nightly-{{i:04d}}", schedule=f"{{i % 60}} 4 * * *",
           inputs={{"url": url}})
"""

# One engine command, in its own process: the operation's wall time and peak RSS.
RUNNER = textwrap.dedent("""\
    import io, json, resource, sys, time
    from dh_kfp_pulumi import engine
    op, project, state, url, refresh, profile = sys.argv[1:7]
    kwargs = {"refresh": True} if refresh == "1" else {}
    call = lambda: getattr(engine, op)(project, "local", state_dir=state, out=io.StringIO(),
                                       config_overrides={"dh-kfp:host": url}, **kwargs)
    def cpu(who=resource.RUSAGE_SELF):
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime
    started, cpu_started = time.perf_counter(), cpu()
    if profile:
        import cProfile
        cProfile.run("result = call()", profile)
    else:
        result = call()
    elapsed, cpu_used = time.perf_counter() - started, cpu() - cpu_started
    assert result.ok, result.errors
    print(json.dumps({
        "seconds": elapsed,
        "cpu": cpu_used,
        "provider_cpu": cpu(resource.RUSAGE_CHILDREN),
        "changed": len(result.changed()),
        "engine_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "provider_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }))
""")


def run_command(op: str, refresh: bool, project: Path, state: Path, url: str,
                profile: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, op, str(project), str(state), url,
         "1" if refresh else "0", profile],
        capture_output=True, text=True, timeout=7200, cwd=project)  # not the checkout:
    # `python -c` puts its cwd first on sys.path, and PYTHONPATH may name another tree
    if proc.returncode != 0:
        raise SystemExit(f"{op} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def server_cpu(pid: int) -> float:
    """The server process's CPU seconds so far (user+sys, /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(n: int, base: Path, profile_dir: Path | None) -> dict[str, dict]:
    project = write_project(base / f"n{n}", "from pathlib import Path\n" + BODY.format(n=n),
                            name=f"scale{n}")
    shutil.copy(PARKING / "pipeline.py", project / "parking.py")
    shutil.copytree(PARKING / "src", project / "src")
    shutil.copytree(PARKING / "data", project / "data")
    (project / "Pulumi.local.yaml").write_text("config: {}\n")
    state = base / f"state-{n}"
    out: dict[str, dict] = {}
    # No run executes (the schedules fire at 04:xx anyway): only the engine is measured.
    with running_server(base / f"kfp-{n}", max_concurrent_runs=0) as info:
        for label, op, refresh in COMMANDS:
            profile = ""
            if profile_dir is not None:
                profile = str(profile_dir / f"{label.replace(' ', '_')}-{n}.prof")
            before = server_cpu(info.pid)
            out[label] = run_command(op, refresh, project, state, info.url, profile)
            out[label]["server_cpu"] = server_cpu(info.pid) - before
            print(f"  N={n:<4} {label:<18} {out[label]['seconds']:8.2f} s  "
                  f"({out[label]['changed']} changed)", flush=True)
            if label == "no-op up":
                size = sum(p.stat().st_size for p in state.glob("*.json"))
                print(f"  N={n:<4} state file {size / 1e6:.1f} MB", flush=True)
    return out


def exponent(sizes: list[int], times: list[float]) -> float:
    """The slope of log(time) on log(N), least squares."""
    xs, ys = [math.log(n) for n in sizes], [math.log(max(t, 1e-9)) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / \
        sum((x - mx) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,400",
                        help="workflow counts, comma-separated (default 10,100,400)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write a cProfile of every command here")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    with tempfile.TemporaryDirectory(prefix="dh-kfp-scale-") as tmp:
        results = {n: measure(n, Path(tmp), args.profile) for n in sizes}

    labels = [label for label, _, _ in COMMANDS]
    for key, title in (("seconds", "wall seconds"), ("cpu", "engine CPU seconds (user+sys)"),
                       ("provider_cpu", "provider CPU seconds (user+sys)"),
                       ("server_cpu", "embedded KFP server CPU seconds (/proc/<pid>/stat; "
                                      "its background threads too)")):
        print(f"\n{title} per command (N workflows + N schedules = 2N+2 resources)")
        print(f"{'command':<18}" + "".join(f"{f'N={n}':>10}" for n in sizes)
              + (f"{'exponent':>10}" if len(sizes) > 1 else ""))
        for label in labels:
            times = [results[n][label][key] for n in sizes]
            line = f"{label:<18}" + "".join(f"{t:10.2f}" for t in times)
            if len(sizes) > 1:  # none for times that are only background noise
                line += f"{exponent(sizes, times):10.2f}" if min(times) >= 0.03 else \
                    f"{'-':>10}"
            print(line)
        if all(results[n]["preview"][key] >= 0.03 for n in sizes):
            print("no-op up / preview: " + ", ".join(
                f"N={n} {results[n]['no-op up'][key] / results[n]['preview'][key]:.2f}x"
                for n in sizes))
    print("\npeak RSS, MB (getrusage ru_maxrss: engine = RUSAGE_SELF of the command's "
          "process, provider = its RUSAGE_CHILDREN)")
    print(f"{'command':<18}" + "".join(f"{f'N={n}':>18}" for n in sizes))
    for label in labels:
        cells = [f"{results[n][label]['engine_kb'] / 1024:.0f} / "
                 f"{results[n][label]['provider_kb'] / 1024:.0f}" for n in sizes]
        print(f"{label:<18}" + "".join(f"{c:>18}" for c in cells))
    print("(engine / provider)")


if __name__ == "__main__":
    main()
