#!/usr/bin/env bash
# The main job of README.md, INTERIM: set-up, then the parking example compiled with
# `dh-kfp compile` and run on this machine with kfp.local (no KFP server, no Pulumi).
# The Pulumi stack deployment on the embedded KFP server replaces the last two steps
# when the resources work lands.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e .
export PATH="$PWD/.venv/bin:$PATH"

out="$PWD/.dh-kfp/parking-workflow.yaml"
mkdir -p "$(dirname "$out")"
echo "== dh-kfp compile: examples/parking -> $out"
(cd examples/parking && dh-kfp compile --project parking --name workflow \
    --workflow pipeline.py:myhandler \
    --function downloader-funct=src/download.py:download \
    --function extract-parkings=src/extract.py:extract \
    -o "$out")
echo "== kfp.local: running the compiled pipeline on the bundled CSV"
# (kfp.local echoes each step's executor input; the filter keeps the status lines)
python examples/parking/run_local.py "$out" --root "$PWD/.dh-kfp/local-runs" 2>&1 \
    | grep -v -e '^\s*$' -e 'KFP Executor' -e '^    '
