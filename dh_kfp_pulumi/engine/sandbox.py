"""One program run's sandbox: the process state a Pulumi program changes, put back after.

A program runs in this process (the offline engine's `program`, `dh-kfp plan`'s `mocks`):
it is run from its own directory with `sys.argv` naming it, on an event loop of its own;
afterwards the working directory, argv, `sys.path` and the event loop are as they were,
and the modules it imported from its directory are forgotten, so a next run sees edited
code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def program_sandbox(
    directory: Path, argv0: Path, *, on_path: bool = False
) -> Iterator[asyncio.AbstractEventLoop]:
    """Run what the block runs as the program in `directory` (argv `[argv0]`; the directory
    first on `sys.path` when `on_path`); yields the block's new event loop."""
    before = set(sys.modules)
    old_cwd, old_argv, old_path = os.getcwd(), sys.argv, list(sys.path)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        os.chdir(directory)
        sys.argv = [str(argv0)]
        if on_path:
            sys.path.insert(0, str(directory))
        yield loop
    finally:
        with contextlib.suppress(Exception):
            loop.close()
        asyncio.set_event_loop(None)
        os.chdir(old_cwd)
        sys.argv = old_argv
        sys.path[:] = old_path
        forget_modules_under(directory, before)


def forget_modules_under(directory: Path, keep: set[str]) -> None:
    """Drop the modules the run imported from the program's directory (so a next run sees
    edited code), unless their package was loaded before (a program beside the package it
    uses, e.g. this one's, keeps it)."""
    prefix = str(directory.resolve()) + os.sep
    for name, module in list(sys.modules.items()):
        if name in keep or name.split(".", 1)[0] in keep:
            continue
        path = getattr(module, "__file__", None)
        if path and str(Path(path).resolve()).startswith(prefix):
            del sys.modules[name]
