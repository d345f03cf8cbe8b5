"""The Pulumi adapter: dynamic providers and resources over `reconcile`, and the seed's API.

- `providers`: the dynamic providers (pickled by reference; thin over `reconcile`);
- `resources`: `Workflow`, `Task`, `Run`, `Job` (`pulumi.dynamic.Resource`s);
- `project`: `Project`, `new_function`, `new_workflow`, the seed's API; `handles`: what
  those return, and their `.run()`;
- `config`: the `dh-kfp:` stack config, in the program and in the provider;
- `kubernetes`: pulumi-kubernetes objects where a task setting names one.
"""

from dh_kfp_pulumi.resources.handles import FunctionHandle, WorkflowHandle
from dh_kfp_pulumi.resources.project import Project, new_function, new_workflow
from dh_kfp_pulumi.resources.resources import Job, Run, Task, Workflow

__all__ = [
    "FunctionHandle",
    "Job",
    "Project",
    "Run",
    "Task",
    "Workflow",
    "WorkflowHandle",
    "new_function",
    "new_workflow",
]
