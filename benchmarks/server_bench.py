"""The embedded server's overhead, measured against kfp.local in the same script.

1. Wall time of a two-step pipeline run through the server (kfp.Client create -> terminal
   state seen by polling every 50 ms) divided by the same compiled pipeline run directly with
   kfp.local's orchestrator in this process. Median of several runs each.
2. get_run latency under 20 concurrent clients (threads, each with its own kfp.Client):
   p50 / p95 / max and the request rate.

Re-run (from the repository root):

    PATH=$PWD/.venv/bin:$PATH .venv/bin/python benchmarks/server_bench.py [--runs 5] [--calls 50]

(No `from __future__ import annotations`: kfp reads the components' annotations.)
"""


import argparse
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


@dsl.pipeline(name="bench-two-step")
def two_step(n: int = 3):
    made = produce(n=n)
    consume(data=made.outputs["out"])


def direct_runs(spec_path: Path, root: Path, count: int) -> list[float]:
    spec = json_format.ParseDict(yaml.safe_load(spec_path.read_text()),
                                 pipeline_spec_pb2.PipelineSpec())
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               raise_on_error=True)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        pipeline_orchestrator.run_local_pipeline(spec, {"n": 5})
        times.append(time.perf_counter() - start)
    return times


def server_runs(client: kfp.Client, spec_path: Path, count: int) -> list[float]:
    times = []
    for i in range(count):
        start = time.perf_counter()
        run = client.create_run_from_pipeline_package(str(spec_path), {"n": 5},
                                                      run_name=f"bench-{i}")
        while (state := client.get_run(run.run_id).state) not in ("SUCCEEDED", "FAILED"):
            time.sleep(0.05)
        times.append(time.perf_counter() - start)
        if state != "SUCCEEDED":
            raise SystemExit(f"benchmark run {run.run_id} ended {state}")
    return times


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per side (median reported)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50, help="get_run calls per client")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dh-kfp-bench-") as tmp:
        spec_path = Path(tmp) / "two_step.yaml"
        compiler.Compiler().compile(two_step, str(spec_path))
        with running_server(Path(tmp) / "data", max_concurrent_runs=1) as info:
            client = kfp.Client(host=info.url)
            server_runs(client, spec_path, 1)  # warm-up (first imports, Default experiment)
            through_server = server_runs(client, spec_path, args.runs)
            direct_runs(spec_path, Path(tmp) / "direct", 1)  # warm-up
            direct = direct_runs(spec_path, Path(tmp) / "direct", args.runs)
            run_id = client.list_runs(page_size=1).runs[0].run_id
            latencies, elapsed = get_run_latency(info.url, run_id, args.clients, args.calls)

    server_median, direct_median = statistics.median(through_server), statistics.median(direct)
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2]
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    print(f"two-step run, median of {args.runs}:")
    print(f"  through the server : {server_median:6.2f} s  (all: "
          f"{', '.join(f'{t:.2f}' for t in through_server)})")
    print(f"  kfp.local directly : {direct_median:6.2f} s  (all: "
          f"{', '.join(f'{t:.2f}' for t in direct)})")
    print(f"  overhead ratio     : {server_median / direct_median:6.2f}x")
    print(f"get_run under {args.clients} concurrent clients ({len(latencies)} calls):")
    print(f"  p50 {p50 * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms   max "
          f"{ordered[-1] * 1000:6.1f} ms   {len(latencies) / elapsed:6.0f} req/s")


if __name__ == "__main__":
    main()
