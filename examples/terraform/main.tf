# The parking example (examples/parking) as Terraform: the workflow with its two
# functions, a nightly schedule and one run, on the embedded KFP server unless
# `kfp_host` is set. Run from this directory:
#
#   export TF_CLI_CONFIG_FILE=$PWD/dev.tfrc   # after filling in dev.tfrc (see README)
#   terraform apply
#
# No `terraform init`: the provider comes from dev_overrides.

terraform {
  required_providers {
    dhkfp = { source = "dh-kfp.local/dh-kfp/dhkfp" }
  }
}

variable "kfp_host" {
  description = "KFP API URL; null: the embedded server (started on demand)"
  type        = string
  default     = null
}

variable "kfp_token" {
  description = "bearer token of a real KFP"
  type        = string
  default     = null
  sensitive   = true
}

variable "parking_dir" {
  description = "where the parking example's sources are"
  type        = string
  default     = null
}

variable "delete_runs_on_destroy" {
  description = "delete the run on destroy (default: it stays in KFP's history)"
  type        = bool
  default     = false
}

variable "url" {
  description = "the CSV the pipeline downloads; null: the copy shipped with the example"
  type        = string
  default     = null
}

variable "stack" {
  description = "the environment, as a Pulumi stack: the `stack=<stack>` pod label"
  type        = string
  default     = "local"
}

locals {
  src = coalesce(var.parking_dir, "${path.module}/../parking")
  url = coalesce(var.url, abspath("${local.src}/data/parkings.csv"))
}

provider "dhkfp" {
  host  = var.kfp_host
  token = var.kfp_token
}

resource "dhkfp_workflow" "parking" {
  project  = "parking"
  name     = "workflow"
  kind     = "kfp"
  code_src = "${local.src}/pipeline.py" # read at each plan: a change is a new version
  handler  = "myhandler"
  labels   = ["stack=${var.stack}"] # as the Pulumi example: the same spec hash

  function {
    name     = "downloader-funct"
    kind     = "python"
    code_src = "${local.src}/src/download.py"
    handler  = "download"
  }

  function {
    name     = "extract-parkings"
    kind     = "python"
    code_src = "${local.src}/src/extract.py"
    handler  = "extract"
  }
}

# workflow.run(action="pipeline", schedule="5 4 * * *", inputs=...): a KFP recurring run
resource "dhkfp_task" "nightly" {
  project             = dhkfp_workflow.parking.project
  name                = "workflow-nightly" # KFP: parking-workflow-nightly, as run(name="nightly")
  pipeline_id         = dhkfp_workflow.parking.pipeline_id
  workflow_version_id = dhkfp_workflow.parking.version_id
  schedule            = "5 4 * * *" # 04:05 daily (sent to KFP as `0 5 4 * * *`)
  inputs              = { url = local.url }
}

# workflow.run(action="pipeline", inputs=...): one run, waited for
resource "dhkfp_run" "once" {
  project     = dhkfp_workflow.parking.project
  name        = "workflow-once" # KFP: parking-workflow-once
  pipeline_id = dhkfp_workflow.parking.pipeline_id
  version_id  = dhkfp_workflow.parking.version_id
  inputs      = { url = local.url }
  wait        = true # fail the apply if the run FAILS

  delete_on_destroy = var.delete_runs_on_destroy
}

output "pipeline_id" {
  value = dhkfp_workflow.parking.pipeline_id
}

output "version" {
  value = dhkfp_workflow.parking.version_name
}

output "schedule" {
  value = dhkfp_task.nightly.recurring_run_id
}

output "run" {
  value = { state = dhkfp_run.once.state, url = dhkfp_run.once.url }
}
