"""`dh-kfp up|preview|refresh|destroy`: deploy a Pulumi program with dh-kfp's offline engine.

For machines without the Pulumi CLI. It is not Pulumi: it plays the Pulumi engine's part
for dynamic resources and keeps its own state file (`.dh-kfp/state/<project>-<stack>.json`
beside Pulumi.yaml). With the `pulumi` CLI on PATH, use `pulumi up -s <stack>`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from dh_kfp_pulumi.errors import DhKfpError

# engine.state.ENV_STATE_DIR; named here so `dh-kfp --help` imports no Pulumi (a test
# keeps the two equal)
ENV_STATE_DIR = "DH_KFP_STATE_DIR"

DEFAULT_STACK = "local"  # as `dh-kfp plan`: the embedded server's stack

_HELP = {
    "up": "deploy the stack: create, update, replace, delete until KFP matches the program",
    "preview": "show what `up` would do, changing nothing",
    "refresh": "read every resource from KFP into the state (drift becomes the state)",
    "destroy": "delete every resource of the stack",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    for name, text in _HELP.items():
        parser = subparsers.add_parser(
            name, help=f"{text} (offline engine)",
            description=f"{text[0].upper()}{text[1:]}. dh-kfp's offline engine, for machines "
                        "without the Pulumi CLI; with it, use `pulumi "
                        f"{name} -s STACK`. Custom resources must be Pulumi dynamic resources.")
        parser.add_argument("program_dir", nargs="?", default=None, metavar="PROGRAM_DIR",
                            help="the project (its Pulumi.yaml is looked up from here; default: "
                                 "the current directory)")
        parser.add_argument("-s", "--stack", default=DEFAULT_STACK,
                            help="the stack (config from <stackConfigDir>/Pulumi.<stack>.yaml; "
                                 f"default: {DEFAULT_STACK}, as `dh-kfp plan`)")
        parser.add_argument("--state-dir", default=None,
                            help=f"where state files live (default: ${ENV_STATE_DIR}"
                                 ", else .dh-kfp/state beside Pulumi.yaml)")
        parser.add_argument("-c", "--config", action="append", default=[], metavar="KEY=VALUE",
                            help="override a config value (repeatable), e.g. "
                                 "dh-kfp:host=http://127.0.0.1:8888")
        parser.add_argument("--secret", action="append", default=[], metavar="KEY=ENV_VAR",
                            help="a secret config value read from the environment variable "
                                 "ENV_VAR (repeatable), e.g. dh-kfp:token=KFP_TOKEN")
        if name in ("up", "preview"):
            parser.add_argument("-r", "--refresh", action="store_true",
                                help="read the resources from KFP first, so drift is repaired "
                                     "(up) or shown (preview)")
        parser.add_argument("-y", "--yes", action="store_true",
                            help="do not ask for confirmation (destroy asks on a terminal, as "
                                 "`pulumi destroy` does; the other operations never ask)")
        parser.set_defaults(func=_run, operation=name)


    outputs = subparsers.add_parser(
        "outputs", help="print a stack's outputs from the offline engine's state",
        description="The stack outputs the last `dh-kfp up` recorded (like `pulumi stack "
                    "output`); one value alone with NAME. Secrets print as [secret] unless "
                    "--show-secrets.")
    outputs.add_argument("name", nargs="?", default=None, metavar="NAME")
    outputs.add_argument("--cwd", dest="program_dir", default=None, metavar="PROGRAM_DIR",
                         help="the project (default: the current directory)")
    outputs.add_argument("-s", "--stack", default=DEFAULT_STACK,
                         help=f"the stack (default: {DEFAULT_STACK})")
    outputs.add_argument("--state-dir", default=None)
    outputs.add_argument("--json", action="store_true", help="print JSON")
    outputs.add_argument("--show-secrets", action="store_true")
    outputs.set_defaults(func=_outputs)


def _outputs(args: argparse.Namespace) -> int:
    from dh_kfp_pulumi import engine  # Pulumi's runtime: only when deploying
    from dh_kfp_pulumi.engine import props as engine_props
    path = engine.state_file(args.program_dir, args.stack, args.state_dir)
    if not path.exists():
        raise DhKfpError(
            f"stack {args.stack} has never been deployed by dh-kfp's offline engine (no state "
            f"{path}): it has no outputs; `dh-kfp up --stack {args.stack}` deploys it (with the "
            f"Pulumi CLI: `pulumi stack output -s {args.stack}`)")
    state = engine.load_state(args.program_dir, args.stack, args.state_dir)
    if not state.exports:
        last = state.last_update.get("operation") if state.last_update else None
        print(f"stack {args.stack} has no outputs"
              f"{f' (its last operation was {last})' if last else ''}", file=sys.stderr)
        return 3 if args.name is None else _no_output(args, state.exports)
    exports = state.exports if args.show_secrets else engine_props.mask_secrets(state.exports)
    exports = engine_props.unwrap_secrets(exports)
    if args.name is not None:
        if args.name not in exports:
            return _no_output(args, exports)
        value = exports[args.name]
        print(json.dumps(value) if args.json or not isinstance(value, str) else value)
        return 0
    if args.json:
        print(json.dumps(exports, indent=2, sort_keys=True))
    else:
        width = max((len(k) for k in exports), default=0)
        for key, value in sorted(exports.items()):
            print(f"{key:<{width}}  {value if isinstance(value, str) else json.dumps(value)}")
    return 0


def _no_output(args: argparse.Namespace, exports: dict) -> int:
    known = ", ".join(sorted(exports)) or "none (run `dh-kfp up` first)"
    raise DhKfpError(f"stack {args.stack} has no output {args.name!r}; outputs: {known}")


def confirm_destroy(args: argparse.Namespace, stdin=None, out=None) -> bool:
    """On a terminal, `destroy` asks first, as `pulumi destroy` does; --yes skips it.
    Elsewhere (scripts, CI) it goes ahead, as `--yes` would."""
    from dh_kfp_pulumi import engine  # Pulumi's runtime: only when deploying
    stdin = stdin if stdin is not None else sys.stdin
    out = out if out is not None else sys.stdout
    if args.yes or not stdin.isatty():
        return True
    path = engine.state_file(args.program_dir, args.stack, args.state_dir)
    state = engine.load_state(args.program_dir, args.stack, args.state_dir)
    custom = [r for r in state.resources if r.custom]
    names = [f"{r.type.split(':')[-1]} {r.name}" for r in custom]
    what = (f"{len(names)} resource{'s' if len(names) != 1 else ''}: " + ", ".join(names[:12])
            + (", ..." if len(names) > 12 else "")) if names else "no resource"
    out.write(f"destroy of stack {args.stack} ({path}) deletes {what}.\n"
              "Do you want to perform this destroy? [yes/no] ")
    out.flush()
    answer = stdin.readline().strip().lower()
    if answer in ("y", "yes"):
        return True
    out.write("destroy canceled: nothing was deleted (`--yes` skips this question)\n")
    return False


def _run(args: argparse.Namespace) -> int:
    from dh_kfp_pulumi import engine  # Pulumi's runtime: only when deploying
    overrides: dict[str, object] = {}
    for item in args.config:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DhKfpError(f"--config {item!r}: expected KEY=VALUE")
        overrides[key] = value
    for item in args.secret:
        key, sep, env_var = item.partition("=")
        if not sep or not key or not env_var:
            raise DhKfpError(f"--secret {item!r}: expected KEY=ENV_VAR (the value is read from "
                             "the environment, never from the command line)")
        if env_var not in os.environ:
            raise DhKfpError(f"--secret {key}: the environment variable {env_var} is not set")
        overrides[key] = engine.Secret(os.environ[env_var])
    if args.operation == "destroy" and not confirm_destroy(args):
        return 1
    call = getattr(engine, args.operation)
    kwargs = {"state_dir": args.state_dir, "config_overrides": overrides, "out": sys.stdout}
    if args.operation in ("up", "preview"):
        kwargs["refresh"] = args.refresh
    try:
        call(args.program_dir, args.stack, **kwargs)
    except engine.DeploymentError as exc:
        count = len(exc.result.errors)
        print(f"dh-kfp {args.operation}: failed ({count} error{'s' if count != 1 else ''} above)",
              file=sys.stderr)
        return 1
    return 0
