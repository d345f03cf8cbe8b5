"""A Terraform provider over `dh_kfp_pulumi.reconcile`: the second adapter, after Pulumi's.

Resources `dhkfp_workflow`, `dhkfp_task`, `dhkfp_run` and the data source
`dhkfp_pipeline`, served with the `tf` framework (PyPI) by the console script
`terraform-provider-dhkfp`. Terraform finds it through a `dev_overrides` CLI config that
points at the virtualenv's `bin` directory (no registry, no `terraform init`); see
`examples/terraform/` and the README.

Modules: `schema` (attributes, named as reconcile's props), `wire` (values, unknowns and
paths between Terraform and reconcile), `resources` (the adapter), `provider` (the
provider block, the data source and the plugin server).
"""

from dh_kfp_pulumi.terraform.provider import ADDRESS, main, serve

__all__ = ["ADDRESS", "main", "serve"]
