"""A Pulumi program run under Pulumi's mocks (`pulumi.runtime.set_mocks`): the engine of
`dh-kfp plan`, which answers every registration with the mocks' `new_resource` instead of
deploying anything. The program runs in `sandbox.program_sandbox`, as the offline
engine's programs do."""

from __future__ import annotations

import contextvars
import logging
import runpy
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dh_kfp_pulumi.engine.sandbox import program_sandbox
from dh_kfp_pulumi.errors import DhKfpError


class PlanError(DhKfpError):
    """The program, its project or its stack config cannot be planned."""


def run_with_mocks(
    main: Path,
    mocks: Any,
    *,
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: Sequence[str] = (),
    preview: bool = False,
    log: list[str] | None = None,
) -> list[str]:
    """Run a program file under `set_mocks` in a fresh context and event loop; the URNs it
    registered, sorted. What the program logs (`pulumi.log`) goes to `log` as
    "warning: ..." lines. The program's own exception propagates (as PlanError when it is
    not one of ours)."""
    return contextvars.Context().run(
        _run, main, mocks, project, stack, dict(config), list(secret_keys), preview, log
    )


class _Collect(logging.Handler):
    def __init__(self, sink: list[str] | None):
        super().__init__(logging.INFO)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if self.sink is not None:
            self.sink.append(f"{record.levelname.lower()}: {record.getMessage()}")


def _run(
    main: Path,
    mocks: Any,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    preview: bool,
    log: list[str] | None,
) -> list[str]:
    import pulumi.runtime
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.stack import run_pulumi_func

    try:
        with program_sandbox(main.parent, main, on_path=True) as loop:
            monitor = MockMonitor(mocks)  # on the program's loop, as everything below
            logger = logging.getLogger(f"dh_kfp_pulumi.plan.{id(monitor)}")
            logger.propagate = False
            logger.setLevel(logging.INFO)
            logger.addHandler(_Collect(log))
            try:
                pulumi.runtime.settings.ROOT.set(None)
                pulumi.runtime.set_all_config(config, secret_keys)
                pulumi.runtime.set_mocks(
                    mocks, project=project, stack=stack, preview=preview, monitor=monitor,
                    logger=logger,
                )  # fmt: skip

                def run() -> Any:
                    return runpy.run_path(str(main), run_name="__main__")

                loop.run_until_complete(run_pulumi_func(run))
            finally:
                logger.handlers.clear()
                logging.Logger.manager.loggerDict.pop(logger.name, None)
    except DhKfpError:
        raise
    except Exception as exc:  # noqa: BLE001 - the program's own failure, said shortly
        raise PlanError(
            f"the program failed: {_where(exc, main.parent)}{type(exc).__name__}: {exc}"
        ) from None
    return sorted(monitor.resources)


def _where(exc: BaseException, directory: Path) -> str:
    """`file:line: ` of the innermost frame in the program's directory ('' if none)."""
    inside = [
        f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(str(directory))
    ]
    return f"{inside[-1].filename}:{inside[-1].lineno}: " if inside else ""

