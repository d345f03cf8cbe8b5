"""Resources fixtures: a kfp.Client on the module's embedded KFP server (`kfp_server`,
tests/conftest.py) and the real Pulumi provider server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from resources_kit import ProviderServer  # noqa: E402


@pytest.fixture(scope="module")
def kfp_client(kfp_server):
    import kfp

    return kfp.Client(host=kfp_server.url)


@pytest.fixture(scope="module")
def provider_server(tmp_path_factory):
    server = ProviderServer(tmp_path_factory.mktemp("provider-cwd"))
    yield server
    server.close()
