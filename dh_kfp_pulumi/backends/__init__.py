"""The one module that talks to KFP: a small interface over `kfp.Client`.

Everything returned is a plain frozen dataclass (ids, names, states, ISO timestamps,
cron, parameters, version reference), so `reconcile` and the adapters never see a
`kfp_server_api` model, and everything raised is a `BackendError` carrying KFP's own
user-facing words, the HTTP status and whether the object was not found.

Rules this module keeps (see DESIGN.md and kfp-api/API-NOTES.md):

- No client on the module and none shared between threads: a `Backend` is cheap, made
  per operation from a `BackendConfig` (plain data, picklable), and creates its
  `kfp.Client` on first use. Pickling a Backend drops the client.
- The token lives only in `BackendConfig.token` (hidden from its repr) and in the
  client's headers; messages are built from KFP's response bodies, never from request
  objects, and scrubbed of the token anyway.
- Pipelines are created with the JSON `POST /pipelines` (no first version named like
  the pipeline, as `upload_pipeline` would make), versions are uploaded by name.
- Lists read every page; int64 fields (`max_concurrency`) come back as ints; the unset
  timestamp (1970-01-01) becomes "".
- `wait_run` stops on every terminal state, CANCELED included (kfp's
  `wait_for_run_completion` does not).

Each name loads its module when first asked for (`__getattr__`): a process that needs
only the config (the Terraform plugin validating) does not load the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dh_kfp_pulumi.lazy import names_from

if TYPE_CHECKING:
    from dh_kfp_pulumi.backends.client import Backend
    from dh_kfp_pulumi.backends.config import (
        NAMESPACE,
        ON_DESTROY_ACTIVE_RUNS,
        BackendConfig,
        config_from_mapping,
    )
    from dh_kfp_pulumi.backends.convert import iso
    from dh_kfp_pulumi.backends.interface import KfpBackend
    from dh_kfp_pulumi.backends.models import (
        ACTIVE_STATES,
        TERMINAL_STATES,
        ApiError,
        Experiment,
        Pipeline,
        PipelineVersion,
        RecurringRun,
        Run,
        RunFailed,
    )
    from dh_kfp_pulumi.errors import BackendError

_HOMES = {
    "Backend": "dh_kfp_pulumi.backends.client",
    "NAMESPACE": "dh_kfp_pulumi.backends.config",
    "ON_DESTROY_ACTIVE_RUNS": "dh_kfp_pulumi.backends.config",
    "BackendConfig": "dh_kfp_pulumi.backends.config",
    "config_from_mapping": "dh_kfp_pulumi.backends.config",
    "iso": "dh_kfp_pulumi.backends.convert",
    "KfpBackend": "dh_kfp_pulumi.backends.interface",
    "ACTIVE_STATES": "dh_kfp_pulumi.backends.models",
    "TERMINAL_STATES": "dh_kfp_pulumi.backends.models",
    "ApiError": "dh_kfp_pulumi.backends.models",
    "Experiment": "dh_kfp_pulumi.backends.models",
    "Pipeline": "dh_kfp_pulumi.backends.models",
    "PipelineVersion": "dh_kfp_pulumi.backends.models",
    "RecurringRun": "dh_kfp_pulumi.backends.models",
    "Run": "dh_kfp_pulumi.backends.models",
    "RunFailed": "dh_kfp_pulumi.backends.models",
    "BackendError": "dh_kfp_pulumi.errors",
}

__all__ = [
    "ACTIVE_STATES",
    "NAMESPACE",
    "ON_DESTROY_ACTIVE_RUNS",
    "TERMINAL_STATES",
    "ApiError",
    "Backend",
    "BackendConfig",
    "BackendError",
    "Experiment",
    "KfpBackend",
    "Pipeline",
    "PipelineVersion",
    "RecurringRun",
    "Run",
    "RunFailed",
    "config_from_mapping",
    "iso",
]


__getattr__ = names_from(__name__, _HOMES, globals())
