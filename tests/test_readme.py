"""README's shell commands stay true (issue 13).

Every command of README's ```bash blocks is either CHECKED here, run as written, in order,
against the embedded server in a copy of the checkout (with `.venv` linked in, so README's
own `export PATH=$PWD/.venv/bin:$PATH DH_KFP_DATA_DIR=...` line sets the environment), each
with a check of what README says it does; or SKIPPED with the reason and the test that
covers it instead. A command that changes in README, a new one, or one that stops working
or doing what README says fails a test here.

The set-up is what `./scripts/main.sh` does without a Pulumi CLI: `dh-kfp server start`, then
`dh-kfp up --stack local` (both README commands, checked as the first two)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
VENV = Path(sys.prefix)
ENV_LINE = "export PATH=$PWD/.venv/bin:$PATH DH_KFP_DATA_DIR=$PWD/.dh-kfp/server"


def readme_commands(text: str) -> list[str]:
    """The commands of README's bash blocks: continuation lines joined, comments and runs of
    blanks dropped."""
    out = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if not line.strip() or line.strip().startswith("#"):
                continue
            command = re.split(r"\s{2,}#\s", line, maxsplit=1)[0].strip()
            out.append(re.sub(r"\s+", " ", command))
    return out


@dataclass
class Done:
    rc: int
    out: str  # stdout and stderr
    url: str  # the embedded server's URL (empty when it is not running)


@dataclass(frozen=True)
class Step:
    command: str
    check: Callable[[Done, Path], None]
    cwd: str = "."  # relative to the copied checkout


def ok(*needles: str) -> Callable[[Done, Path], None]:
    def check(done: Done, root: Path) -> None:
        assert done.rc == 0, done.out[-3000:]
        for needle in needles:
            assert needle in done.out, f"{needle!r} not in:\n{done.out[-3000:]}"
    return check


def matches(pattern: str) -> Callable[[Done, Path], None]:
    def check(done: Done, root: Path) -> None:
        assert done.rc == 0, done.out[-3000:]
        assert re.search(pattern, done.out, re.M), f"{pattern!r} not in:\n{done.out[-3000:]}"
    return check


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.load(resp)


def kfp_client(url: str):
    import kfp

    return kfp.Client(host=url)


def recurring_runs(url: str) -> list:
    return kfp_client(url).list_recurring_runs(page_size=100).recurring_runs or []


def outputs_listed(done: Done, root: Path) -> None:
    # README: pipeline_id, version_id, spec_hash, schedule_id, run_id, run_state, run_url
    assert done.rc == 0, done.out
    keys = {line.split()[0] for line in done.out.splitlines() if line.strip()}
    assert keys == {"pipeline_id", "version_id", "spec_hash", "schedule_id", "run_id",
                    "run_state", "run_url"}, done.out
    assert re.search(r"^run_state\s+SUCCEEDED$", done.out, re.M)


def first_up(done: Done, root: Path) -> None:
    ok("+ 5 created", "run_state: \"SUCCEEDED\"")(done, root)
    # README's Quick start: progress while it waits for the run
    assert re.search(r"info: run parking-workflow-once: SUCCEEDED after \d+s; steps: "
                     r"download SUCCEEDED, extract_parking SUCCEEDED", done.out), done.out
    with urllib.request.urlopen(urllib.request.Request(
            f"{done.url}/dh-kfp/v1/stats:reset", method="POST"), timeout=30):
        pass


def no_write_up(done: Done, root: Path) -> None:
    ok("    5 unchanged")(done, root)  # README: "again: 5 unchanged, no KFP write"
    assert not re.search(r"created|updated|replaced|deleted", done.out), done.out
    assert get_json(f"{done.url}/dh-kfp/v1/stats")["writes"] == 0


def disabled(done: Done, root: Path) -> None:
    assert done.rc == 0, done.out
    assert [r.status for r in recurring_runs(done.url)] == ["DISABLED"]


def enabled_again(done: Done, root: Path) -> None:
    matches(r"refresh: drift\s+parking-workflow-nightly \[diff: ~enabled\]")(done, root)
    assert [r.status for r in recurring_runs(done.url)] == ["ENABLED"]  # "enables it again"


def destroyed(done: Done, root: Path) -> None:
    ok("deleted")(done, root)
    # "deletes schedule, versions, pipeline (runs stay in KFP's history)"
    client = kfp_client(done.url)
    assert recurring_runs(done.url) == []
    assert not [p for p in client.list_pipelines(page_size=100).pipelines or []
                if p.display_name == "parking-workflow"]
    runs = client.list_runs(page_size=100).runs or []
    assert [r.display_name for r in runs] == ["parking-workflow-once"]


def stopped(done: Done, root: Path) -> None:
    ok("stopped the server of")(done, root)
    status = subprocess.run(["bash", "-c", f"{ENV_LINE}; dh-kfp server status"], cwd=root,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 3 and "not running" in status.stdout  # README: exit status 3


def planned_prod(done: Done, root: Path) -> None:
    # the dev/prod program makes pulumi-kubernetes objects: the k8s extra main.sh installs
    ok("(project parking, stack prod)", "no problems",
       "also declared: parking-credentials (kubernetes:core/v1:Secret)")(done, root)
    assert (root / "plan" / "parking-workflow.yaml").is_file()


def planned_override(done: Done, root: Path) -> None:
    ok("(project parking, stack local)",  # the default stack
       "schedule '0 * * * *' (KFP cron '0 0 * * * *')")(done, root)


def compiled(done: Done, root: Path) -> None:
    ok("parking.yaml")(done, root)
    assert (root / "examples" / "parking" / "parking.yaml").is_file()


def terraform_extra(done: Done, root: Path) -> None:
    """Not run (it installs from PyPI); what its comment claims, in this venv that has it."""
    assert (VENV / "bin" / "terraform-provider-dhkfp").is_file()
    import tf  # noqa: F401  the library it runs on (no `tf` executable is claimed)


CHECKED: list[Step] = [
    Step("dh-kfp server start", matches(r"^http://127\.0\.0\.1:\d+ \(pid \d+")),
    Step("dh-kfp up --stack local", first_up),
    Step("dh-kfp server status", matches(r"^running: http://127\.0\.0\.1:\d+ \(pid \d+")),
    Step("dh-kfp outputs --stack local", outputs_listed),
    Step("dh-kfp up --stack local", no_write_up),
    Step("python -c 'import kfp, sys; kfp.Client(host=sys.argv[1]).disable_recurring_run("
         "sys.argv[2])' \"$(dh-kfp server status | awk '{print $2}')\" \"$(dh-kfp outputs "
         "--stack local schedule_id)\"", disabled),
    # README: "refresh: drift  parking-workflow-nightly [diff: ~enabled]; ~ 1 to update"
    Step("dh-kfp preview --refresh --stack local",
         lambda d, r: (matches(r"refresh: drift\s+parking-workflow-nightly \[diff: ~enabled\]")
                       (d, r), ok("~ 1 to update")(d, r))),
    Step("dh-kfp up --refresh --stack local", enabled_again),
    Step("dh-kfp refresh --stack local", ok("refresh: 0 drifted, 0 gone", "(refresh done)")),
    Step("dh-kfp outputs --stack local run_state", matches(r"\ASUCCEEDED\n\Z")),
    Step("dh-kfp destroy --stack local", destroyed),
    Step("dh-kfp server stop", stopped),
    Step("dh-kfp plan examples/parking --stack prod --out plan/", planned_prod),
    Step("dh-kfp plan examples/parking -c parking:schedule='0 * * * *'", planned_override),
    Step("dh-kfp compile --project parking --name workflow --workflow pipeline.py:myhandler "
         "--function downloader-funct=src/download.py:download --function "
         "extract-parkings=src/extract.py:extract -o parking.yaml", compiled,
         cwd="examples/parking"),
    # README: "run that YAML here with kfp.local (SubprocessRunner)"
    Step("python run_local.py parking.yaml",
         matches(r"^run parking-workflow-\S+: \d+ parkings, \d+ free of \d+ slots$"),
         cwd="examples/parking"),
]
NOT_RUN: dict[str, Callable[[Done, Path], None]] = {
    ".venv/bin/pip install -e '.[terraform]'": terraform_extra,
}
# Covered elsewhere, and why they are not run here.
SKIPPED: dict[str, str] = {
    "./scripts/main.sh": "the set-up itself: CHECKED starts with what it does offline",
    "./scripts/test.sh": "the set-up itself: it runs this test",
    ENV_LINE: "the environment every CHECKED command runs in",
    "dh-kfp server serve": "foreground until Ctrl-C; tests/server/test_lifecycle.py",
    "cd examples/terraform": "tests/terraform/ run the Terraform block",
    'sed "s#VENV_BIN#$PWD/.venv/bin#" examples/terraform/dev.tfrc > ~/dhkfp.tfrc':
        "tests/terraform/conftest.py fills dev.tfrc the same way",
    "export TF_CLI_CONFIG_FILE=~/dhkfp.tfrc": "tests/terraform/",
}
SKIPPED_PREFIXES = {
    "pulumi ": "the Pulumi CLI: tests/engine/test_pulumi_cli*.py",
    "terraform ": "tests/terraform/test_terraform_cli.py (every IaC CLI found)",
    "./scripts/engines.sh": "builds the engines (minutes); scripts/test.sh runs it",
    "export PULUMI_": "the Pulumi CLI's environment: tests/engine/pulumi_cli_kit.py",
}


def test_every_readme_command_is_checked_or_skipped_with_a_reason():
    commands = readme_commands(README.read_text())
    listed = {s.command for s in CHECKED} | set(NOT_RUN) | set(SKIPPED)
    missing = sorted(listed - set(commands))
    assert not missing, f"commands no longer in README's bash blocks: {missing}"
    unchecked = [c for c in commands if c not in listed
                 and not c.startswith(tuple(SKIPPED_PREFIXES))]
    assert not unchecked, (f"README commands neither CHECKED nor SKIPPED in {__file__}: "
                           f"{unchecked}")


def test_main_sh_installs_the_extras_the_readme_commands_need():
    """`dh-kfp plan examples/parking --stack prod` runs the dev/prod program, which makes
    pulumi-kubernetes objects: main.sh installs the `k8s` extra (the scenario below runs in
    the test venv, which has it through the `test` extra)."""
    main_sh = (REPO / "scripts" / "main.sh").read_text()
    installs = re.findall(r"^[^#\n]*pip install[^\n]*-e '\.\[([\w,]+)\]'", main_sh, re.M)
    assert installs and "k8s" in installs[0].split(","), installs


@pytest.mark.slow
def test_readme_commands_do_what_readme_says(tmp_path):
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copytree(REPO / "stacks", root / "stacks")
    shutil.copytree(REPO / "examples", root / "examples",
                    ignore=shutil.ignore_patterns("__pycache__", "parking.yaml", ".terraform*",
                                                  "terraform.tfstate*"))
    (root / ".venv").symlink_to(VENV)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DH_KFP_DATA_DIR", "DH_KFP_STATE_DIR", "PULUMI_BACKEND_URL")}
    env["HOME"] = str(tmp_path / "home")
    url = ""
    try:
        for step in CHECKED:
            done = subprocess.run(["bash", "-c", f"{ENV_LINE}; {step.command}"],
                                  cwd=root / step.cwd, env=env, capture_output=True,
                                  text=True, timeout=600)
            status = subprocess.run(["bash", "-c", f"{ENV_LINE}; dh-kfp server status"],
                                    cwd=root, env=env, capture_output=True, text=True,
                                    timeout=60)
            found = re.search(r"running: (\S+)", status.stdout)
            url = found.group(1) if found else url
            result = Done(done.returncode, done.stdout + done.stderr, url)
            try:
                step.check(result, root)
            except AssertionError as exc:
                raise AssertionError(f"README command `{step.command}`: {exc}") from None
        for check in NOT_RUN.values():
            check(Done(0, "", url), root)
    finally:
        subprocess.run(["bash", "-c", f"{ENV_LINE}; dh-kfp server stop"], cwd=root, env=env,
                       capture_output=True, timeout=60)
