#!/usr/bin/env bash
# The main job of README.md: set up .venv, start the embedded KFP server, deploy the parking
# example's `local` stack (`pulumi up` with the Pulumi CLI that scripts/engines.sh builds
# where Go exists, or one on PATH; else dh-kfp's offline engine `dh-kfp up`), print the one-off run's state and the stack outputs, and leave it all
# running to look at (the last lines say how to see the web page, tear down and stop).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# The k8s extra too: README's `dh-kfp plan examples/parking --stack prod` runs the dev/prod
# program, which makes pulumi-kubernetes objects.
.venv/bin/python -m pip install --quiet -e '.[k8s]'
# Go's own install directory, where a shell that did not set PATH up still has it.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
# The Pulumi CLI from its Go module (cached after the first build: about 4 minutes).
if command -v go >/dev/null 2>&1 && [[ -z "${DH_KFP_NO_ENGINES:-}" ]]; then
  DH_KFP_ENGINES=pulumi ./scripts/engines.sh
fi
export PATH="$PWD/.venv/bin:$PATH"
[[ -x .engines/bin/pulumi ]] && export PATH="$PWD/.engines/bin:$PATH"
# No update check, no plugin download: the plugins are the launchers beside the CLI.
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# The server's data (pipelines, versions, runs, schedules, logs) stays in this checkout; the
# local stack's provider finds the same server through this variable.
export DH_KFP_DATA_DIR="${DH_KFP_DATA_DIR:-$PWD/.dh-kfp/server}"
path_prefix="$PWD/.venv/bin"
[[ -x .engines/bin/pulumi ]] && path_prefix="$PWD/.engines/bin:$path_prefix"
env_prefix="DH_KFP_DATA_DIR=$DH_KFP_DATA_DIR PATH=$path_prefix:\$PATH"
[[ -n "${DH_KFP_STATE_DIR:-}" ]] && env_prefix="$env_prefix DH_KFP_STATE_DIR=$DH_KFP_STATE_DIR"

echo "== dh-kfp server start"
dh-kfp server start
url="$(dh-kfp server status | sed -n 's/^running: \([^ ]*\) .*/\1/p')"

if command -v pulumi >/dev/null 2>&1; then
  # A local file backend in the checkout unless one is chosen; an empty passphrase (the
  # local stack holds no secret) unless one is set.
  export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.dh-kfp/pulumi}"
  export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
  [[ "$PULUMI_BACKEND_URL" == file://* ]] && mkdir -p "${PULUMI_BACKEND_URL#file://}"
  env_prefix="$env_prefix PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL PULUMI_CONFIG_PASSPHRASE=..."
  echo "== pulumi up -s local (the Pulumi CLI; backend $PULUMI_BACKEND_URL)"
  pulumi stack select --create local --non-interactive
  pulumi up -s local --yes --non-interactive
  outputs_cmd="pulumi stack output -s local"
  drift_cmd="pulumi preview --refresh -s local"
  destroy_cmd="pulumi destroy -s local --yes"
else
  echo "== dh-kfp up --stack local (no pulumi CLI on PATH: dh-kfp's offline engine)"
  dh-kfp up --stack local
  outputs_cmd="dh-kfp outputs --stack local"
  drift_cmd="dh-kfp preview --refresh --stack local"
  destroy_cmd="dh-kfp destroy --stack local"
fi
outputs() { $outputs_cmd "$@"; }

echo "== the one-off run"
python - "$url" "$(outputs run_id)" <<'EOF'
import sys
import warnings

warnings.simplefilter("ignore")
import kfp  # noqa: E402
import requests  # noqa: E402

url, run_id = sys.argv[1:]
run = kfp.Client(host=url).get_run(run_id)
print(f"run {run_id}: {run.state} (created {run.created_at:%H:%M:%S}, "
      f"finished {run.finished_at:%H:%M:%S})")
details = requests.get(f"{url}/dh-kfp/v1/runs/{run_id}/tasks", timeout=30).json()
for task in details["tasks"]:
    outputs = ", ".join(sorted(task["artifacts"]) + sorted(task["parameters"]))
    print(f"  step {task['display_name']:<18} {task['state']:<10} outputs: {outputs or '-'}")
EOF

echo "== stack outputs"
outputs

cat <<EOF

== Left running, to look at (from this directory)
  web page     $url/  (pipelines, versions, runs, schedules)
  the run      $(outputs run_url)
  outputs      $env_prefix $outputs_cmd
  drift        $env_prefix $drift_cmd
  tear down    $env_prefix $destroy_cmd
  stop server  $env_prefix dh-kfp server stop
EOF
