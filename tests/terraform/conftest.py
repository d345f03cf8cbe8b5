"""The real `terraform` and `tofu` CLIs driving the provider from this virtualenv, on the
embedded server: every test using `terraform_bin` runs under each CLI found (OpenTofu from
.engines/bin, built by scripts/engines.sh; Terraform where it is on PATH).

Terraform finds the provider through a dev_overrides CLI config (the template in
examples/terraform/dev.tfrc, pointed at this venv's bin) given by TF_CLI_CONFIG_FILE:
no `terraform init`, no registry, no network. Tests skip, saying why, when the
only CLI wanted is missing, or the provider's console script is; under CI that skip fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kfp_kit import engine_bin  # noqa: E402
from tf_kit import EXAMPLES, PROVIDER_SCRIPT, VENV_BIN  # noqa: E402

# OpenTofu always (scripts/engines.sh builds it); Terraform too where it is installed.
IAC_CLIS = [name for name in ("terraform", "tofu") if engine_bin(name)] or ["tofu"]


@pytest.fixture(scope="session", params=IAC_CLIS)
def terraform_bin(request) -> str:
    found = engine_bin(request.param)
    if not found:
        pytest.skip(f"{request.param} CLI not built nor on PATH (run scripts/engines.sh): the "
                    "Terraform/OpenTofu end-to-end tests need it")
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

