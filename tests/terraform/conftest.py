"""The real `terraform` CLI driving the provider from this virtualenv, on the embedded server.

Terraform finds the provider through a dev_overrides CLI config (the template in
examples/terraform/dev.tfrc, pointed at this venv's bin) given by TF_CLI_CONFIG_FILE:
no `terraform init`, no registry, no network. Tests skip, saying why, when the
terraform CLI or the provider's console script is missing.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tf_kit import EXAMPLES, PROVIDER_SCRIPT, VENV_BIN  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore:This client only works:FutureWarning")


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    found = shutil.which("terraform")
    if not found:
        pytest.skip("terraform CLI not on PATH: the Terraform end-to-end tests need it")
    if not PROVIDER_SCRIPT.exists():
        pytest.skip(f"{PROVIDER_SCRIPT} missing: `pip install -e .[terraform]` installs it")
    return found


@pytest.fixture(scope="session")
def cli_config(tmp_path_factory) -> Path:
    """examples/terraform/dev.tfrc with VENV_BIN filled in, as the README says to."""
    text = (EXAMPLES / "terraform" / "dev.tfrc").read_text()
    path = tmp_path_factory.mktemp("tfrc") / "dev.tfrc"
    path.write_text(text.replace("VENV_BIN", str(VENV_BIN)))
    return path


@pytest.fixture(scope="module")
def kfp_server(tmp_path_factory):
    """The embedded server for this module (its steps find this venv's python3)."""
    from dh_kfp_pulumi.server.lifecycle import running_server

    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{old_path}"
    try:
        with running_server(tmp_path_factory.mktemp("kfp-data")) as info:
            yield info
    finally:
        os.environ["PATH"] = old_path
