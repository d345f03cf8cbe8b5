"""The `dh-kfp` command. Each subcommand lives in its own module with a `register` function."""

from __future__ import annotations

import argparse
import importlib
import sys

from dh_kfp_pulumi.errors import DhKfpError

# Modules under dh_kfp_pulumi.cli that define `register(subparsers)`; each sets
# `func` on its parser, called with the parsed args, returning an exit code.
SUBCOMMAND_MODULES: tuple[str, ...] = ("compile", "server", "deploy", "plan")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dh-kfp",
        description="Kubeflow Pipelines workflows as infrastructure-as-code.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"dh_kfp_pulumi.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DhKfpError as exc:
        print(f"dh-kfp {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
