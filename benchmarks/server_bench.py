"""The embedded server's overhead, measured against kfp.local in the same script.

1. Wall time of a two-step pipeline run through the server (kfp.Client create -> terminal
   state seen by polling every 20 ms) against the same compiled pipeline run directly with
   kfp.local's orchestrator in this process, pair by pair (alternating which side goes
   first, with a pause between runs so one side's background work, such as the server
   starting its next spare worker, is not charged to the other). Reported: the median of
   the per-pair ratios, and each side's median.
2. get_run latency under 20 concurrent clients (threads, each with its own kfp.Client):
   p50 / p95 / max and the request rate.
3. Throughput and memory: `--many N` one-step runs created at once (the server's default
   max concurrency unless `--concurrency`), timed from the first create to the last
   terminal state (runs per second), then the server process's RSS (VmRSS, and its peak
   VmHWM), the database's size (server.db + its WAL) and the data dir's (logs and outputs
   too), against the same figures after the warm-up run.

Re-run (from the repository root):

    PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/server_bench.py [--runs 5] [--calls 50] [--many 1000]

(`--many 0` skips part 3, `--runs 0` part 1. No `from __future__ import annotations`: kfp
reads the components' annotations.)
"""


import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import kfp
import yaml
from google.protobuf import json_format
from kfp import compiler, dsl, local
from kfp.local import pipeline_orchestrator
from kfp.pipeline_spec import pipeline_spec_pb2

from dh_kfp_pulumi.server import running_server

# kfp.local's steps run `python3 -m pip install kfp==...`: this venv first keeps it offline.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


@dsl.component(base_image="python:3.11")
def produce(n: int, out: dsl.Output[dsl.Dataset]) -> str:
    with open(out.path, "w") as handle:
        handle.write("x" * n)
    return "made"


@dsl.component(base_image="python:3.11")
def consume(data: dsl.Input[dsl.Dataset]) -> int:
    with open(data.path) as handle:
        return len(handle.read())


@dsl.pipeline(name="bench-one-step")
def one_step(n: int = 3):
    produce(n=n)


@dsl.pipeline(name="bench-two-step")
def two_step(n: int = 3):
    made = produce(n=n)
    consume(data=made.outputs["out"])


TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED", "SKIPPED")
PAUSE = 1.0  # seconds between measured runs: the previous run's background work settles


def direct_run(spec: pipeline_spec_pb2.PipelineSpec, root: Path) -> float:
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               raise_on_error=True)
    start = time.perf_counter()
    pipeline_orchestrator.run_local_pipeline(spec, {"n": 5})
    return time.perf_counter() - start


def server_run(client: kfp.Client, spec_path: Path, name: str) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # kfp prints a link per run
        run = client.create_run_from_pipeline_package(str(spec_path), {"n": 5}, run_name=name)
    while (state := client.get_run(run.run_id).state) not in TERMINAL:
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if state != "SUCCEEDED":
        raise SystemExit(f"benchmark run {run.run_id} ended {state}")
    return elapsed


def paired_runs(client: kfp.Client, spec_path: Path, root: Path, count: int
                ) -> list[tuple[float, float]]:
    """(server, direct) seconds per pair; odd pairs run the direct side first."""
    spec = json_format.ParseDict(yaml.safe_load(spec_path.read_text()),
                                 pipeline_spec_pb2.PipelineSpec())
    server_run(client, spec_path, "bench-warm-up")  # first imports, Default experiment
    time.sleep(PAUSE)
    direct_run(spec, root)  # warm-up
    pairs = []
    for i in range(count):
        time.sleep(PAUSE)
        if i % 2:
            direct = direct_run(spec, root)
            time.sleep(PAUSE)
            server = server_run(client, spec_path, f"bench-{i}")
        else:
            server = server_run(client, spec_path, f"bench-{i}")
            time.sleep(PAUSE)
            direct = direct_run(spec, root)
        pairs.append((server, direct))
    return pairs


def get_run_latency(url: str, run_id: str, clients: int, calls: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def worker() -> None:
        client = kfp.Client(host=url)
        mine = []
        barrier.wait()
        for _ in range(calls):
            start = time.perf_counter()
            client.get_run(run_id)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - start


def memory(pid: int, data_dir: Path) -> dict[str, float]:
    """The server process's resident and peak memory, and the database's size, in MiB."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if ":" in line)  # fmt: skip
    db = sum(p.stat().st_size for p in data_dir.glob("server.db*"))
    files = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
    return {"rss": int(status["VmRSS"].split()[0]) / 1024,
            "peak": int(status["VmHWM"].split()[0]) / 1024, "db": db / 2**20,
            "files": files / 2**20}


def many_runs(client: kfp.Client, spec_path: Path, count: int) -> tuple[float, dict[str, int]]:
    """Create `count` one-step runs of one uploaded version at once; seconds until the last
    one ends, and how many ended in each state."""
    pipeline = client.upload_pipeline(str(spec_path), pipeline_name=f"bench-many-{time.time_ns()}")
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    experiment = client.create_experiment(f"bench-many-{time.time_ns()}")
    ids = []
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # kfp prints a link per run
        for i in range(count):
            run = client.run_pipeline(experiment_id=experiment.experiment_id,
                                      job_name=f"many-{i}", params={"n": 1},
                                      pipeline_id=pipeline.pipeline_id,
                                      version_id=version.pipeline_version_id)
            ids.append(run.run_id)
    created = time.perf_counter() - start
    states: dict[str, int] = {}
    while True:
        states = {}
        token = ""
        while True:
            page = client.list_runs(experiment_id=experiment.experiment_id, page_size=1000,
                                    page_token=token)
            for run in page.runs or []:
                states[run.state] = states.get(run.state, 0) + 1
            token = page.next_page_token
            if not token:
                break
        if sum(n for state, n in states.items() if state in TERMINAL) >= count:
            break
        time.sleep(0.5)
    elapsed = time.perf_counter() - start
    print(f"  {count} runs created in {created:.1f} s ({count / created:.0f}/s)")
    return elapsed, states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="pairs of two-step runs")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50, help="get_run calls per client")
    parser.add_argument("--many", type=int, default=0,
                        help="one-step runs created at once for runs/s and memory (0: skip)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="the server's max concurrent runs in part 3 (default: its own)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dh-kfp-bench-") as tmp:
        spec_path = Path(tmp) / "two_step.yaml"
        compiler.Compiler().compile(two_step, str(spec_path))
        if args.runs:
            with running_server(Path(tmp) / "data", max_concurrent_runs=1) as info:
                client = kfp.Client(host=info.url)
                pairs = paired_runs(client, spec_path, Path(tmp) / "direct", args.runs)
                run_id = client.list_runs(page_size=1).runs[0].run_id
                latencies, elapsed = get_run_latency(info.url, run_id, args.clients, args.calls)
            ratios = [server / direct for server, direct in pairs]
            print(f"two-step run, {args.runs} interleaved pairs:")
            print(f"  through the server : median {statistics.median(p[0] for p in pairs):6.2f} s"
                  f"  (all: {', '.join(f'{p[0]:.2f}' for p in pairs)})")
            print(f"  kfp.local directly : median {statistics.median(p[1] for p in pairs):6.2f} s"
                  f"  (all: {', '.join(f'{p[1]:.2f}' for p in pairs)})")
            print(f"  overhead ratio     : median {statistics.median(ratios):6.2f}x per pair"
                  f"  (all: {', '.join(f'{r:.2f}' for r in ratios)})")
            ordered = sorted(latencies)
            p50 = ordered[len(ordered) // 2]
            p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
            print(f"get_run under {args.clients} concurrent clients ({len(latencies)} calls):")
            print(f"  p50 {p50 * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms   max "
                  f"{ordered[-1] * 1000:6.1f} ms   {len(latencies) / elapsed:6.0f} req/s")

        if args.many:
            one_path = Path(tmp) / "one_step.yaml"
            compiler.Compiler().compile(one_step, str(one_path))
            options = {} if args.concurrency is None else {"max_concurrent_runs": args.concurrency}
            data_dir = Path(tmp) / "many"
            with running_server(data_dir, **options) as info:
                client = kfp.Client(host=info.url)
                server_run(client, one_path, "bench-warm-up")
                before = memory(info.pid, data_dir)
                print(f"{args.many} one-step runs at once "
                      f"(max concurrency {args.concurrency or 'default'}):")
                elapsed, states = many_runs(client, one_path, args.many)
                after = memory(info.pid, data_dir)
            print(f"  all ended in {elapsed:.1f} s: {args.many / elapsed:.2f} runs/s  {states}")
            for key, what in (("rss", "server RSS"), ("peak", "server peak RSS"),
                              ("db", "database"), ("files", "data dir")):  # fmt: skip
                print(f"  {what:<16}: {before[key]:7.1f} MiB after 1 run, {after[key]:7.1f} MiB "
                      f"after {args.many + 1}")


if __name__ == "__main__":
    main()
