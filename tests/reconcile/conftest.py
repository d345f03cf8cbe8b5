"""Reconcile fixtures: props of a small workflow/task/run, and the embedded KFP server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dh_kfp_pulumi.backends import BackendConfig  # noqa: E402

VENV_BIN = Path(sys.executable).parent


def pytest_configure(config):
    # kfp.Client warns on every construction; the module's own filter is reset by pytest
    config.addinivalue_line("filterwarnings", "ignore:This client only works:FutureWarning")


@pytest.fixture(scope="module")
def offline_config():
    return BackendConfig(host="http://127.0.0.1:9", image="python:3.11-slim")


@pytest.fixture(scope="module")
def kfp_server(tmp_path_factory):
    """The embedded server for this module, on a fresh data dir (steps find our venv's python)."""
    from dh_kfp_pulumi.server.lifecycle import running_server

    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{old_path}"
    try:
        with running_server(tmp_path_factory.mktemp("kfp-data")) as info:
            yield info
    finally:
        os.environ["PATH"] = old_path


@pytest.fixture(scope="module")
def config(kfp_server):
    return BackendConfig(host=kfp_server.url, image="python:3.11-slim")
