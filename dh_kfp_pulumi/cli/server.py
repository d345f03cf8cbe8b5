"""`dh-kfp server serve|start|stop|status`: the embedded KFP server's lifecycle."""

from __future__ import annotations

import argparse

from dh_kfp_pulumi.server import lifecycle


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "server", help="run the embedded KFP-compatible server",
        description="The embedded KFP server (KFP's REST API on this machine, runs with "
                    "kfp.local). One server per data dir.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    serve = actions.add_parser("serve", help="run in the foreground until Ctrl-C")
    lifecycle.add_serve_arguments(serve)
    serve.set_defaults(func=_serve)

    start = actions.add_parser("start", help="run in the background (no-op if already running)")
    lifecycle.add_serve_arguments(start)
    start.set_defaults(func=_start)

    for name, func, text in (("stop", _stop, "stop the background server"),
                             ("status", _status, "print the server's URL and pid")):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("--data-dir", default=None,
                         help=f"the server's data dir (default: ${lifecycle.ENV_DATA_DIR}, else "
                              "the user's data dir)")
        sub.set_defaults(func=func)


def _serve(args: argparse.Namespace) -> int:
    lifecycle.serve_from_args(args)
    return 0


def _start(args: argparse.Namespace) -> int:
    info = lifecycle.start(args.data_dir, port=args.port, host=args.host,
                           max_concurrent_runs=args.max_concurrent_runs,
                           pipeline_root=args.pipeline_root, log_level=args.log_level)
    if info.already_running:
        print(f"already running: {info.url} (pid {info.pid}, data dir {info.data_dir}); "
              "`dh-kfp server stop` stops it")
        return 0
    if info.note:
        print(f"dh-kfp server: {info.note}")
    print(f"{info.url} (pid {info.pid}, data dir {info.data_dir})")
    from dh_kfp_pulumi.server.guard import TOKEN_FILE, is_loopback

    if not is_loopback(args.host):
        print(f"listening beyond loopback: every request needs the token in "
              f"{info.data_dir / TOKEN_FILE} (Authorization: Bearer ..., "
              "kfp.Client(existing_token=...); the web page: open /?token=...)")
    return 0


def _stop(args: argparse.Namespace) -> int:
    directory = lifecycle.resolve_data_dir(args.data_dir)
    if lifecycle.stop(directory):
        print(f"stopped the server of {directory}")
    else:
        print(f"no server runs on {directory}")
    return 0


def _status(args: argparse.Namespace) -> int:
    directory = lifecycle.resolve_data_dir(args.data_dir)
    info = lifecycle.status(directory)
    if info is None:
        print(f"not running (data dir {directory})")
        return 3
    print(f"running: {info.url} (pid {info.pid}, data dir {info.data_dir})")
    return 0
