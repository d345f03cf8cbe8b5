"""The real `terraform` CLI driving the provider from this virtualenv, on the embedded server.

Terraform finds the provider through a dev_overrides CLI config (the template in
examples/terraform/dev.tfrc, pointed at this venv's bin) given by TF_CLI_CONFIG_FILE:
no `terraform init`, no registry, no network. Tests skip, saying why, when the
terraform CLI or the provider's console script is missing.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tf_kit import EXAMPLES, PROVIDER_SCRIPT, VENV_BIN  # noqa: E402


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

