"""Reconcile fixtures: backend configs, offline and on the module's embedded KFP server
(`kfp_server`, tests/conftest.py); props of a small workflow/task/run are in reconcile_kit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dh_kfp_pulumi.backends import BackendConfig  # noqa: E402


@pytest.fixture(scope="module")
def offline_config():
    return BackendConfig(host="http://127.0.0.1:9", image="python:3.11-slim")


@pytest.fixture(scope="module")
def config(kfp_server):
    return BackendConfig(host=kfp_server.url, image="python:3.11-slim")
