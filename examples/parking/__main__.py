"""The seed's parking example as a Pulumi program (the root Pulumi.yaml names it `main`).

    pulumi up -s local     # the embedded KFP server on this machine
    pulumi up -s dev       # a real KFP (stacks/Pulumi.dev.yaml), pulumi-kubernetes objects too

Per-stack settings are in `stacks/Pulumi.<stack>.yaml`: the backend under `dh-kfp:`, and
the example's own under `parking:` (`schedule`, `profile`, `url`, `wait`, `kubernetes`,
and the secret `apiToken`).
"""

from pathlib import Path

import pulumi

import dh_kfp_pulumi as dh

HERE = Path(__file__).resolve().parent
stack = pulumi.get_stack()
config = pulumi.Config("parking")
backend = pulumi.Config("dh-kfp")

project = dh.Project("parking")
project.new_function(
    name="downloader-funct", kind="python", code_src="src/download.py", handler="download"
)
project.new_function(
    name="extract-parkings", kind="python", code_src="src/extract.py", handler="extract"
)
workflow = project.new_workflow(
    name="workflow",
    kind="kfp",
    code_src="pipeline.py",
    handler="myhandler",
    labels=[f"stack={stack}"],
)

# Where the pipeline reads the parkings from: the CSV shipped beside this file by default.
url = config.get("url") or (HERE / "data" / "parkings.csv").as_uri()

settings = {}
if config.get("profile"):
    settings["profile"] = config.get("profile")
if config.get_bool("kubernetes"):
    # A real cluster: the namespace's Secret and PVC, made here, mounted in every step.
    try:
        import pulumi_kubernetes as k8s
    except ModuleNotFoundError:
        raise RuntimeError(
            f"stack {stack} sets parking:kubernetes: the program then needs pulumi-kubernetes, "
            "which comes with dh-kfp-pulumi's `k8s` extra (pip install -e '.[k8s]'; "
            "scripts/main.sh installs it), or -c parking:kubernetes=false"
        ) from None

    namespace = backend.get("namespace") or None
    api_token = config.get_secret("apiToken")
    if api_token is None:
        pulumi.log.warn(
            "parking:apiToken is not set: the parking-credentials Secret has no API_TOKEN "
            "(pulumi config set --secret parking:apiToken ...)"
        )
    credentials = k8s.core.v1.Secret(
        "parking-credentials",
        metadata={"namespace": namespace},
        string_data={"API_TOKEN": api_token} if api_token is not None else {},
    )
    data = k8s.core.v1.PersistentVolumeClaim(
        "parking-data",
        metadata={"namespace": namespace},
        spec={
            "access_modes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": config.get("dataSize") or "1Gi"}},
        },
    )
    settings["secrets"] = [credentials]
    settings["volumes"] = [{"name": data, "mount_path": "/data"}]

nightly = workflow.run(
    action="pipeline",
    name="nightly",
    schedule=config.get("schedule") or "5 4 * * *",
    inputs={"url": url},
    **settings,
)
once = workflow.run(
    action="pipeline",
    name="once",
    inputs={"url": url},
    wait=config.get_bool("wait") or False,
    **settings,
)

pulumi.export("pipeline_id", workflow.pipeline_id)
pulumi.export("version_id", workflow.version_id)
pulumi.export("spec_hash", workflow.spec_hash)
pulumi.export("schedule_id", nightly.recurring_run_id)
pulumi.export("run_id", once.run_id)
pulumi.export("run_state", once.state)
pulumi.export("run_url", once.url)
