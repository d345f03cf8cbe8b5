"""Shared test set-up: `kfp_kit` importable from every test, `kfp_server` (the embedded KFP
server for a test module) and no warning from each kfp.Client made. Area fixtures live in
each area's own conftest.py."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kfp_kit import VENV_BIN  # noqa: E402

# Tests that drive a real engine: under CI (or DH_KFP_REQUIRE_ENGINES=1) such a test may
# not skip, so a green run always means the real engines ran.
ENGINE_MARKERS = ("pulumi_cli", "iac_cli", "kfp_apiserver")


def engines_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or \
        os.environ.get("DH_KFP_REQUIRE_ENGINES") == "1"


def pytest_configure(config):
    # kfp.Client warns on every construction; a module's own filter is reset by pytest
    config.addinivalue_line("filterwarnings", "ignore:This client only works:FutureWarning")
    # Terraform's plugin remembers clean checks (terraform/checks.py): in a folder of this
    # run's (inherited by every plugin process a test starts), never the user's cache.
    if "DH_KFP_CHECK_CACHE" not in os.environ:
        folder = tempfile.mkdtemp(prefix="dh-kfp-checks-")
        os.environ["DH_KFP_CHECK_CACHE"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


# `slow` (pyproject.toml: runs pipelines or servers) also marks, without each module
# saying so, every test on an embedded KFP server and these end-to-end modules, so that
# `pytest -m "not slow"` is the quick inner loop: specs, builds, plans, no server.
SLOW_FIXTURES = frozenset({"kfp_server"})
SLOW_MODULES = frozenset({
    "test_crash.py",  # kill -9 of the server mid-run
    "test_provider_process.py",  # kill -9 of an engine
    "test_engine_files.py",  # deployments with the offline engine
    "test_deploy_cli.py",  # dh-kfp up/destroy as commands
    "test_lifecycle.py",  # server processes started and stopped
    "test_stable_port.py",
})


def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SLOW_FIXTURES or item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or not engines_required():
        return
    markers = [m for m in ENGINE_MARKERS if item.get_closest_marker(m)]
    if markers:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (f"a {'/'.join(markers)} test skipped under CI=true or "
                           f"DH_KFP_REQUIRE_ENGINES=1 (run scripts/engines.sh): {reason}")


@pytest.fixture(scope="module")
def kfp_server(request, tmp_path_factory):
    """The embedded server for this module, on a fresh data dir, with the module's
    `SERVER_SETTINGS` if it has any (its kfp.local steps find this venv's python3)."""
    from dh_kfp_pulumi.server.lifecycle import running_server

    settings = getattr(request.module, "SERVER_SETTINGS", {})
    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{old_path}"
    try:
        with running_server(tmp_path_factory.mktemp("kfp-data"), **settings) as info:
            yield info
    finally:
        os.environ["PATH"] = old_path
