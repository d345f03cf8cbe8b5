"""Run a compiled parking pipeline on this machine with kfp.local, and print what it found.

    dh-kfp compile ... -o parking-workflow.yaml
    python examples/parking/run_local.py parking-workflow.yaml [--url URL] [--root DIR]

It runs the compiled YAML itself (the IR a KFP cluster would get), each step in a
subprocess of this Python (kfp.local's SubprocessRunner, no container, no venv), so
this Python needs kfp installed. The default URL is the CSV shipped beside this file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", help="the compiled pipeline YAML")
    parser.add_argument(
        "--url",
        default=str(HERE / "data" / "parkings.csv"),
        help="the pipeline's `url` input: http(s)://, file:// or a path",
    )
    parser.add_argument(
        "--root", help="pipeline root for the run's artifacts (default: a temp dir)"
    )
    args = parser.parse_args(argv)

    # Steps run `python3 -m pip install kfp==...` first: make that this Python, where kfp is.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    warnings.filterwarnings("ignore", message=r".*have no effect in the current local runner")

    from kfp import local
    from kfp.components import load_component_from_text

    root = Path(args.root or tempfile.mkdtemp(prefix="parking-run-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    before = set(root.iterdir())
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    pipeline = load_component_from_text(Path(args.pipeline).read_text(encoding="utf-8"))
    pipeline(url=args.url)

    (run_dir,) = set(root.iterdir()) - before
    parkings = json.loads((run_dir / "extract-parking" / "parkings").read_text(encoding="utf-8"))
    slots = sum(p["slots"] or 0 for p in parkings)
    free = sum(p["free_slots"] or 0 for p in parkings)
    print(f"\nrun {run_dir.name}: {len(parkings)} parkings, {free} free of {slots} slots")
    for p in sorted(parkings, key=lambda p: -(p["free_slots"] or 0))[:3]:
        print(f"  {p['id']} {p['name']:<16} {p['free_slots']:>4} free of {p['slots']}")
    print(f"artifacts under {run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
