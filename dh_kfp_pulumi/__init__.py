"""dh-kfp-pulumi: Kubeflow Pipelines workflows declared as infrastructure-as-code with Pulumi.

The Pulumi-facing names (`Project`, `new_workflow`, ...) load on first use, so that
`dh_kfp_pulumi.dsl` (imported by pipeline files) and the embedded server do not pay
for importing the Pulumi SDK.
"""

from __future__ import annotations

from dh_kfp_pulumi.lazy import names_from

__version__ = "0.1.0"

# name -> the module that defines it
_LAZY: dict[str, str] = {
    "Project": "dh_kfp_pulumi.resources.project",
    "new_workflow": "dh_kfp_pulumi.resources.project",
    "new_function": "dh_kfp_pulumi.resources.project",
    "Workflow": "dh_kfp_pulumi.resources.resources",
    "Task": "dh_kfp_pulumi.resources.resources",
    "Run": "dh_kfp_pulumi.resources.resources",
    "Job": "dh_kfp_pulumi.resources.resources",
}


__getattr__ = names_from(__name__, _LAZY)
