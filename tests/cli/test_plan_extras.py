"""`dh-kfp plan` of the dev/prod program without the `k8s` extra (issue 13): it says which
extra to install, instead of a bare ModuleNotFoundError."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path

from dh_kfp_pulumi.cli import main

PARKING = Path(__file__).resolve().parents[2] / "examples" / "parking"


def test_plan_prod_without_pulumi_kubernetes_names_the_k8s_extra(tmp_path, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_k8s(name, *args, **kwargs):
        if name == "pulumi_kubernetes" or name.startswith("pulumi_kubernetes."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    for module in [m for m in sys.modules if m.startswith("pulumi_kubernetes")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(builtins, "__import__", no_k8s)
    code = main(["plan", str(PARKING), "--stack", "prod", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert code == 2, text
    assert "stack prod sets parking:kubernetes: the program then needs pulumi-kubernetes, which " \
           "comes with dh-kfp-pulumi's `k8s` extra (pip install -e '.[k8s]'; scripts/main.sh " \
           "installs it), or -c parking:kubernetes=false" in text, text
    assert "Traceback" not in text
