"""Backend fixtures: a backend on the module's embedded KFP server (`kfp_server`, tests/conftest.py)."""

from __future__ import annotations

import pytest

from dh_kfp_pulumi.backends import Backend, BackendConfig


@pytest.fixture
def backend(kfp_server):
    return Backend(BackendConfig(host=kfp_server.url))
