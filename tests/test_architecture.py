"""docs/architecture.md lists every module under dh_kfp_pulumi/, and only those."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dh_kfp_pulumi"


def _modules() -> set[str]:
    return {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}


def _listed() -> dict[str, str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^- `([\w/]+\.py)`: (.+)$", text, re.M))


def test_every_module_is_listed_with_its_job():
    listed = _listed()
    missing = sorted(_modules() - set(listed))
    assert not missing, f"docs/architecture.md lacks a line for: {', '.join(missing)}"
    assert all(len(job.split()) >= 3 for job in listed.values())


def test_no_listed_module_is_gone():
    gone = sorted(set(_listed()) - _modules())
    assert not gone, f"docs/architecture.md lists modules that are gone: {', '.join(gone)}"
