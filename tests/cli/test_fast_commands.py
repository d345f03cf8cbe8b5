"""`dh-kfp --help` and `dh-kfp compile` import neither Pulumi nor the offline engine
(issue 12, item 4): checked in a fresh interpreter, where sys.modules tells the truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PARKING = Path(__file__).resolve().parents[2] / "examples" / "parking"

PROBE = """\
import json, sys
from dh_kfp_pulumi.cli import build_parser, main
build_parser()
after_help = sorted(m for m in ("pulumi", "kfp", "dh_kfp_pulumi.engine") if m in sys.modules)
code = main(sys.argv[1:]) if len(sys.argv) > 1 else 0
after_run = sorted(m for m in ("pulumi", "dh_kfp_pulumi.engine") if m in sys.modules)
print(json.dumps({"help": after_help, "run": after_run, "code": code}))
"""


def probe(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_imports_neither_pulumi_nor_kfp_nor_the_engine():
    assert probe()["help"] == []


def test_compile_imports_neither_pulumi_nor_the_engine(tmp_path):
    found = probe("compile", "--project", "parking", "--name", "workflow",
                  "--workflow", "pipeline.py:myhandler",
                  "--function", "downloader-funct=src/download.py:download",
                  "--function", "extract-parkings=src/extract.py:extract",
                  "--base-dir", str(PARKING), "-o", str(tmp_path / "p.yaml"))
    assert found["code"] == 0 and (tmp_path / "p.yaml").exists()
    assert found["run"] == []


def test_the_state_dir_variable_is_named_once_in_effect():
    from dh_kfp_pulumi.cli import deploy
    from dh_kfp_pulumi.engine.state import ENV_STATE_DIR

    assert deploy.ENV_STATE_DIR == ENV_STATE_DIR
