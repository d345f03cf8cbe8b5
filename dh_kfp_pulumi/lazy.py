"""A package's names loaded on first use (PEP 562's module `__getattr__`).

The packages a Terraform plugin process or `dh-kfp --help` touches (`specs`, `backends`,
`reconcile`, the top level) name many things whose modules cost imports (pydantic, the
client, Pulumi); each name here loads its module only when something asks for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def names_from(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any] | None = None
) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `homes` maps each name to the module defining
    it (absolute, or relative to `package` when it starts with a dot); a name found is
    kept in `namespace` (the package's globals) when one is given, so it is looked up
    once."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        if namespace is not None:
            namespace[name] = value
        return value

    return __getattr__
