"""A secret given to a field KFP keeps in plain text is refused on the program side, and its
value reaches no store (issue 11, item 1): the offline engine's state, outputs and provider
log, the Pulumi CLI's state and output, the KFP server's database and WAL, the IR, the step
logs and the terminal. A plain Output in the same field still deploys."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kfp_kit import files_without, writes  # noqa: E402
from pulumi_cli_kit import PULUMI, SKIP_REASON, Cli, write_project  # noqa: E402

from dh_kfp_pulumi import engine  # noqa: E402
from dh_kfp_pulumi.engine.project import Secret  # noqa: E402

CANARY = "canary-9f3b2e71d0c4"

CASES = {
    "run inputs": "wf.run(action='pipeline', name='once', inputs={'x': secret})\n",
    "schedule inputs": ("wf.run(action='pipeline', name='nightly', schedule='5 4 * * *', "
                        "inputs={'x': secret})\n"),
    "task envs": ("wf.run(action='pipeline', name='once', "
                  "envs=[{'name': 'TOKEN', 'value': secret}])\n"),
    "function job inputs": "fn.run(action='job', inputs={'x': secret})\n",
}
BODY = ("cfg = pulumi.Config('canary')\n"
        "secret = cfg.require_secret('value')\n"
        "plain = pulumi.Output.from_input('1')\n"
        "fn = project.functions['adder']\n"
        "wf = project.new_workflow(name='wf', kind='kfp', code_src='pipeline.py', handler='pipe')\n")


def stores_clean(*roots: Path) -> int:
    return files_without(CANARY, *roots)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_secret_in_a_plain_text_field_is_refused_offline(case, tmp_path, kfp_server):
    project = write_project(tmp_path / "p", BODY + CASES[case], name="canary")
    (project / "Pulumi.local.yaml").write_text("config: {}\n")  # the stack exists
    state = tmp_path / "state"
    before = writes(kfp_server.url)
    out = io.StringIO()
    with pytest.raises(Exception) as caught:
        engine.up(project, "local", state_dir=state, out=out,
                  config_overrides={"dh-kfp:host": kfp_server.url,
                                    "canary:value": Secret(CANARY)})
    message = str(caught.value) + out.getvalue()
    assert "is a secret, and KFP keeps this field in plain text" in message, message
    assert "Task's `secrets`" in message
    assert CANARY not in message
    assert writes(kfp_server.url) == before  # nothing reached KFP
    assert stores_clean(state, kfp_server.data_dir, project) > 0


def test_a_plain_output_in_the_same_field_deploys(tmp_path, kfp_server):
    project = write_project(
        tmp_path / "p", BODY + "wf.run(action='pipeline', name='once', inputs={'x': plain})\n",
        name="plain")
    (project / "Pulumi.local.yaml").write_text("config: {}\n")
    result = engine.up(project, "local", state_dir=tmp_path / "state", out=io.StringIO(),
                       config_overrides={"dh-kfp:host": kfp_server.url,
                                         "canary:value": Secret(CANARY)})
    assert result.ok
    engine.destroy(project, "local", state_dir=tmp_path / "state", out=io.StringIO(),
                   config_overrides={"dh-kfp:host": kfp_server.url,
                                     "canary:value": Secret(CANARY)})


@pytest.mark.slow
@pytest.mark.pulumi_cli
@pytest.mark.skipif(PULUMI is None, reason=SKIP_REASON)
def test_a_secret_run_input_is_refused_under_the_pulumi_cli(tmp_path, kfp_server):
    project = write_project(tmp_path / "p", BODY + CASES["run inputs"], name="canary")
    cli = Cli(project, tmp_path)
    cli.init(kfp_server.url)
    cli("config", "set", "--secret", "canary:value", CANARY)
    before = writes(kfp_server.url)
    for command in (("preview",), ("up", "--yes")):
        proc = cli(*command, check=False)
        assert proc.returncode != 0
        assert "is a secret, and KFP keeps this field in plain text" in proc.stdout
        assert "inputs.x" in proc.stdout
    assert writes(kfp_server.url) == before
    assert all(CANARY not in text for text in cli.transcript)
    assert CANARY not in cli("stack", "export").stdout
    assert stores_clean(cli.home, cli.backend, kfp_server.data_dir) > 0
