"""The errors users see. Each names the field, the bad value and what would be valid.

They are plain exceptions with a readable `str()`, so `pulumi preview`, `terraform plan`
and the CLI print one clear message instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


class DhKfpError(Exception):
    """Base of every error this project raises on purpose. Its message never carries the
    credentials of a URL it names (`redact.text`)."""

    def __init__(self, *args: Any) -> None:
        from dh_kfp_pulumi import redact

        super().__init__(*(redact.text(a) if isinstance(a, str) else a for a in args))


@dataclass(frozen=True)
class FieldProblem:
    """One bad field: where it is, what it held, what is wrong or expected."""

    path: str  # e.g. "tolerations[1].effect"; "" for the object as a whole
    message: str
    value: Any = None
    has_value: bool = False

    def __str__(self) -> str:
        from dh_kfp_pulumi import redact

        where = f"{self.path}: " if self.path else ""
        got = f" (got {self.value!r})" if self.has_value else ""
        return redact.text(f"{where}{self.message}{got}")


def field_path(parts: Sequence[str | int]) -> str:
    """('tolerations', 1, 'effect') -> 'tolerations[1].effect'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class SpecError(DhKfpError, ValueError):
    """Invalid input in a Function, Workflow, Task or Run (or stack config)."""

    def __init__(self, subject: str, problems: Iterable[FieldProblem]):
        self.subject = subject
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid {subject}:\n{lines}" if lines else f"invalid {subject}")


class SourceError(DhKfpError):
    """Source code that cannot be fetched, decoded, parsed or does not hold the handler."""


class BuildError(DhKfpError):
    """A pipeline that cannot be built from valid specs (a step referring to nothing, ...)."""


class BackendError(DhKfpError):
    """KFP refused or failed a call; the message carries KFP's own words, never credentials."""


class FieldValueError(ValueError):
    """Raised inside a pydantic validator to name the exact sub-field(s) that are wrong.

    A plain ValueError in a validator is reported at the validator's own location; this one
    carries paths relative to it (e.g. "code" for a model validator, "[1].effect" for a list
    field validator), which `dh_kfp_pulumi.specs.validation` joins to pydantic's location.
    """

    def __init__(self, *problems: FieldProblem):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))
