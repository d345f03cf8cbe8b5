"""Engine fixtures: the `files` program (a dynamic provider whose resources are files) in a
temp dir, with helpers to rewrite its spec, deploy it and read what the provider did."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from dh_kfp_pulumi import engine

HERE = Path(__file__).parent
VENV_BIN = Path(sys.executable).parent
STACK = "test"


class FilesProject:
    """The copied program: `spec(...)` rewrites what it declares; `up()` & co. deploy it."""

    def __init__(self, base: Path):
        self.dir = base / "project"
        shutil.copytree(HERE / "files_program", self.dir)
        self.root = base / "root"  # where the provider writes the files
        self.root.mkdir()
        self.state_dir = base / "state"
        self.overrides: dict[str, object] = {"files:root": str(self.root)}
        self.output = ""

    def spec(self, *files: dict, **extra: object) -> None:
        (self.dir / "spec.json").write_text(json.dumps({"files": list(files), **extra}))

    def _call(self, operation: str, **kwargs) -> engine.Result:
        out = io.StringIO()
        kwargs.setdefault("config_overrides", self.overrides)
        try:
            return getattr(engine, operation)(self.dir, STACK, state_dir=self.state_dir, out=out,
                                              **kwargs)
        finally:
            self.output = out.getvalue()

    def up(self, **kwargs) -> engine.Result:
        return self._call("up", **kwargs)

    def preview(self, **kwargs) -> engine.Result:
        return self._call("preview", **kwargs)

    def refresh(self, **kwargs) -> engine.Result:
        return self._call("refresh", **kwargs)

    def destroy(self, **kwargs) -> engine.Result:
        return self._call("destroy", **kwargs)

    def calls(self) -> list[str]:
        """The provider's write calls since the last look (`create a.txt`, ...)."""
        log = self.root / "calls.log"
        if not log.exists():
            return []
        lines = log.read_text().splitlines()
        log.unlink()
        return lines

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"files-{STACK}.json"

    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def loaded(self) -> engine.State:
        """The state as the next command reads it: the file, and the journal a killed
        command left, replayed."""
        return engine.StateStore(self.state_dir, "files", STACK).load()

    @property
    def journal_file(self) -> Path:
        return self.state_dir / f"files-{STACK}.journal"

    def file(self, path: str) -> Path:
        return self.root / path


@pytest.fixture
def files(tmp_path) -> FilesProject:
    return FilesProject(tmp_path)


@pytest.fixture(scope="session", autouse=True)
def _venv_on_path():
    """kfp.local's steps (embedded server runs) call `python3`: our venv's."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{old}"
    yield
    os.environ["PATH"] = old
