"""`dh-kfp compile`: a workflow to KFP IR YAML, without Pulumi.

Either flags:

    dh-kfp compile --project parking --name workflow --workflow pipeline.py:myhandler \\
        --function downloader-funct=src/download.py:download \\
        --function extract-parkings=src/extract.py:extract -o parking.yaml

or a YAML/JSON file with the same content as the Pulumi program's declarations
(`--spec project.yaml`, see README), or both (flags add to / override the file).
The same build as `pulumi up` runs, so the hash printed is the pipeline version
name a deployment would create.

The Task (`--task FILE`, or `task:` in the spec: a mapping or a file path relative to
the spec) is either pod settings or a DigitalHub task entity (kind `kfp+pipeline`); an
entity's fields that do not carry over (ids, status, metadata) are named in a warning
on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from dh_kfp_pulumi.errors import DhKfpError, FieldProblem, SpecError

SPEC_KEYS = (
    "project",
    "workflow",
    "functions",
    "task",
    "profiles",
    "default_image",
    "image_pull_secrets",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compile",
        help="compile a workflow to KFP pipeline YAML (IR) and print its hash",
        description=(
            "Compile a workflow (a pipeline handler using pipeline_context) and the project's "
            "functions to KFP IR YAML, as a deployment would, and print the spec hash."
        ),
    )
    parser.add_argument(
        "--spec",
        metavar="FILE",
        help="YAML/JSON file with project, workflow, functions, task, profiles, "
        "default_image, image_pull_secrets; its directory is the base dir",
    )
    parser.add_argument("--project", help="project name (the pipeline is named <project>-<name>)")
    parser.add_argument(
        "--workflow",
        metavar="FILE:HANDLER",
        help="the pipeline module and its handler, e.g. pipeline.py:myhandler",
    )
    parser.add_argument("--name", help="workflow name (default: the workflow file's stem)")
    parser.add_argument("--image", help="workflow image: the default image of its steps")
    parser.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="NAME=FILE:HANDLER",
        help="a python function of the project (repeatable)",
    )
    parser.add_argument(
        "--container",
        action="append",
        default=[],
        metavar="NAME=IMAGE",
        help="a container function (repeatable); set its command/args in --spec",
    )
    parser.add_argument(
        "--requirements",
        action="append",
        default=[],
        metavar="NAME=PACKAGE",
        help="a pip requirement of function NAME (repeatable)",
    )
    parser.add_argument(
        "--function-image",
        action="append",
        default=[],
        metavar="NAME=IMAGE",
        help="the image of function NAME's steps (repeatable)",
    )
    parser.add_argument("--default-image", help="image of steps that set none (default: kfp's)")
    parser.add_argument("--task", metavar="FILE", help="YAML/JSON of Task pod settings")
    parser.add_argument("--profiles", metavar="FILE", help="YAML/JSON of name -> pod settings")
    parser.add_argument(
        "--image-pull-secret",
        action="append",
        default=[],
        metavar="NAME",
        help="image pull secret of every step (repeatable)",
    )
    parser.add_argument(
        "--base-dir",
        help="where relative code_src paths start "
        "(default: the --spec file's directory, else the current one)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write the YAML ('-' for stdout; default <pipeline>.yaml)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dh_kfp_pulumi.build import build_workflow
    from dh_kfp_pulumi.specs import parse_function, parse_workflow

    spec, spec_dir = _read_spec(args.spec)
    project = args.project or spec.get("project")
    if not project:
        raise _usage("project", "required: --project NAME or `project:` in --spec")

    workflow = dict(spec.get("workflow") or {})
    if args.workflow:
        path, handler = _file_handler("--workflow", args.workflow)
        workflow.update(code_src=path, handler=handler)
        workflow.pop("code", None)
        workflow.pop("base64", None)
    if not workflow:
        raise _usage("workflow", "required: --workflow FILE:HANDLER or `workflow:` in --spec")
    workflow.setdefault("kind", "kfp")
    if args.name:
        workflow["name"] = args.name
    elif "name" not in workflow and workflow.get("code_src"):
        workflow["name"] = Path(workflow["code_src"]).stem
    if args.image:
        workflow["image"] = args.image

    functions: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(spec.get("functions") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _usage(f"functions[{index}]", "must be a mapping with a name", entry)
        functions[entry["name"]] = dict(entry)
    for item in args.function:
        name, value = _pair("--function", item)
        path, handler = _file_handler("--function", value)
        functions[name] = {"name": name, "kind": "python", "code_src": path, "handler": handler}
    for item in args.container:
        name, image = _pair("--container", item)
        functions.setdefault(name, {"name": name, "kind": "container"}).update(image=image)
    for item in args.requirements:
        name, package = _pair("--requirements", item)
        _known(functions, name, "--requirements").setdefault("requirements", []).append(package)
    for item in args.function_image:
        name, image = _pair("--function-image", item)
        _known(functions, name, "--function-image")["image"] = image

    if args.task:
        task = _task(args.task, "--task", os.getcwd())
    else:
        task = _task(spec.get("task"), "task", spec_dir or os.getcwd())
    profiles = _read_mapping(args.profiles, "--profiles") if args.profiles else spec.get("profiles")
    pull_secrets = args.image_pull_secret or list(spec.get("image_pull_secrets") or [])
    default_image = args.default_image or spec.get("default_image")
    base_dir = args.base_dir or spec_dir or os.getcwd()

    result = build_workflow(
        parse_workflow(workflow, project=project),
        [parse_function(f, project=project) for f in functions.values()],
        task,
        base_dir=base_dir,
        profiles=profiles,
        default_image=default_image,
        image_pull_secrets=pull_secrets,
    )

    output = args.output or f"{result.pipeline_name}.yaml"
    report = sys.stderr if output == "-" else sys.stdout
    if output == "-":
        sys.stdout.write(result.yaml)
    else:
        Path(output).write_text(result.yaml, encoding="utf-8")
        print(f"wrote {output}", file=report)
    params = ", ".join(f"{k}: {v}" for k, v in result.parameters.items()) or "none"
    print(
        f"pipeline {result.pipeline_name}: steps {', '.join(result.steps)}; parameters {params}",
        file=report,
    )
    print(f"sha256 {result.spec_hash}", file=report)
    return 0


def _task(value: Any, where: str, base_dir: str) -> Any:
    """The TaskSpec of `--task FILE` / the spec's `task:` (pod settings or a task entity)."""
    from dh_kfp_pulumi.specs import TaskSpec, from_entity, ignored_warning, parse_task

    if value is None:
        return None
    subject = where
    if isinstance(value, str):
        path = value if where == "--task" else str(Path(base_dir) / value)
        subject = f"{where} {value}"
        value = _read_mapping(path, where)
    if not isinstance(value, dict):
        raise _usage(
            where, "must be a mapping of pod settings, a task entity or a file path", value
        )
    if "kind" not in value:
        return parse_task({"action": "pipeline", **value})
    if value.get("kind") != "kfp+pipeline":
        raise _usage(
            f"{where}: kind",
            "a task entity has kind 'kfp+pipeline' (pod settings have no kind)",
            value.get("kind"),
        )
    try:
        spec, ignored = from_entity(value)
    except SpecError as exc:
        raise SpecError(f"task entity ({subject})", exc.problems) from None
    assert isinstance(spec, TaskSpec)  # the kind says so
    warning = ignored_warning(ignored, f"task entity ({subject})")
    if warning is not None:
        print(f"dh-kfp compile: warning: {warning}", file=sys.stderr)
    return spec


def _usage(field: str, message: str, *value: Any) -> SpecError:
    problem = (
        FieldProblem(field, message, value[0], True) if value else FieldProblem(field, message)
    )
    return SpecError("compile arguments", [problem])


def _pair(flag: str, item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name or not value:
        raise _usage(flag, "must be NAME=VALUE", item)
    return name, value


def _file_handler(flag: str, value: str) -> tuple[str, str]:
    path, sep, handler = value.rpartition(":")
    if not sep or not path or not handler:
        raise _usage(flag, "must be FILE:HANDLER, e.g. src/download.py:download", value)
    return path, handler


def _known(functions: dict[str, dict[str, Any]], name: str, flag: str) -> dict[str, Any]:
    if name not in functions:
        raise _usage(flag, f"no function {name!r}; declared: {sorted(functions)}", name)
    return functions[name]


def _read_spec(path: str | None) -> tuple[dict[str, Any], str | None]:
    if path is None:
        return {}, None
    data = _read_mapping(path, "--spec")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise _usage("--spec", f"unknown keys {unknown}; expected some of {list(SPEC_KEYS)}", path)
    return data, str(Path(path).resolve().parent)


def _read_mapping(path: str, flag: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DhKfpError(f"{flag} {path}: cannot read it ({exc.strerror})") from None
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise DhKfpError(
            f"{flag} {path}: not valid {'JSON' if path.endswith('.json') else 'YAML'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise _usage(flag, "must hold a mapping", path)
    return data
