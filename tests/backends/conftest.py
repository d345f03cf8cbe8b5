"""Backend fixtures: the embedded KFP server for a test module, and a backend on it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dh_kfp_pulumi.backends import Backend, BackendConfig

VENV_BIN = Path(sys.executable).parent


def pytest_configure(config):
    # kfp.Client warns on every construction; the module's own filter is reset by pytest
    config.addinivalue_line("filterwarnings", "ignore:This client only works:FutureWarning")


@pytest.fixture(scope="module")
def kfp_server(tmp_path_factory):
    from dh_kfp_pulumi.server.lifecycle import running_server

    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{old_path}"
    try:
        with running_server(tmp_path_factory.mktemp("kfp-data")) as info:
            yield info
    finally:
        os.environ["PATH"] = old_path


@pytest.fixture
def backend(kfp_server):
    return Backend(BackendConfig(host=kfp_server.url))
