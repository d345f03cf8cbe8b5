"""Compile time of `build_workflow` against the raw kfp compiler on the same pipelines.

Three pipelines, each built both ways in this one process:
- the seed's parking pipeline (2 steps), from `examples/parking`;
- generated 30- and 50-step chains (5 functions in turn, each step reading the
  previous step's artifact).

"raw kfp" is what a KFP user writes by hand for the same pipeline: `@dsl.component`
functions and a `@dsl.pipeline` compiled with `kfp.compiler.Compiler` (decorating
is inside the timing, as the build's component generation is). `build_workflow`
also loads the sources, executes the pipeline module and hashes the YAML.
Each side runs pair by pair with the other (after one warm-up each); the ratio is the
median of the per-pair ratios ours / raw, so a busy machine skews both sides alike.

Re-run:  .venv/bin/python benchmarks/compile_bench.py [--repeat N]

(No `from __future__ import annotations` here: kfp reads the components' annotations.)
"""

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from kfp import compiler, dsl
from kfp.dsl import Artifact, Input, Output

from dh_kfp_pulumi.build import build_workflow
from dh_kfp_pulumi.specs import parse_function, parse_workflow

REPO = Path(__file__).resolve().parents[1]
PARKING = REPO / "examples" / "parking"
CHAIN_STEPS = (30, 50)
FUNCTIONS = 5


# ---- the hand-written kfp equivalents -------------------------------------------------


def download(url: str, dataset: Output[Artifact]):
    import urllib.request

    with urllib.request.urlopen(url) as response, open(dataset.path, "wb") as fh:
        fh.write(response.read())


def extract(di: Input[Artifact], parkings: Output[Artifact]):
    import csv
    import json

    with open(di.path) as fh:
        rows = list(csv.DictReader(fh))
    with open(parkings.path, "w") as fh:
        json.dump(rows, fh)


def first(url: str, out: Output[Artifact]):
    with open(out.path, "w") as fh:
        fh.write(url)


def middle(data: Input[Artifact], out: Output[Artifact]):
    with open(data.path) as src, open(out.path, "w") as dst:
        dst.write(src.read() + ".")


def raw_seed(path: str) -> None:
    download_c = dsl.component(download, base_image="python:3.11")
    extract_c = dsl.component(extract, base_image="python:3.11")

    @dsl.pipeline(name="parking-workflow")
    def pipeline(url: str):
        step1 = download_c(url=url)
        extract_c(di=step1.outputs["dataset"])

    compiler.Compiler().compile(pipeline, path)


def raw_chain(path: str, steps: int) -> None:
    start = dsl.component(first, base_image="python:3.11")
    # five distinct components, as the generated pipeline has five functions
    middles = [
        dsl.component(middle, base_image=f"python:3.{11 + (i % 2)}") for i in range(FUNCTIONS)
    ]

    @dsl.pipeline(name="bench-chain")
    def pipeline(url: str):
        previous = start(url=url)
        for i in range(1, steps):
            previous = middles[i % FUNCTIONS](data=previous.outputs["out"])

    compiler.Compiler().compile(pipeline, path)


# ---- the same pipelines through build_workflow ----------------------------------------


def parking_specs():
    fns = [
        parse_function(
            {
                "name": "downloader-funct",
                "kind": "python",
                "code_src": "src/download.py",
                "handler": "download",
            },
            project="parking",
        ),
        parse_function(
            {
                "name": "extract-parkings",
                "kind": "python",
                "code_src": "src/extract.py",
                "handler": "extract",
            },
            project="parking",
        ),
    ]
    wf = parse_workflow(
        {"name": "workflow", "kind": "kfp", "code_src": "pipeline.py", "handler": "myhandler"},
        project="parking",
    )
    return wf, fns


CHAIN = """
from dh_kfp_pulumi.dsl import pipeline_context

def chain(url):
    with pipeline_context() as pc:
        previous = pc.step(name="s0", function="f0", inputs={"url": url}, outputs={"out": "out"})
        for i in range(1, STEPS):
            previous = pc.step(name=f"s{i}", function=f"f{i % FUNCTIONS}",
                               inputs={"data": previous.outputs["out"]}, outputs={"out": "out"})
""".replace("FUNCTIONS", str(FUNCTIONS))

FUNCTION = '''
def handler(data=None, url=None):
    """A step of the benchmark chain."""
    if url is not None:
        return url
    return data.read_text() + "."
'''


def chain_specs(steps: int = 50):
    code = CHAIN.replace("STEPS", str(steps))
    wf = parse_workflow(
        {"name": "chain", "kind": "kfp", "code": code, "handler": "chain"}, project="bench"
    )
    fns = [
        parse_function(
            {
                "name": f"f{i}",
                "kind": "python",
                "code": FUNCTION,
                "handler": "handler",
                "image": f"python:3.{11 + (i % 2)}",
            },
            project="bench",
        )
        for i in range(FUNCTIONS)
    ]
    return wf, fns


# ---- timing ---------------------------------------------------------------------------


def paired(ours, raw, repeat: int) -> tuple[float, float, float]:
    """Median seconds of each side and the median of the per-pair ratios. The two sides
    run pair by pair, alternating which goes first, so a busy moment of the machine falls
    on both sides of a pair instead of on all of one side."""
    ours()  # warm-up: imports, caches
    raw()
    ours_t, raw_t, ratios = [], [], []
    for i in range(repeat):
        pair = {}
        for side, fn in ((("ours", ours), ("raw", raw)) if i % 2 == 0
                         else (("raw", raw), ("ours", ours))):
            start = time.perf_counter()
            fn()
            pair[side] = time.perf_counter() - start
        ours_t.append(pair["ours"])
        raw_t.append(pair["raw"])
        ratios.append(pair["ours"] / pair["raw"])
    return statistics.median(ours_t), statistics.median(raw_t), statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per case (median)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")

    seed_wf, seed_fns = parking_specs()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "raw.yaml")
        cases = [
            (
                "seed (2 steps)",
                lambda: build_workflow(seed_wf, seed_fns, base_dir=PARKING),
                lambda: raw_seed(out),
            ),
            *(
                (
                    f"chain ({steps} steps)",
                    functools.partial(build_workflow, *chain_specs(steps)),
                    functools.partial(raw_chain, out, steps),
                )
                for steps in CHAIN_STEPS
            ),
        ]
        print(f"python {sys.version.split()[0]}, {args.repeat} interleaved pairs (medians)")
        print(f"{'pipeline':<18}{'build_workflow':>16}{'raw kfp':>12}{'ratio':>8}")
        for name, ours, raw in cases:
            ours_s, raw_s, ratio = paired(ours, raw, args.repeat)
            print(f"{name:<18}{ours_s * 1000:>13.1f} ms{raw_s * 1000:>9.1f} ms{ratio:>7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
