"""The bad-input suite (issue 11, item 8): one table of what users get wrong, across the
DSL, the specs, sources, schedules, pod settings, stack config, the CLI, the embedded
server's REST API and Terraform config.

Each case does the bad thing the way a user would (a program deployed with `dh-kfp up`'s
engine, a spec parsed, a request sent, a Terraform config validated), and asserts the
error's stable words (the field, the value and what is valid) and that the embedded
KFP server counted no write meanwhile. `CASES` is the table: its length is the number of
bad inputs tried; each passing case is one refused cleanly (no traceback, nothing made).
"""

from __future__ import annotations

import io
import json
import re
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kfp_kit import ADDER, stats, writes

from dh_kfp_pulumi import engine
from dh_kfp_pulumi.errors import DhKfpError

VENV = Path(sys.executable).parents[1]

PIPELINE = """\
from dh_kfp_pulumi.dsl import pipeline_context


def pipe(url: str, n: int = 1):
    with pipeline_context() as pc:
        pc.step(name="add", function="adder", action="job",
                inputs={"x": n, "word": url}, values=["y"])
"""
GOOD_RUN = "wf.run(action='pipeline', name='once', inputs={'url': 'u'})\n"


@dataclass(frozen=True)
class Case:
    area: str
    name: str
    attempt: Callable[[Any], str]  # does the bad thing; returns the error's text
    expect: str  # the error's stable words (a regex when it starts with "re:")
    # What KFP must not have seen: "write" (no write call, no object), "run" (no run or
    # recurring run: the program refuses a run() after its valid workflow was declared,
    # which `up` creates, as Pulumi does), "object" (a refused REST write: no object).
    untouched: str = "write"


CASES: list[Case] = []


def case(
    area: str, name: str, expect: str, untouched: str = "write"
) -> Callable[[Callable[[Any], str]], None]:
    def add(attempt: Callable[[Any], str]) -> None:
        CASES.append(Case(area, name, attempt, expect, untouched))

    return add


def error_of(fn: Callable[[], Any]) -> str:
    """The message of the DhKfpError (or ValueError) `fn` raises; fails if it raises none."""
    try:
        fn()
    except (DhKfpError, ValueError) as exc:
        return str(exc)
    raise AssertionError("accepted")


# ---- programs deployed with the offline engine against the embedded server ---------------


class Ctx:
    def __init__(self, server: Any, tmp: Path):
        self.server = server
        self.tmp = tmp
        self.count = 0

    def program(self, body: str, *, pipeline: str = PIPELINE, adder: str = ADDER) -> Path:
        """A program: a project with function `adder` and workflow `wf`, then `body`."""
        self.count += 1
        project = self.tmp / f"program-{self.count}"
        project.mkdir()
        (project / "Pulumi.yaml").write_text(
            f"name: bad\nruntime:\n  name: python\n  options:\n    virtualenv: {VENV}\n"
        )
        (project / "Pulumi.local.yaml").write_text("config: {}\n")
        (project / "pipeline.py").write_text(pipeline)
        (project / "adder.py").write_text(adder)
        (project / "__main__.py").write_text(
            "import dh_kfp_pulumi as dh\n\n"
            "project = dh.Project('bad')\n"
            "project.new_function(name='adder', kind='python', code_src='adder.py', "
            "handler='add')\n"
            "wf = project.new_workflow(name='wf', kind='kfp', code_src='pipeline.py', "
            "handler='pipe')\n" + textwrap.dedent(body)
        )
        return project

    def deploy(self, body: str, *, pipeline: str = PIPELINE, adder: str = ADDER) -> str:
        """`up` of `program(...)`: the error's text and what the engine printed."""
        project = self.program(body, pipeline=pipeline, adder=adder)
        out = io.StringIO()
        overrides = {"dh-kfp:host": self.server.url}
        try:
            result = engine.up(
                project, "local", state_dir=self.tmp / f"state-{self.count}", out=out,
                config_overrides=overrides,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a program error is the answer
            return f"{exc}\n{out.getvalue()}"
        assert not result.ok, out.getvalue()
        return out.getvalue()

    def request(self, method: str, path: str, body: Any = None) -> str:
        """A REST call; its 4xx answer as 'status message' (a 2xx fails the case)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.server.url}/apis/v2beta1{path}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                raise AssertionError(f"accepted: {response.status}")
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read() or b"{}")
            assert 400 <= exc.code < 500, (exc.code, answer)
            return f"{exc.code} {answer.get('message') or answer.get('error_details')}"


def pipeline_with(body: str, params: str = "url: str, n: int = 1") -> str:
    return (
        "from dh_kfp_pulumi.dsl import pipeline_context\n\n\n"
        f"def pipe({params}):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    )


STEP = 'pc.step(name="add", function="adder", inputs={"x": n, "word": url}, values=["y"])'

# The DSL, through `dh-kfp up` (the build runs in the provider's check): refused before KFP.

case(
    "dsl",
    "pc.step on pipeline_context() itself",
    "pipeline.py:5: pipeline_context().step is used without a `with` block",
)(lambda c: c.deploy(GOOD_RUN, pipeline=pipeline_with(f"pc = pipeline_context()\n{STEP}\n")))
case(
    "dsl",
    "pc.step after its with block",
    "pipeline.py:7: pc.step(...) is called outside its `with pipeline_context() as pc:` block",
)(
    lambda c: c.deploy(
        GOOD_RUN, pipeline=pipeline_with(f"with pipeline_context() as pc:\n    pass\n{STEP}\n")
    )
)
case(
    "dsl",
    "a step name KFP cannot take as a task name",
    "step '../<x> y': name: must be letters, digits, '-' or '_', starting with a letter or "
    "digit, at most 63 characters",
)(lambda c: c.deploy(GOOD_RUN, pipeline=PIPELINE.replace('name="add"', 'name="../<x> y"')))
case("dsl", "a step name of 64 characters", "name: must be letters, digits, '-' or '_'")(
    lambda c: c.deploy(GOOD_RUN, pipeline=PIPELINE.replace('name="add"', f'name="{"a" * 64}"'))
)
case(
    "dsl",
    "an undeclared output, with file:line",
    "pipeline.py:7: step 'add': outputs['z'] is not declared; the step declares ['y']",
)(
    lambda c: c.deploy(
        GOOD_RUN,
        pipeline=pipeline_with(
            f"with pipeline_context() as pc:\n    s = {STEP}\n"
            '    pc.step(name="again", function="adder", inputs={"x": s.outputs["z"], "word": url})\n'
        ),
    )
)
case(
    "dsl",
    "a step input the handler does not take",
    "inputs.not_a_param: function 'adder' (handler 'add', adder.py:1) has no parameter "
    "'not_a_param'; it takes: x, word",
)(
    lambda c: c.deploy(
        GOOD_RUN, pipeline=PIPELINE.replace('"word": url}', '"word": url, "not_a_param": 1}')
    )
)
case(
    "dsl",
    "a step parameter the handler does not take",
    "parameters.colour: function 'adder' (handler 'add', adder.py:1) has no parameter 'colour'",
)(
    lambda c: c.deploy(
        GOOD_RUN,
        pipeline=PIPELINE.replace('values=["y"]', 'parameters={"colour": "red"}, values=["y"]'),
    )
)
case(
    "dsl",
    "a handler argument no step input gives",
    "needs 'word', which the step gives in neither its inputs nor its parameters",
)(lambda c: c.deploy(GOOD_RUN, pipeline=PIPELINE.replace(', "word": url}', "}")))
case(
    "dsl",
    "a step calling no project function",
    "function: is not a function of the project; known: ['adder'] (got 'addr')",
)(lambda c: c.deploy(GOOD_RUN, pipeline=PIPELINE.replace('function="adder"', 'function="addr"')))
case(
    "dsl",
    "a function handler typo names the function",
    "function 'adder': handler 'add': no top-level function of that name in file adder.py; "
    "functions defined there: ad",
)(lambda c: c.deploy(GOOD_RUN, adder=ADDER.replace("def add(", "def ad(")))


@case(
    "dsl",
    "a workflow handler typo names the workflow",
    "workflow 'wf': handler 'pipe': not defined in file pipeline.py; functions defined there: pip",
)
def _(c: Ctx) -> str:
    return c.deploy(GOOD_RUN, pipeline=PIPELINE.replace("def pipe(", "def pip("))


case(
    "dsl",
    "a step input that is no literal",
    "inputs.x: must be a literal (str, int, float, bool, None, or a list/dict of those)",
)(lambda c: c.deploy(GOOD_RUN, pipeline=PIPELINE.replace('"x": n', '"x": {1, 2}')))
case("dsl", "an action other than job", "action: must be one of ['job'] (got 'serve')")(
    lambda c: c.deploy(GOOD_RUN, pipeline=PIPELINE.replace('action="job"', 'action="serve"'))
)
case("dsl", "a pipeline declaring no step", "declares no step; call pc.step(...) at least once")(
    lambda c: c.deploy(
        GOOD_RUN, pipeline=pipeline_with("with pipeline_context() as pc:\n    pass\n")
    )
)
case(
    "dsl",
    "a pipeline parameter of no KFP type",
    "parameter 'n': annotation <class 'set'> is not a pipeline parameter type",
)(lambda c: c.deploy(GOOD_RUN, pipeline=PIPELINE.replace("n: int = 1", "n: set = None")))

# Run inputs against the pipeline's parameters, at declaration (plan and preview show it).

case(
    "run",
    "an unknown run input (urll)",
    "inputs.urll: not a parameter of the pipeline; its parameters: n (int), url (str, "
    "required) (got 'u')",
    untouched="run",
)(lambda c: c.deploy("wf.run(action='pipeline', name='once', inputs={'url': 'u', 'urll': 'u'})\n"))
case(
    "run",
    "a required run input missing",
    "inputs.url: required: pipeline parameter 'url' (str) has no default",
    untouched="run",
)(lambda c: c.deploy("wf.run(action='pipeline', name='once', inputs={'n': 2})\n"))
case(
    "run",
    "a run input of the wrong type",
    "inputs.n: must be a int: the type of pipeline parameter 'n' (got 'two')",
    untouched="run",
)(lambda c: c.deploy("wf.run(action='pipeline', name='once', inputs={'url': 'u', 'n': 'two'})\n"))
case(
    "run",
    "a schedule's inputs are checked too",
    "inputs.urll: not a parameter of the pipeline",
    untouched="run",
)(
    lambda c: c.deploy(
        "wf.run(action='pipeline', name='n', schedule='5 4 * * *', "
        "inputs={'urll': 'u', 'url': 'u'})\n"
    )
)
case(
    "run",
    "a run input name that is no identifier",
    "inputs.not ok: not a parameter of the pipeline",
    untouched="run",
)(lambda c: c.deploy("wf.run(action='pipeline', name='once', inputs={'url': 'u', 'not ok': 1})\n"))

# Schedules and pod settings, through run() in a deployed program.

case(
    "schedules",
    "a cron that never fires (31 February)",
    "schedule: day of month '31' never falls in month '2', so the schedule never fires",
)(
    lambda c: c.deploy(
        "wf.run(action='pipeline', name='n', schedule='0 0 31 2 *', inputs={'url': 'u'})\n"
    )
)
case("schedules", "a CRON_TZ= prefix", "time zone prefix 'CRON_TZ=Europe/Rome' is not supported")(
    lambda c: c.deploy(
        "wf.run(action='pipeline', name='n', "
        "schedule='CRON_TZ=Europe/Rome 0 5 * * *', inputs={'url': 'u'})\n"
    )
)
case(
    "pod",
    "caching='yes'",
    "caching: must be true or false (a boolean, not a string or a number) (got 'yes')",
)(
    lambda c: c.deploy(
        "wf.run(action='pipeline', name='once', inputs={'url': 'u'}, caching='yes')\n"
    )
)
case("pod", "a setting run() does not know", "colour: not a setting of run()")(
    lambda c: c.deploy(
        "wf.run(action='pipeline', name='once', inputs={'url': 'u'}, colour='red')\n"
    )
)
case(
    "specs",
    "a function name of 100,000 characters",
    "name: must be letters, digits, '-' or '_', starting with a letter or digit, at most 63 "
    "characters (got 'aaaaaaaaaa",
)(
    lambda c: c.deploy(
        f"project.new_function(name='{'a' * 100_000}', kind='python', "
        "code_src='adder.py', handler='add')\n"
    )
)


# ---- specs, parsed as the programs, the providers and the CLI parse them -----------------


def _spec(what: str, fields: dict[str, Any]) -> Callable[[Any], str]:
    from dh_kfp_pulumi import specs

    base = {
        "function": {"project": "p", "name": "f", "kind": "python", "code": ADDER,
                     "handler": "add"},
        "workflow": {"project": "p", "name": "w", "kind": "kfp", "code": PIPELINE,
                     "handler": "pipe"},
        "task": {"action": "pipeline"},
        "run": {},
    }[what]  # fmt: skip
    parse = getattr(specs, f"parse_{what}")
    data = {k: v for k, v in {**base, **fields}.items() if v is not ...}
    return lambda c: error_of(lambda: parse(data))


for area, what, name, fields, expect in [
    (
        "specs",
        "workflow",
        "a project name of 64 characters",
        {"project": "p" * 64},
        "project: must be letters, digits, '-' or '_', starting with a letter or digit, at most "
        "63 characters",
    ),
    (
        "specs",
        "workflow",
        "a description over KFP's column",
        {"description": "é" * 35_000},
        "description: is 70000 bytes of UTF-8; at most 60000",
    ),
    (
        "specs",
        "workflow",
        "embedded='yes'",
        {"embedded": "yes"},
        "embedded: must be true or false (a boolean, not a string or a number) (got 'yes')",
    ),
    (
        "specs",
        "function",
        "a label value of 64 characters",
        {"labels": [f"team={'x' * 64}"]},
        "labels[0]: must be a Kubernetes pod label",
    ),
    (
        "specs",
        "function",
        "a label prefix of 254 characters",
        {"labels": [f"{'a' * 254}/team=x"]},
        "labels[0]: must be a Kubernetes pod label",
    ),
    (
        "specs",
        "function",
        "kind java",
        {"kind": "java"},
        "kind: must be 'python' or 'container' (got 'java')",
    ),
    (
        "specs",
        "function",
        "code and code_src both",
        {"code_src": "adder.py"},
        "exactly one of code_src, code, base64 is needed",
    ),
    (
        "specs",
        "function",
        "a handler that is no identifier",
        {"handler": "a b"},
        "handler: must be 'function' or 'module:function'",
    ),
    (
        "specs",
        "function",
        "a uuid that is no UUID4",
        {"uuid": "1234"},
        "uuid: must be a UUID4 in canonical form",
    ),
    (
        "specs",
        "function",
        "a tag without an image",
        {"tag": "1.0"},
        "tag: needs image (the tag of which image?)",
    ),
    (
        "specs",
        "function",
        "a bad requirement",
        {"requirements": ["pandas>>2"]},
        "requirements[0]: must be a PEP 508 requirement",
    ),
    (
        "specs",
        "function",
        "an env var name starting with a digit",
        {
            "kind": "container",
            "image": "busybox",
            "code": ...,
            "handler": ...,
            "envs": [{"name": "1X", "value": "v"}],
        },
        "envs[0].name: must be an environment variable name",
    ),
    (
        "specs",
        "function",
        "an unknown field",
        {"colour": "red"},
        "colour: unknown field; known fields: project, name",
    ),
    (
        "specs",
        "function",
        "a container function with code",
        {"kind": "container", "image": "busybox"},
        "not allowed for kind 'container'",
    ),
    (
        "specs",
        "run",
        "a run input key that is no identifier",
        {"inputs": {"a b": 1}},
        "must be a Python identifier (a pipeline parameter name) (got 'a b')",
    ),
    (
        "sources",
        "function",
        "an unsupported code_src scheme",
        {"code": ..., "code_src": "ftp://host/x.py"},
        "code_src: unsupported scheme 'ftp://'",
    ),
    (
        "sources",
        "function",
        "an s3 code_src without a key",
        {"code": ..., "code_src": "s3://bucket"},
        "must be s3://bucket/key",
    ),
    (
        "sources",
        "function",
        "an http code_src without a host",
        {"code": ..., "code_src": "https:///x.py"},
        "must be https://host/path (no host given)",
    ),
    ("sources", "function", "empty code", {"code": "  "}, "code: must not be empty"),
    (
        "schedules",
        "task",
        "a 4-field cron",
        {"schedule": "5 4 * *"},
        "schedule: 4 fields instead of 5 or 6",
    ),
    (
        "schedules",
        "task",
        "30 February, 6 fields",
        {"schedule": "0 0 0 30 2 *"},
        "day of month '30' never falls in month '2'",
    ),
    (
        "schedules",
        "task",
        "31 in April and June",
        {"schedule": "0 0 31 4,6 *"},
        "day of month '31' never falls in month '4,6'",
    ),
    (
        "schedules",
        "task",
        "a TZ= prefix",
        {"schedule": "TZ=UTC @daily"},
        "time zone prefix 'TZ=UTC' is not supported",
    ),
    (
        "schedules",
        "task",
        "@every below 1s",
        {"schedule": "@every 500ms"},
        "'@every 500ms' is shorter than 1s",
    ),
    (
        "schedules",
        "task",
        "L in a cron",
        {"schedule": "0 0 L * *"},
        "'L', 'W' and '#' are not supported by KFP's cron",
    ),
    (
        "schedules",
        "task",
        "an unknown descriptor",
        {"schedule": "@fortnightly"},
        "unknown descriptor '@fortnightly'",
    ),
    (
        "schedules",
        "task",
        "minute 61",
        {"schedule": "61 * * * *"},
        "minute '61': 61 is outside 0-59",
    ),
    (
        "schedules",
        "task",
        "enabled='true'",
        {"schedule": "@daily", "enabled": "true"},
        "enabled: must be true or false (a boolean, not a string or a number) (got 'true')",
    ),
    (
        "schedules",
        "task",
        "max_concurrency='2'",
        {"schedule": "@daily", "max_concurrency": "2"},
        "max_concurrency: must be a whole number (not a string, a boolean or a fraction)",
    ),
    (
        "schedules",
        "task",
        "max_concurrency 11",
        {"schedule": "@daily", "max_concurrency": 11},
        "max_concurrency: must be between 1 and 10",
    ),
    (
        "schedules",
        "task",
        "an end before the start",
        {
            "schedule": "@daily",
            "start_time": "2027-01-02T00:00:00Z",
            "end_time": "2027-01-01T00:00:00Z",
        },
        "end_time: must be after start_time",
    ),
    (
        "schedules",
        "task",
        "a start time that is no date",
        {"schedule": "@daily", "start_time": "2027-13-01T00:00:00Z"},
        "start_time: must be a real date and time (RFC 3339)",
    ),
    (
        "schedules",
        "task",
        "catchup without a schedule",
        {"catchup": False},
        "catchup: only applies to a scheduled task; set schedule too",
    ),
    (
        "pod",
        "task",
        "caching=1",
        {"caching": 1},
        "caching: must be true or false (a boolean, not a string or a number) (got 1)",
    ),
    (
        "pod",
        "task",
        "a toleration effect KFP has not",
        {"tolerations": [{"key": "k", "operator": "Exists", "effect": "Sometimes"}]},
        "tolerations[0].effect",
    ),
    (
        "pod",
        "task",
        "tolerationSeconds as a string",
        {
            "tolerations": [
                {"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": "30"}
            ]
        },
        "tolerations[0].tolerationSeconds: must be a whole number",
    ),
    ("pod", "task", "a cpu that is no quantity", {"resources": {"cpu": "lots"}}, "resources.cpu"),
    (
        "pod",
        "task",
        "a volume name that is no DNS label",
        {"volumes": [{"name": "Bad_Name", "volume_type": "empty_dir", "mount_path": "/v"}]},
        "volumes[0].name",
    ),
    (
        "pod",
        "task",
        "run_as_user as a string",
        {"run_as_user": "5"},
        "run_as_user: must be a whole number",
    ),
    (
        "pod",
        "task",
        "a priority class KFP cannot express",
        {"priority_class": "high"},
        "priority_class:",
    ),
]:
    case(area, name, expect)(_spec(what, fields))


# ---- stack config ------------------------------------------------------------------------


def _config(mapping: dict[str, Any]) -> Callable[[Any], str]:
    from dh_kfp_pulumi.backends.config import config_from_mapping

    return lambda c: error_of(lambda: config_from_mapping(mapping))


for name, mapping, expect in [
    ("a setting typo", {"dh-kfp:hots": "http://x"}, "dh-kfp:hots: unknown setting; valid: "),
    (
        "a host without a scheme",
        {"dh-kfp:host": "kfp.local:8888"},
        "dh-kfp:host: must be an http:// or https:// URL of the KFP API",
    ),
    (
        "verify_ssl=maybe",
        {"dh-kfp:verify_ssl": "maybe"},
        "dh-kfp:verify_ssl: must be true or false (got 'maybe')",
    ),
    (
        "a negative request timeout",
        {"dh-kfp:request_timeout": "-1"},
        "dh-kfp:request_timeout: must be a positive number of seconds",
    ),
    (
        "on_destroy_active_runs=kill",
        {"dh-kfp:on_destroy_active_runs": "kill"},
        "dh-kfp:on_destroy_active_runs: must be 'wait'",
    ),
    (
        "profiles that are a list",
        {"dh-kfp:profiles": "[1, 2]"},
        "dh-kfp:profiles: must map profile names to pod settings",
    ),
]:
    case("stack config", name, expect)(_config(mapping))


@case("stack config", "a profile no stack defines", "profile: unknown profile")
def _(c: Ctx) -> str:
    return c.deploy("wf.run(action='pipeline', name='once', inputs={'url': 'u'}, profile='gpu')\n")


# ---- the CLI -----------------------------------------------------------------------------


def _cli(args: list[str]) -> Callable[[Any], str]:
    def attempt(c: Ctx) -> str:
        from contextlib import redirect_stderr, redirect_stdout

        from dh_kfp_pulumi.cli import main

        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main([a.replace("{tmp}", str(c.tmp)) for a in args])
            except SystemExit as exc:  # argparse
                code = exc.code
        assert code not in (0, None), out.getvalue()
        return out.getvalue() + err.getvalue()

    return attempt


@case(
    "cli",
    "dh-kfp plan of a run with an unknown input (urll)",
    "inputs.urll: not a parameter of the pipeline; its parameters: n (int), url (str, "
    "required) (got 'u')",
)
def _(c: Ctx) -> str:
    program = c.program("wf.run(action='pipeline', name='once', inputs={'urll': 'u', "
                        "'url': 'u'})\n")  # fmt: skip
    return _cli(["plan", str(program), "-s", "local", "--out", str(program / "ir")])(c)


EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "parking")
for name, args, expect in [
    (
        "plan of a stack with no config file",
        ["plan", EXAMPLE, "-s", "staging", "--out", "{tmp}/ir"],
        "stack 'staging' has no config file",
    ),
    (
        "plan with a profile no stack defines",
        ["plan", EXAMPLE, "-s", "prod", "--out", "{tmp}/ir", "-c", "parking:profile=gpu"],
        "profile: unknown profile; defined: standard (got 'gpu')",
    ),
    ("a command that does not exist", ["deploy-everything"], "invalid choice"),
    ("the server on port 99999", ["server", "--port", "99999"], "99999"),
    ("compile of a directory with no program", ["compile", "{tmp}/nothing-here"], "nothing-here"),
]:
    case("cli", name, expect)(_cli(args))


# ---- the REST API: the embedded server's 4xx answers --------------------------------------


def _rest(method: str, path: str, body: Any) -> Callable[[Any], str]:
    return lambda c: c.request(method, path, body)


for name, method, path, body, expect in [
    (
        "an experiment with an unknown field",
        "POST",
        "/experiments",
        {"display_name": "x", "foo": 1},
        'unknown field "foo"',
    ),
    (
        "an experiment without a name",
        "POST",
        "/experiments",
        {"display_name": ""},
        "Experiment name is empty",
    ),
    (
        "a run with no pipeline",
        "POST",
        "/runs",
        {"display_name": "r"},
        "pipeline_version_reference",
    ),
    (
        "a recurring run with a 3-field cron",
        "POST",
        "/recurringruns",
        {
            "display_name": "s",
            "max_concurrency": 1,
            "trigger": {"cron_schedule": {"cron": "1 * *"}},
            "pipeline_version_reference": {"pipeline_id": "x"},
        },
        "Expected 5 to 6 fields, found 3: 1 * *",
    ),
    (
        "a recurring run over KFP's concurrency",
        "POST",
        "/recurringruns",
        {
            "display_name": "s",
            "max_concurrency": 11,
            "trigger": {"periodic_schedule": {"interval_second": 5}},
        },
        "must be at least 1 and at most 10. Received 11",
    ),
    (
        "a pipeline whose IR names it badly",
        "POST",
        "/runs",
        {"display_name": "r", "pipeline_spec": {"pipelineInfo": {}}},
        "pipelineInfo.name",
    ),
    ("a run of an unknown run id", "GET", "/runs/no-such-run", None, "404"),
]:
    case("rest", name, expect, untouched="object")(_rest(method, path, body))


# ---- Terraform config: the provider's ValidateResourceConfig, then its plan -------------------


def _terraform(type_name: str, **values: Any) -> Callable[[Any], str]:
    def attempt(c: Ctx) -> str:
        pytest.importorskip("tf", reason="the `tf` framework (extra `terraform`) is not installed")
        sys.path.insert(0, str(Path(__file__).parent / "terraform"))
        from test_provider_units import diagnostics_of, full, plan, workflow_config

        if type_name == "dhkfp_workflow":
            config = workflow_config(**values)
        else:
            config = full(type_name, **values)
        summaries = [d.summary for d in diagnostics_of(type_name, config)]
        if not summaries:  # what only a build finds is the plan's (validate imports no kfp)
            summaries = [d.summary for d in plan(type_name, config)[2]]
        assert summaries, "accepted by validate and plan"
        return "\n".join(summaries)

    return attempt


TASK = {"project": "demo", "name": "t", "pipeline_id": "p", "workflow_version_id": "v"}
TF_PIPELINE = "def pipe(x: int = 1):\n" + textwrap.indent(
    "from dh_kfp_pulumi.dsl import pipeline_context\n"
    "with pipeline_context() as pc:\n"
    '    pc.step(name="add", function="adder", action="job", inputs={"x": x}, values=["y"])\n',
    "    ",
)
TF_SPEC = json.dumps({"project": "demo", "name": "wf", "kind": "kfp", "code": TF_PIPELINE,
                      "handler": "pipe",
                      "functions": [{"project": "demo", "name": "adder", "kind": "python",
                                     "code": "def add(x):\n    return {'y': str(x)}\n",
                                     "handler": "add"}]})  # fmt: skip
for name, type_name, values, expect in [
    (
        "a task cron that never fires",
        "dhkfp_task",
        {**TASK, "schedule": "0 0 31 2 *"},
        "schedule: day of month '31' never falls in month '2'",
    ),
    (
        "a task CRON_TZ= schedule",
        "dhkfp_task",
        {**TASK, "schedule": "CRON_TZ=UTC 0 5 * * *"},
        "time zone prefix 'CRON_TZ=UTC'",
    ),
    (
        "a task max_concurrency of 11",
        "dhkfp_task",
        {**TASK, "schedule": "@daily", "max_concurrency": 11},
        "max_concurrency: must be between 1 and 10",
    ),
    (
        "a task input its workflow does not take",
        "dhkfp_task",
        {**TASK, "workflow_spec": TF_SPEC, "inputs": {"xx": 1}},
        "inputs.xx: not a parameter of the pipeline; its parameters: x (int)",
    ),
    (
        "a task input of the wrong type",
        "dhkfp_task",
        {**TASK, "workflow_spec": TF_SPEC, "inputs": {"x": "one"}},
        "inputs.x: must be a int: the type of pipeline parameter 'x' (got 'one')",
    ),
    (
        "a workflow name of 64 characters",
        "dhkfp_workflow",
        {"name": "w" * 64},
        "name: must be letters, digits, '-' or '_', starting with a letter or digit, at most 63",
    ),
    (
        "a workflow step input its handler does not take",
        "dhkfp_workflow",
        {
            "code": "from dh_kfp_pulumi.dsl import pipeline_context\n\n\ndef pipe(x: int = 1):\n"
            "    with pipeline_context() as pc:\n"
            '        pc.step(name="add", function="adder", inputs={"x": x, "z": 2})\n'
        },
        "re:<inline \\w+>:6: step 'add': inputs.z: function 'adder' \\(handler 'add', "
        "handler.py:1\\) has no parameter 'z'; it takes: x",
    ),
]:
    case("terraform", name, expect)(_terraform(type_name, **values))


# ---- the suite ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx(kfp_server, tmp_path_factory) -> Ctx:
    return Ctx(kfp_server, tmp_path_factory.mktemp("bad-inputs"))


def kfp_objects(url: str) -> dict[str, int]:
    """How many experiments, pipelines, versions of them, runs and recurring runs KFP holds."""
    out = {}
    for path, key in (("experiments", "experiments"), ("pipelines", "pipelines"),
                      ("runs", "runs"), ("recurringruns", "recurringRuns")):  # fmt: skip
        with urllib.request.urlopen(f"{url}/apis/v2beta1/{path}?page_size=1000") as answer:
            items = json.load(answer).get(key) or []
        out[path] = len(items)
        if path == "pipelines":
            for item in items:
                pid = item["pipeline_id"]
                with urllib.request.urlopen(
                    f"{url}/apis/v2beta1/pipelines/{pid}/versions?page_size=1000"
                ) as answer:
                    out["versions"] = out.get("versions", 0) + len(
                        json.load(answer).get("pipeline_versions") or []
                    )
    return out


def run_writes(url: str) -> int:
    requests = stats(url)["requests"]
    return sum(
        n for call, n in requests.items() if re.match(r"POST \S*/(runs|recurringruns)\b", call)
    )


@pytest.mark.parametrize("bad", CASES, ids=[f"{c.area}: {c.name}" for c in CASES])
def test_a_bad_input_is_refused_naming_what_is_valid_and_nothing_reaches_kfp(bad, ctx):
    url = ctx.server.url
    objects, write_calls, run_calls = kfp_objects(url), writes(url), run_writes(url)
    message = bad.attempt(ctx)
    if bad.expect.startswith("re:"):
        assert re.search(bad.expect[3:], message), message
    else:
        assert bad.expect in message, message
    assert "Traceback" not in message, message
    after = kfp_objects(url)
    if bad.untouched == "write":  # refused before any write call to KFP
        assert (writes(url), after) == (write_calls, objects)
    elif bad.untouched == "run":  # no run and no schedule: not even asked for
        assert run_writes(url) == run_calls
        assert (after["runs"], after["recurringruns"]) == (
            objects["runs"],
            objects["recurringruns"],
        )
    else:  # a REST write KFP refused: nothing stored
        assert after == objects


def test_the_table_covers_every_area_with_at_least_60_cases():
    areas = {c.area for c in CASES}
    assert {"dsl", "specs", "sources", "schedules", "pod", "stack config", "cli", "rest",
            "terraform", "run"} <= areas  # fmt: skip
    assert len(CASES) >= 60
    assert len({(c.area, c.name) for c in CASES}) == len(CASES)  # no case twice
