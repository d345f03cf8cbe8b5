"""A package's names load their modules on first use, and only then."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dh_kfp_pulumi.lazy import names_from


def test_a_name_loads_its_module_once_and_an_unknown_one_is_an_attribute_error():
    namespace: dict = {}
    getattr_ = names_from("dh_kfp_pulumi.specs", {"kfp_cron": ".schedule"}, namespace)
    from dh_kfp_pulumi.specs.schedule import kfp_cron

    assert getattr_("kfp_cron") is kfp_cron and namespace == {"kfp_cron": kfp_cron}
    with pytest.raises(AttributeError, match="'dh_kfp_pulumi.specs' has no attribute 'nope'"):
        getattr_("nope")


def test_light_parts_do_not_load_the_heavy_ones():
    """The config, the UNKNOWN sentinel and the cron grammar come without the client, the
    kinds, pydantic or kfp (what a Terraform plugin answering from its memo needs)."""
    code = (
        "import sys\n"
        "from dh_kfp_pulumi.backends import BackendConfig\n"
        "from dh_kfp_pulumi.reconcile import UNKNOWN\n"
        "from dh_kfp_pulumi.specs.schedule import kfp_cron\n"
        "heavy = ('pydantic', 'kfp', 'dh_kfp_pulumi.backends.client',\n"
        "         'dh_kfp_pulumi.reconcile.workflow', 'dh_kfp_pulumi.specs.entities')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    assert done.stdout.strip() == "[]"
    # and each package still gives every name it lists
    from dh_kfp_pulumi import backends, reconcile, specs

    for package in (backends, reconcile, specs):
        assert all(getattr(package, name) is not None for name in package.__all__)
