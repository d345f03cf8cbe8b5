"""Resources fixtures: the embedded KFP server and the real Pulumi provider server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from resources_kit import VENV_BIN, ProviderServer  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore:This client only works:FutureWarning")


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
def kfp_client(kfp_server):
    import kfp

    return kfp.Client(host=kfp_server.url)


@pytest.fixture(scope="module")
def provider_server(tmp_path_factory):
    server = ProviderServer(tmp_path_factory.mktemp("provider-cwd"))
    yield server
    server.close()
