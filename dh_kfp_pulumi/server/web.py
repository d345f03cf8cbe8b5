"""The embedded server's read-only web pages: `/` (everything stored), `/runs/{run_id}` (with
its artifacts previewed and downloadable), `/pipelines/{id}` (versions, graph, IR),
`/recurringruns/{id}`, `/experiments/{id}` and `/runs?page=N` (every run, 50 a page).

Rendered on the server as plain HTML with the stylesheet inlined and the DAG as inline SVG, so a
page needs nothing from the network and no build step. Nothing here writes: the pages have no
forms and no buttons. Every stored text is escaped, whoever wrote it.

KFP's UI links (`<host>/#/runs/details/<id>`, which `kfp.Client` and the reconcile code print)
land here too: a few lines of inline script on `/` follow the fragment to the run page.
"""

from __future__ import annotations

import csv
import functools
import html
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from dh_kfp_pulumi.server import ir
from dh_kfp_pulumi.server.store import ACTIVE_STATES

if TYPE_CHECKING:
    from dh_kfp_pulumi.server.context import ServerContext

log = logging.getLogger("dh_kfp_pulumi.server.web")

RECENT_RUNS = 50
REFRESH_SECONDS = 3  # pages showing an active run reload themselves
TASK_STATES = ("pending", "running", "succeeded", "failed", "skipped", "canceled")

# Node geometry of the DAG, in SVG pixels.
NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 190, 46, 36, 44, 10
LABEL_CHARS = 24


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _when(seconds: int | None) -> str:
    if not seconds:
        return ""
    return datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _duration(start: int, end: int) -> str:
    if not start or not end or end < start:
        return ""
    s = int(end - start)
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else (
        f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")


def _state_badge(state: str) -> str:
    return f'<span class="state state-{e(state.lower())}">{e(state)}</span>'


def _json_value(value: Any, parameter_type: str = "") -> str:
    if parameter_type == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
        value = int(value)  # IR defaults are protobuf Values: every number is a double
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return f"<code>{e(text)}</code>"


@functools.cache
def _stylesheet() -> str:
    return (Path(__file__).with_name("web") / "style.css").read_text(encoding="utf-8")


# Fragments of KFP's UI that `/` follows to the page of a run, a pipeline (and its version:
# a Workflow's `url` output) or a recurring run (a Task's). Ids are kept to the characters
# KFP ids use.
_FRAGMENT_SCRIPT = """<script>
(function () {
  var m = /^#\\/(runs|pipelines|recurringrun|experiments)\\/details\\/([A-Za-z0-9._-]+)(?:\\/version\\/([A-Za-z0-9._-]+))?/.exec(location.hash);
  if (!m) return;
  var page = {runs: "/runs/", pipelines: "/pipelines/", recurringrun: "/recurringruns/",
              experiments: "/experiments/"}[m[1]] + m[2];
  location.replace(m[3] ? page + "?version=" + m[3] : page);
})();
</script>"""


def _page(title: str, body: str, *, refresh: bool = False, script: str = "",
          status_code: int = 200) -> HTMLResponse:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    doc = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{meta}"
        f"<title>{e(title)} · dh-kfp</title><style>{_stylesheet()}</style></head><body>"
        "<header><a href=\"/\">dh-kfp embedded KFP</a>"
        "<span class=\"where\">read-only view · API at /apis/v2beta1</span></header>"
        f"<main>{body}</main>{script}</body></html>")
    return HTMLResponse(doc, status_code=status_code)


def _table(headers: Iterable[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{e(empty)}</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _counted(store: Any, sql: str, params: Any = ()) -> Any:
    """The one row of an aggregate query (COUNT always answers one)."""
    row = store.one(sql, params)
    assert row is not None
    return row


def _run_link(run_id: str, text: str) -> str:
    return f'<a href="/runs/{quote(run_id, safe="")}">{e(text)}</a>'


def _link(kind: str, ident: str, text: str) -> str:
    """A link to the page of a pipeline, recurring run or experiment (`kind` as in the URL)."""
    return f'<a href="/{kind}/{quote(ident, safe="")}">{e(text)}</a>'


def _page_links(base: str, page: int, total: int, size: int = RECENT_RUNS) -> str:
    """"newer / older" links of a list of runs shown `size` at a time, newest first."""
    pages = max((total + size - 1) // size, 1)
    sep = "&" if "?" in base else "?"
    links = []
    if page > 1:
        links.append(f'<a rel="prev" href="{e(base)}{sep}page={page - 1}">← newer</a>')
    links.append(f'<span class="muted">page {page} of {pages}</span>')
    if page < pages:
        links.append(f'<a rel="next" href="{e(base)}{sep}page={page + 1}">older →</a>')
    return f'<p class="pager">{" · ".join(links)}</p>'


def _run_rows(ctx: ServerContext, runs: list[Any], *, origin: bool = True) -> list[str]:
    """Table rows of runs: name, state, pipeline/version, experiment, (recurring run), times."""
    store = ctx.store
    cache: dict[tuple[str, str], Any] = {}

    def one(table: str, ident: str) -> Any:
        if (table, ident) not in cache:
            cache[(table, ident)] = store.one(f"SELECT * FROM {table} WHERE id = ?", (ident,)) \
                if ident else None
        return cache[(table, ident)]

    rows = []
    for run in runs:
        version = one("pipeline_versions", run["pipeline_version_id"])
        pipeline = one("pipelines", run["pipeline_id"] or (version["pipeline_id"] if version
                                                           else ""))
        if version is not None and pipeline is not None:
            source = (f'<a href="/pipelines/{quote(pipeline["id"], safe="")}?version='
                      f'{quote(version["id"], safe="")}">{e(pipeline["display_name"])}</a>'
                      f' / {e(version["display_name"])}')
        elif run["pipeline_version_id"]:
            source = f'<span class="muted">deleted version {e(run["pipeline_version_id"])}</span>'
        else:
            source = '<span class="muted">inline spec</span>'
        experiment = one("experiments", run["experiment_id"])
        exp = (_link("experiments", experiment["id"], experiment["name"]) if experiment
               else e(run["experiment_id"]))
        cells = [_run_link(run["id"], run["display_name"]), _state_badge(run["state"]), source,
                 exp]
        if origin:
            recurring = one("recurring_runs", run["recurring_run_id"])
            cells.append(_link("recurringruns", recurring["id"], recurring["display_name"])
                         if recurring else e(run["recurring_run_id"]))
        cells += [_when(run["created_at"]), _duration(run["created_at"], run["finished_at"]),
                  f'<span class="id">{e(run["id"])}</span>']
        rows.append(f'<tr id="run-{e(run["id"])}">' + "".join(f"<td>{c}</td>" for c in cells)
                    + "</tr>")
    return rows


RUN_HEADERS = ["Run", "State", "Pipeline / version", "Experiment", "Recurring run", "Created",
               "Took", "Id"]


def _runs_page(store: Any, where: str, params: tuple, page: int) -> tuple[list[Any], int]:
    """One page of the runs matching `where`, newest first, and how many there are."""
    total = _counted(store, f"SELECT COUNT(*) AS n FROM runs WHERE {where}", params)["n"]
    rows = store.all(f"SELECT * FROM runs WHERE {where} ORDER BY created_at DESC, seq DESC "
                     "LIMIT ? OFFSET ?", (*params, RECENT_RUNS, (page - 1) * RECENT_RUNS))
    return rows, total


# --- the index page ---------------------------------------------------------------------------

def index(ctx: ServerContext) -> HTMLResponse:
    store = ctx.store
    pipelines = store.list_pipelines()
    versions = {p["id"]: store.list_versions(p["id"]) for p in pipelines}
    version_names = {v["id"]: (p, v) for p in pipelines for v in versions[p["id"]]}
    recurring = store.list_recurring_runs()
    runs = store.recent_runs(RECENT_RUNS)

    def source(row: Any) -> str:
        found = version_names.get(row["pipeline_version_id"])
        if found is None:
            return '<span class="muted">inline spec</span>' if not row["pipeline_version_id"] \
                else f'<span class="muted">deleted version {e(row["pipeline_version_id"])}</span>'
        pipeline, version = found
        return (f'<a href="/pipelines/{quote(pipeline["id"], safe="")}?version='
                f'{quote(version["id"], safe="")}">{e(pipeline["display_name"])}</a>'
                f' / {e(version["display_name"])}')

    pipeline_rows = []
    for p in pipelines:
        names = ", ".join(f'{e(v["display_name"])} <span class="muted">({_when(v["created_at"])})'
                          "</span>" for v in reversed(versions[p["id"]]))
        pipeline_rows.append(
            f'<tr id="pipeline-{e(p["id"])}"><td>{_link("pipelines", p["id"], p["display_name"])}</td>'
            f'<td>{e(p["description"])}</td><td>{len(versions[p["id"]])}</td>'
            f'<td>{names or "<span class=muted>none</span>"}</td>'
            f'<td>{_when(p["created_at"])}</td><td class="id">{e(p["id"])}</td></tr>')

    recurring_rows = []
    for r in recurring:
        trig = json.loads(r["trigger"] or "{}")
        when = (f'cron <code>{e(trig["cron"])}</code>' if trig.get("cron") is not None
                else f'every {e(trig.get("interval_second"))}s')
        mode = r["mode"]
        started = _counted(store, "SELECT COUNT(*) AS n, MAX(created_at) AS last FROM runs "
                            "WHERE recurring_run_id = ?", (r["id"],))
        recurring_rows.append(
            f'<tr id="recurring-{e(r["id"])}">'
            f'<td>{_link("recurringruns", r["id"], r["display_name"])}</td><td>{when}</td>'
            f'<td><span class="mode-{e(mode.lower())}">'
            f'{"ENABLED" if mode == "ENABLE" else "DISABLED"}</span></td>'
            f'<td>{e(r["max_concurrency"])}</td><td>{"no" if r["no_catchup"] else "yes"}</td>'
            f'<td>{source(r)}</td><td>{started["n"]}'
            f'{" · last " + _when(started["last"]) if started["last"] else ""}</td>'
            f'<td class="id">{e(r["id"])}</td></tr>')

    run_rows = _run_rows(ctx, runs)
    experiment_rows = []
    for x in store.all("SELECT * FROM experiments ORDER BY created_at, seq"):
        counts = _counted(store, "SELECT COUNT(*) AS n, MAX(created_at) AS last FROM runs "
                           "WHERE experiment_id = ?", (x["id"],))
        schedules = _counted(store, "SELECT COUNT(*) AS n FROM recurring_runs WHERE experiment_id = ?",
                              (x["id"],))["n"]
        experiment_rows.append(
            f'<tr id="experiment-{e(x["id"])}"><td>{_link("experiments", x["id"], x["name"])}</td>'
            f'<td>{e(x["description"])}</td><td>{counts["n"]}</td><td>{schedules}</td>'
            f'<td>{_when(counts["last"])}</td><td class="id">{e(x["id"])}</td></tr>')

    total = _counted(store, "SELECT COUNT(*) AS n FROM runs")["n"]
    more = ' <a href="/runs?page=2">older runs →</a>' if total > len(runs) else ""
    body = (
        "<h1>Pipelines, schedules and runs</h1>"
        f'<h2>Pipelines <span class="muted">({len(pipelines)})</span></h2>'
        + _table(["Pipeline", "Description", "Versions", "Version names (newest first)",
                  "Created", "Id"], pipeline_rows, "No pipelines yet.")
        + f'<h2>Recurring runs <span class="muted">({len(recurring)})</span></h2>'
        + _table(["Recurring run", "Trigger", "Status", "Max concurrency", "Catch-up",
                  "Pipeline / version", "Runs started", "Id"], recurring_rows,
                 "No recurring runs.")
        + f'<h2>Experiments <span class="muted">({len(experiment_rows)})</span></h2>'
        + _table(["Experiment", "Description", "Runs", "Recurring runs", "Last run", "Id"],
                 experiment_rows, "No experiments.")
        + f'<h2>Recent runs <span class="muted">({len(runs)} of {total}, newest first)</span>'
        f'{more}</h2>'
        + _table(RUN_HEADERS, run_rows, "No runs yet."))
    active = any(run["state"] in ACTIVE_STATES for run in runs)
    return _page("Overview", body, refresh=active, script=_FRAGMENT_SCRIPT)


# --- the DAG ----------------------------------------------------------------------------------

@dataclass
class Node:
    name: str  # the task's key in its DAG (what kfp.local records as the task name)
    label: str  # taskInfo.name
    deps: list[str] = field(default_factory=list)
    inner: set[str] = field(default_factory=set)  # tasks of a sub-DAG this node stands for
    component: str = ""  # componentRef.name
    state: str = "pending"
    layer: int = 0
    x: float = 0.0
    y: float = 0.0


def dag_nodes(pipeline_spec: dict[str, Any]) -> list[Node]:
    """The root DAG's tasks with their dependencies (`dependentTasks` and the producers of their
    inputs); a task that is itself a DAG stands for all the tasks inside it."""
    components = pipeline_spec.get("components") or {}
    tasks = ((pipeline_spec.get("root") or {}).get("dag") or {}).get("tasks") or {}

    def inner_names(task: dict[str, Any], seen: frozenset[str]) -> set[str]:
        """The leaf tasks (the ones kfp.local executes and records) inside a sub-DAG task."""
        ref = (task.get("componentRef") or {}).get("name", "")
        if ref in seen:
            return set()
        sub = ((components.get(ref) or {}).get("dag") or {}).get("tasks") or {}
        out: set[str] = set()
        for child_name, child in sub.items():
            leaves = inner_names(child, seen | {ref})
            out |= leaves or ({child_name} if not _is_dag(child) else set())
        return out

    def _is_dag(task: dict[str, Any]) -> bool:
        ref = (task.get("componentRef") or {}).get("name", "")
        return "dag" in (components.get(ref) or {})

    nodes = []
    for name, task in tasks.items():
        deps = list(task.get("dependentTasks") or [])
        inputs = task.get("inputs") or {}
        for kind, ref in (("parameters", "taskOutputParameter"),
                          ("artifacts", "taskOutputArtifact")):
            for value in (inputs.get(kind) or {}).values():
                producer = (value.get(ref) or {}).get("producerTask")
                if producer:
                    deps.append(producer)
        deps = [d for d in dict.fromkeys(deps) if d in tasks and d != name]
        label = (task.get("taskInfo") or {}).get("name") or name
        component = (task.get("componentRef") or {}).get("name", "")
        nodes.append(Node(name, label, deps, inner_names(task, frozenset()), component=component))
    return nodes


def task_state(recorded: list[str], run_state: str, expected: int = 1) -> str:
    """One node's state from the states recorded for it: one task, or the leaf tasks of a
    sub-DAG (`expected` of them; a group still filling up while the run goes on is running)."""
    states = {s.lower() for s in recorded}
    if not states:
        if run_state in ACTIVE_STATES:
            return "pending"
        return "canceled" if run_state in ("CANCELED", "CANCELING") else "skipped"
    for state in ("failed", "running", "canceled"):
        if state in states:
            return state
    if run_state in ACTIVE_STATES and len(recorded) < expected:
        return "running"
    return "succeeded" if "succeeded" in states else "skipped"


def layout(nodes: list[Node]) -> tuple[int, int]:
    """Layers by longest path from the sources, order within a layer by the mean position of
    the parents (two sweeps), then coordinates. Returns the drawing's width and height."""
    by_name = {n.name: n for n in nodes}
    depth: dict[str, int] = {}

    def layer_of(name: str, stack: frozenset[str]) -> int:
        if name not in depth:
            parents = [d for d in by_name[name].deps if d not in stack]
            depth[name] = 1 + max((layer_of(d, stack | {name}) for d in parents), default=-1)
        return depth[name]

    for node in nodes:
        node.layer = layer_of(node.name, frozenset())
    layers: list[list[Node]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in nodes:
        layers[node.layer].append(node)
    position = {n.name: float(i) for layer in layers for i, n in enumerate(layer)}
    for _ in range(2):
        for layer in layers[1:]:
            def mean(n: Node) -> float:
                ps = [position[d] for d in n.deps]
                return sum(ps) / len(ps) if ps else position[n.name]
            layer.sort(key=lambda n: (mean(n), position[n.name]))
            for i, n in enumerate(layer):
                position[n.name] = float(i)
    widest = max((len(layer) for layer in layers), default=0)
    width = MARGIN * 2 + widest * NODE_W + max(widest - 1, 0) * GAP_X
    for row, layer in enumerate(layers):
        span = len(layer) * NODE_W + (len(layer) - 1) * GAP_X
        left = (width - span) / 2
        for i, node in enumerate(layer):
            node.x = left + i * (NODE_W + GAP_X)
            node.y = MARGIN + row * (NODE_H + GAP_Y)
    height = MARGIN * 2 + len(layers) * NODE_H + max(len(layers) - 1, 0) * GAP_Y
    return int(width), int(height)


def dag_svg(nodes: list[Node], *, static: bool = False) -> str:
    """The graph as inline SVG; `static`: a version's graph (no run), nodes named by their
    component instead of a state."""
    width, height = layout(nodes)
    by_name = {n.name: n for n in nodes}
    edges = []
    for node in nodes:
        for dep in node.deps:
            src = by_name[dep]
            x1, y1 = src.x + NODE_W / 2, src.y + NODE_H
            x2, y2 = node.x + NODE_W / 2, node.y - 2
            mid = (y1 + y2) / 2
            edges.append(f'<path class="edge" data-from="{e(dep)}" data-to="{e(node.name)}" '
                         f'd="M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} '
                         f'{x2:.1f},{y2:.1f}" marker-end="url(#arrow)"/>')
    boxes = []
    for node in nodes:
        label = node.label if len(node.label) <= LABEL_CHARS else node.label[:LABEL_CHARS - 1] + "…"
        sub = (node.component if static else node.state) + (
            f" · {len(node.inner)} inner tasks" if node.inner else "")
        boxes.append(
            f'<a href="#task-{e(node.name)}"><g class="task-node state-{node.state}" '
            f'data-task="{e(node.name)}" data-state="{node.state}">'
            f'<title>{e(node.label)} ({e(node.state)})</title>'
            f'<rect class="node" x="{node.x:.1f}" y="{node.y:.1f}" width="{NODE_W}" '
            f'height="{NODE_H}" rx="8"/>'
            f'<text x="{node.x + NODE_W / 2:.1f}" y="{node.y + 19:.1f}" '
            f'text-anchor="middle">{e(label)}</text>'
            f'<text class="sub" x="{node.x + NODE_W / 2:.1f}" y="{node.y + 36:.1f}" '
            f'text-anchor="middle">{e(sub)}</text></g></a>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="the run\'s task graph">'
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            'fill="#7b8794"/></marker></defs>'
            f'{"".join(edges)}{"".join(boxes)}</svg>')


# --- the run page -----------------------------------------------------------------------------

def _spec_of(row: Any) -> dict[str, Any]:
    try:
        return ir.from_wire(json.loads(row["spec_json"]), validate=False).pipeline_spec
    except (ValueError, TypeError, AttributeError):
        return {}


def _error_text(text: str) -> str:
    if not text:
        return ""
    try:
        error = json.loads(text)
    except ValueError:
        return text
    return error.get("message", "") if isinstance(error, dict) else str(error)


def run_page(ctx: ServerContext, run_id: str) -> HTMLResponse:
    store = ctx.store
    row = store.get_run(run_id)
    if row is None:
        body = (f"<h1>Run not found</h1><p>No run with id <code>{e(run_id)}</code> is stored "
                'here. <a href="/">Back to the overview</a>.</p>')
        return _page("Run not found", body, status_code=404)
    spec = _spec_of(row)
    tasks = store.get_tasks(run_id)
    artifacts = store.get_artifacts(run_id)
    quoted = quote(run_id, safe="")

    recorded: dict[str, list[Any]] = {}
    for task in tasks:
        recorded.setdefault(task["name"], []).append(task)
    nodes = dag_nodes(spec)
    for node in nodes:
        names = sorted(node.inner) or [node.name]
        latest = [recorded[n][-1]["state"] for n in names if n in recorded]
        node.state = task_state(latest, row["state"], len(names))

    # Facts about the run.
    version = store.get_version(row["pipeline_version_id"]) if row["pipeline_version_id"] else None
    pipeline = store.get_pipeline(row["pipeline_id"]) if row["pipeline_id"] else None
    experiment = store.get_experiment(row["experiment_id"])
    recurring = (store.get_recurring_run(row["recurring_run_id"])
                 if row["recurring_run_id"] else None)
    if version is not None and pipeline is not None:
        source = (f'<a href="/pipelines/{quote(pipeline["id"], safe="")}?version='
                  f'{quote(version["id"], safe="")}">{e(pipeline["display_name"])}</a>'
                  f' / {e(version["display_name"])}')
    elif row["pipeline_version_id"]:
        source = f'<span class="muted">deleted version {e(row["pipeline_version_id"])}</span>'
    else:
        source = f'inline spec <code>{e(spec.get("pipelineInfo", {}).get("name", ""))}</code>'
    facts = [
        ("State", _state_badge(row["state"])),
        ("Pipeline / version", source),
        ("Experiment", _link("experiments", experiment["id"], experiment["name"])
         if experiment else e(row["experiment_id"])),
        ("Recurring run", _link("recurringruns", recurring["id"], recurring["display_name"])
         if recurring else e(row["recurring_run_id"]) or '<span class="muted">none</span>'),
        ("Created", _when(row["created_at"])),
        ("Scheduled", _when(row["scheduled_at"])),
        ("Finished", _when(row["finished_at"]) or '<span class="muted">not yet</span>'),
        ("Took", _duration(row["created_at"], row["finished_at"]) or "–"),
        ("Id", f'<code>{e(row["id"])}</code>'),
        ("Logs", f'<a href="/dh-kfp/v1/runs/{quoted}/logs">all logs (text)</a>'),
    ]
    facts_html = "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in facts)
    error = _error_text(row["error"])
    notes = "".join(f'<p class="note">Note: {e(note)}</p>'
                    for note in json.loads(row["notes"] or "[]"))
    if error:
        notes = f'<p class="error run-error">{e(error)}</p>{notes}'

    # Parameters: what the run was given, then the defaults it ran with.
    given = json.loads(row["runtime_config"] or "{}").get("parameters") or {}
    defs = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    param_rows = []
    for name in sorted(set(defs) | set(given)):
        kind = defs.get(name, {}).get("parameterType", "")
        if name in given:
            value, where = _json_value(given[name], kind), "given"
        elif "defaultValue" in defs.get(name, {}):
            value, where = _json_value(defs[name]["defaultValue"], kind), "default"
        else:
            value, where = '<span class="muted">unset</span>', "optional"
        param_rows.append(f"<tr><td>{e(name)}</td><td>{value}</td>"
                          f'<td class="muted">{e(where)}</td><td class="muted">{e(kind)}</td></tr>')

    # Per task: state, times, error, outputs, log; in the drawing's order.
    svg = dag_svg(nodes) if nodes else ""
    ordered = [n.name for n in sorted(nodes, key=lambda n: (n.layer, n.x))]
    ordered += [name for name in recorded if name not in ordered]
    node_by_name = {n.name: n for n in nodes}
    sections = []
    for name in ordered:
        found = node_by_name.get(name)
        runs_of = recorded.get(name, [])
        if not runs_of:
            state = found.state if found else "pending"
            sections.append(
                f'<div class="task" id="task-{e(name)}"><h3>{e(found.label if found else name)} '
                f'<span class="state state-{state}">{state}</span></h3>'
                f'<p class="muted">{_not_run_text(found, state)}</p></div>')
            continue
        task = runs_of[-1]
        state = task["state"].lower()
        outputs = json.loads(task["outputs"] or "{}").get("parameters") or {}
        out_rows = [f"<tr><td>{e(k)}</td><td>parameter</td><td>{_json_value(v)}</td></tr>"
                    for k, v in sorted(outputs.items())]
        out_rows += [f'<tr><td>{e(a["output"])}</td><td>{e(a["schema_title"])}</td>'
                     f'<td><code>{e(a["uri"])}</code></td></tr>'
                     for a in artifacts if a["task_id"] == task["task_id"]]
        err = _error_text(task["error"])
        log_url = f"/dh-kfp/v1/runs/{quoted}/logs?task={quote(task['task_id'], safe='')}"
        sections.append(
            f'<div class="task" id="task-{e(name)}"><h3>{e(task["display_name"])} '
            f'<span class="state state-{e(state)}">{e(state)}</span></h3>'
            f'<p class="muted">started {_when(task["start_time"])}'
            f'{" · took " + _duration(task["start_time"], task["end_time"]) if task["end_time"] else ""}'
            f' · <a href="{e(log_url)}">log</a></p>'
            + (f'<p class="error">{e(err)}</p>' if err else "")
            + _table(["Output", "Kind", "Value"], out_rows, "No outputs.") + "</div>")

    legend = "".join(f'<span class="state state-{s}">{s}</span>' for s in TASK_STATES)
    task_names = {t["task_id"]: t["display_name"] for t in tasks}
    dag = (f'<div class="dag">{svg}<div class="legend">{legend}</div></div>'
           if nodes else '<p class="empty">The pipeline spec has no tasks to draw.</p>')
    body = (
        f'<p><a href="/">← overview</a></p><h1>Run {e(row["display_name"])}</h1>'
        f'<dl class="facts">{facts_html}</dl>{notes}'
        f'<h2>Tasks <span class="muted">({len(nodes)})</span></h2>{dag}'
        "<h2>Parameters</h2>"
        + _table(["Name", "Value", "From", "Type"], param_rows, "The pipeline takes no parameters.")
        + f'<h2 id="artifacts">Artifacts <span class="muted">({len(artifacts)})</span></h2>'
        + ("".join(_artifact_section(run_id, a, task_names.get(a["task_id"], ""))
                   for a in artifacts) or '<p class="empty">No output artifacts.</p>')
        + "<h2>Task details</h2>" + "".join(sections))
    return _page(f"Run {row['display_name']}", body, refresh=row["state"] in ACTIVE_STATES)


def _not_run_text(node: Node | None, state: str) -> str:
    if node is not None and node.inner:
        return f"A group of {len(node.inner)} tasks; none has started."
    return {"pending": "Not started yet.",
            "canceled": "Not run: the run was canceled first.",
            "skipped": "Not run (an upstream task failed, or its condition was false)."}.get(
                state, "Not run.")


# --- artifacts --------------------------------------------------------------------------------

PREVIEW_BYTES = 256 << 10  # read at most this much of an artifact for its preview
CSV_ROWS = 10  # rows of a CSV artifact shown as a table
TEXT_LINES = 40  # lines of a text artifact shown


def artifact_path(row: Any) -> Path | None:
    """The local file (or directory) of an artifact record; None for a remote URI."""
    uri = str(row["uri"])
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    return Path(uri) if os.path.isabs(uri) else None


def artifact_kind(path: Path) -> tuple[str, str]:
    """(kind, text): kind is json, csv, text, binary, directory or missing; text what was read
    (at most PREVIEW_BYTES) for json, csv and text."""
    if not path.exists():
        return "missing", ""
    if path.is_dir():
        return "directory", ""
    with open(path, "rb") as handle:
        data = handle.read(PREVIEW_BYTES + 1)
    truncated = len(data) > PREVIEW_BYTES
    data = data[:PREVIEW_BYTES]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not truncated or exc.start < len(data) - 4:  # not merely a character cut in two
            return "binary", ""
        text = data[:exc.start].decode("utf-8")
    if "\x00" in text:
        return "binary", ""
    if not truncated and text.strip()[:1] in ("{", "[", '"'):
        try:
            json.loads(text)
            return "json", text
        except ValueError:
            pass
    lines = [line for line in text.splitlines()[:CSV_ROWS + 1] if line.strip()]
    if len(lines) >= 2:
        try:
            dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t")
            widths = {len(r) for r in csv.reader(lines, dialect)}
            if len(widths) == 1 and widths.pop() >= 2:
                return "csv", text
        except csv.Error:
            pass
    return "text", text


_EXTENSIONS = {"json": ".json", "csv": ".csv", "text": ".txt"}


def _artifact_section(run_id: str, row: Any, task: str = "") -> str:
    path = artifact_path(row)
    download = (f'/runs/{quote(run_id, safe="")}/artifacts/{int(row["id"])}')
    head = (f'<h4>{e(task) + " · " if task else ""}{e(row["output"])} '
            f'<span class="muted">{e(row["schema_title"])}</span></h4>')
    if path is None:
        return (f'<div class="artifact" data-kind="remote">{head}<p class="muted">Stored at '
                f'<code>{e(row["uri"])}</code>, not on this machine.</p></div>')
    kind, text = artifact_kind(path)
    size = path.stat().st_size if kind not in ("missing", "directory") else 0
    link = (f'<a class="download" href="{e(download)}" download>download</a> '
            f'<span class="muted">({size:,} bytes)</span>' if kind not in ("missing", "directory")
            else "")
    if kind == "missing":
        body = '<p class="muted">The file is gone from the pipeline root.</p>'
    elif kind == "directory":
        names = sorted(p.name for p in path.iterdir())[:20]
        body = (f'<p class="muted">A directory: {e(", ".join(names)) or "empty"}</p>')
    elif kind == "binary":
        body = '<p class="muted">Binary content: no preview.</p>'
    elif kind == "json":
        shown = json.dumps(json.loads(text), indent=2, ensure_ascii=False).splitlines()
        cut = f"\n… ({len(shown) - TEXT_LINES * 2} more lines)" if len(shown) > TEXT_LINES * 2 else ""
        body = f'<pre class="preview">{e(chr(10).join(shown[:TEXT_LINES * 2]))}{e(cut)}</pre>'
    elif kind == "csv":
        lines = [line for line in text.splitlines() if line.strip()]
        dialect = csv.Sniffer().sniff("\n".join(lines[:CSV_ROWS + 1]), delimiters=",;\t")
        rows = list(csv.reader(lines[:CSV_ROWS + 1], dialect))
        total = len(lines) - 1
        header, data = rows[0], rows[1:]
        more = (f"first {len(data)} of {total}{'+' if size > PREVIEW_BYTES else ''} rows"
                if total > len(data) else f"{len(data)} rows")
        body = (f'<p class="muted">CSV, {more}</p>' + _table(
            header, ["<tr>" + "".join(f"<td>{e(v)}</td>" for v in r) + "</tr>" for r in data],
            "No rows."))
    else:
        shown = text.splitlines()
        cut = f"\n… ({len(shown) - TEXT_LINES}+ more lines)" if len(shown) > TEXT_LINES else ""
        body = f'<pre class="preview">{e(chr(10).join(shown[:TEXT_LINES]))}{e(cut)}</pre>'
    return (f'<div class="artifact" data-kind="{kind}" data-output="{e(row["output"])}">'
            f'{head}<p>{link}</p>{body}</div>')


def artifact_download(ctx: ServerContext, run_id: str, artifact_id: str) -> Response:
    """An artifact of a run, as a download named after its output."""
    row = ctx.store.one("SELECT * FROM artifacts WHERE run_id = ? AND id = ?",
                        (run_id, artifact_id)) if artifact_id.isdigit() else None
    path = artifact_path(row) if row is not None else None
    if row is None or path is None or not path.is_file():
        return _page("Artifact not found", "<h1>Artifact not found</h1><p>No such artifact of "
                     f"run <code>{e(run_id)}</code> on this machine.</p>", status_code=404)
    kind, _ = artifact_kind(path)
    name = f"{row['output']}{_EXTENSIONS.get(kind, '')}"
    return FileResponse(path, filename=name, media_type={
        "json": "application/json", "csv": "text/csv", "text": "text/plain"}.get(
            kind, "application/octet-stream"))


# --- the pipeline page ------------------------------------------------------------------------

def _version_spec(version: Any) -> dict[str, Any]:
    try:
        return ir.from_wire(json.loads(version["spec_json"]), validate=False).pipeline_spec
    except (ValueError, TypeError, AttributeError):
        return {}


def _ir_text(version: Any) -> str:
    """The IR as it was uploaded (YAML), else as stored."""
    raw = version["spec_raw"]
    if isinstance(raw, (bytes, bytearray)):
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            pass
    elif isinstance(raw, str) and raw:
        return raw
    import yaml

    return yaml.safe_dump(json.loads(version["spec_json"]), sort_keys=False)


def pipeline_page(ctx: ServerContext, pipeline_id: str, version_id: str | None) -> HTMLResponse:
    store = ctx.store
    pipeline = store.get_pipeline(pipeline_id)
    if pipeline is None:
        return _page("Pipeline not found", f"<h1>Pipeline not found</h1><p>No pipeline with id "
                     f'<code>{e(pipeline_id)}</code>. <a href="/">Back to the overview</a>.</p>',
                     status_code=404)
    versions = list(reversed(store.list_versions(pipeline_id)))  # newest first
    shown = next((v for v in versions if v["id"] == version_id), versions[0] if versions else None)
    quoted = quote(pipeline_id, safe="")
    runs_total = _counted(store, "SELECT COUNT(*) AS n FROM runs WHERE pipeline_id = ?",
                           (pipeline_id,))["n"]
    facts = [
        ("Description", e(pipeline["description"]) or '<span class="muted">none</span>'),
        ("Versions", str(len(versions))),
        ("Runs", str(runs_total)),
        ("Created", _when(pipeline["created_at"])),
        ("Id", f'<code>{e(pipeline["id"])}</code>'),
        ("API", f'<a href="/apis/v2beta1/pipelines/{quoted}">/apis/v2beta1/pipelines/…</a>'),
    ]
    version_rows = []
    for v in versions:
        users = _counted(store, "SELECT COUNT(*) AS n FROM recurring_runs WHERE pipeline_version_id = ?",
                          (v["id"],))["n"]
        runs = _counted(store, "SELECT COUNT(*) AS n FROM runs WHERE pipeline_version_id = ?",
                         (v["id"],))["n"]
        here = shown is not None and v["id"] == shown["id"]
        name = (f'<a href="/pipelines/{quoted}?version={quote(v["id"], safe="")}">'
                f'{e(v["display_name"])}</a>')
        version_rows.append(
            f'<tr id="version-{e(v["id"])}"{" class=shown" if here else ""}><td>{name}'
            f'{" <span class=muted>(shown below)</span>" if here else ""}</td>'
            f'<td>{_when(v["created_at"])}</td><td>{e(v["description"])}</td>'
            f'<td>{runs}</td><td>{users}</td><td class="id">{e(v["id"])}</td></tr>')
    body = (f'<p><a href="/">← overview</a></p><h1>Pipeline {e(pipeline["display_name"])}</h1>'
            f'<dl class="facts">{"".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in facts)}</dl>'
            f'<h2>Versions <span class="muted">({len(versions)}, newest first)</span></h2>'
            + _table(["Version", "Created", "Description", "Runs", "Recurring runs", "Id"],
                     version_rows, "No versions."))
    if shown is not None:
        spec = _version_spec(shown)
        nodes = dag_nodes(spec)
        defs = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
        param_rows = []
        for pname, definition in sorted(defs.items()):
            kind = definition.get("parameterType", "")
            default = (_json_value(definition["defaultValue"], kind) if "defaultValue" in definition
                       else '<span class="muted">required</span>')
            param_rows.append(f"<tr><td>{e(pname)}</td><td>{e(kind)}</td><td>{default}</td></tr>")
        graph = (f'<div class="dag">{dag_svg(nodes, static=True)}</div>' if nodes
                 else '<p class="empty">The pipeline spec has no tasks to draw.</p>')
        schedules = store.all("SELECT * FROM recurring_runs WHERE pipeline_version_id = ? "
                              "ORDER BY created_at, seq", (shown["id"],))
        schedule_rows = [
            f'<tr><td>{_link("recurringruns", r["id"], r["display_name"])}</td>'
            f'<td>{_trigger_text(r)}</td><td>{_mode(r)}</td></tr>' for r in schedules]
        runs, _ = _runs_page(store, "pipeline_version_id = ?", (shown["id"],), 1)
        body += (
            f'<h2 id="graph">Version {e(shown["display_name"])}: graph '
            f'<span class="muted">({len(nodes)} tasks, from its IR)</span></h2>{graph}'
            "<h2>Parameters</h2>"
            + _table(["Name", "Type", "Default"], param_rows, "The pipeline takes no parameters.")
            + f'<h2>Recurring runs of this version <span class="muted">({len(schedules)})'
            "</span></h2>"
            + _table(["Recurring run", "Trigger", "Status"], schedule_rows,
                     "No recurring run uses this version.")
            + f'<h2>Runs of this version <span class="muted">(latest {len(runs)})</span></h2>'
            + _table(RUN_HEADERS, _run_rows(ctx, runs), "No runs of this version.")
            + f'<h2 id="ir">IR of version {e(shown["display_name"])}</h2>'
            f'<details class="ir" open><summary>pipeline spec (YAML, as uploaded)</summary>'
            f'<pre class="ir">{e(_ir_text(shown))}</pre></details>')
    return _page(f"Pipeline {pipeline['display_name']}", body)


# --- the recurring-run page -------------------------------------------------------------------

def _trigger_text(row: Any) -> str:
    trig = json.loads(row["trigger"] or "{}")
    return (f'cron <code>{e(trig["cron"])}</code>' if trig.get("cron") is not None
            else f'every {e(trig.get("interval_second"))}s')


def _mode(row: Any) -> str:
    mode = row["mode"]
    return (f'<span class="mode-{e(mode.lower())}">'
            f'{"ENABLED" if mode == "ENABLE" else "DISABLED"}</span>')


def recurring_run_page(ctx: ServerContext, recurring_id: str, page: int) -> HTMLResponse:
    store = ctx.store
    row = store.get_recurring_run(recurring_id)
    if row is None:
        return _page("Recurring run not found", "<h1>Recurring run not found</h1><p>No recurring "
                     f'run with id <code>{e(recurring_id)}</code>. <a href="/">Back to the '
                     "overview</a>.</p>", status_code=404)
    trig = json.loads(row["trigger"] or "{}")
    version = store.get_version(row["pipeline_version_id"]) if row["pipeline_version_id"] else None
    pipeline = store.get_pipeline(row["pipeline_id"] or (version["pipeline_id"] if version
                                                         else "")) if (row["pipeline_id"]
                                                                       or version) else None
    if version is not None and pipeline is not None:
        source = (f'<a href="/pipelines/{quote(pipeline["id"], safe="")}?version='
                  f'{quote(version["id"], safe="")}">{e(pipeline["display_name"])}</a>'
                  f' / {e(version["display_name"])}')
    elif row["pipeline_version_id"]:
        source = f'<span class="muted">deleted version {e(row["pipeline_version_id"])}</span>'
    else:
        source = '<span class="muted">inline spec</span>'
    experiment = store.get_experiment(row["experiment_id"])
    runs, total = _runs_page(store, "recurring_run_id = ?", (recurring_id,), page)
    active = store.active_runs_of(recurring_id)
    facts = [
        ("Status", _mode(row)),
        ("Trigger", _trigger_text(row)),
        ("Max concurrency", e(row["max_concurrency"])),
        ("Catch-up", "no (only the latest missed tick)" if row["no_catchup"]
         else "yes (every missed tick)"),
        ("Start time", _when(trig.get("start_time")) or '<span class="muted">none</span>'),
        ("End time", _when(trig.get("end_time")) or '<span class="muted">none</span>'),
        ("Pipeline / version", source),
        ("Experiment", _link("experiments", experiment["id"], experiment["name"])
         if experiment else e(row["experiment_id"])),
        ("Runs started", f"{total} ({active} active)"),
        ("Created", _when(row["created_at"])),
        ("Updated", _when(row["updated_at"])),
        ("Id", f'<code>{e(row["id"])}</code>'),
    ]
    given = json.loads(row["runtime_config"] or "{}").get("parameters") or {}
    param_rows = [f"<tr><td>{e(k)}</td><td>{_json_value(v)}</td></tr>"
                  for k, v in sorted(given.items())]
    base = f"/recurringruns/{quote(recurring_id, safe='')}"
    body = (f'<p><a href="/">← overview</a></p><h1>Recurring run {e(row["display_name"])}</h1>'
            f'<dl class="facts">{"".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in facts)}</dl>'
            + (f'<p class="muted">{e(row["description"])}</p>' if row["description"] else "")
            + "<h2>Parameters</h2>"
            + _table(["Name", "Value"], param_rows, "No parameters given.")
            + f'<h2>Runs it started <span class="muted">({total}, newest first)</span></h2>'
            + _table([h for h in RUN_HEADERS if h != "Recurring run"],
                     _run_rows(ctx, runs, origin=False), "It has started no run yet.")
            + (_page_links(base, page, total) if total > RECENT_RUNS else ""))
    return _page(f"Recurring run {row['display_name']}", body,
                 refresh=any(r["state"] in ACTIVE_STATES for r in runs))


# --- experiments and all runs -----------------------------------------------------------------

def experiment_page(ctx: ServerContext, experiment_id: str, page: int) -> HTMLResponse:
    store = ctx.store
    row = store.get_experiment(experiment_id)
    if row is None:
        return _page("Experiment not found", "<h1>Experiment not found</h1><p>No experiment with "
                     f'id <code>{e(experiment_id)}</code>. <a href="/">Back to the overview</a>.'
                     "</p>", status_code=404)
    runs, total = _runs_page(store, "experiment_id = ?", (experiment_id,), page)
    schedules = store.all("SELECT * FROM recurring_runs WHERE experiment_id = ? "
                          "ORDER BY created_at, seq", (experiment_id,))
    schedule_rows = [f'<tr><td>{_link("recurringruns", r["id"], r["display_name"])}</td>'
                     f'<td>{_trigger_text(r)}</td><td>{_mode(r)}</td></tr>' for r in schedules]
    base = f"/experiments/{quote(experiment_id, safe='')}"
    body = (f'<p><a href="/">← overview</a></p><h1>Experiment {e(row["name"])}</h1>'
            + (f'<p class="muted">{e(row["description"])}</p>' if row["description"] else "")
            + f'<h2>Recurring runs <span class="muted">({len(schedules)})</span></h2>'
            + _table(["Recurring run", "Trigger", "Status"], schedule_rows, "None.")
            + f'<h2>Runs <span class="muted">({total}, newest first)</span></h2>'
            + _table(RUN_HEADERS, _run_rows(ctx, runs), "No runs in this experiment.")
            + (_page_links(base, page, total) if total > RECENT_RUNS else ""))
    return _page(f"Experiment {row['name']}", body,
                 refresh=any(r["state"] in ACTIVE_STATES for r in runs))


def runs_page(ctx: ServerContext, page: int) -> HTMLResponse:
    runs, total = _runs_page(ctx.store, "1 = 1", (), page)
    first = (page - 1) * RECENT_RUNS
    body = ('<p><a href="/">← overview</a></p><h1>All runs</h1>'
            f'<p class="muted">{first + 1 if runs else 0}–{first + len(runs)} of {total}, '
            "newest first</p>"
            + _table(RUN_HEADERS, _run_rows(ctx, runs), "No runs on this page.")
            + _page_links("/runs", page, total))
    return _page("All runs", body, refresh=any(r["state"] in ACTIVE_STATES for r in runs))


def _page_number(request: Request) -> int:
    value = request.query_params.get("page", "1")
    return max(int(value), 1) if value.isdigit() else 1


# --- routes -----------------------------------------------------------------------------------

def routes(ctx: ServerContext) -> list[BaseRoute]:
    """The pages, for `app.create_app`. Handlers are synchronous: Starlette runs them in its
    thread pool, where each thread has its own SQLite connection."""

    def index_endpoint(request: Request) -> HTMLResponse:
        return index(ctx)

    def run_endpoint(request: Request) -> HTMLResponse:
        return run_page(ctx, request.path_params["run_id"])

    def artifact_endpoint(request: Request) -> Response:
        return artifact_download(ctx, request.path_params["run_id"],
                                 request.path_params["artifact_id"])

    def runs_endpoint(request: Request) -> HTMLResponse:
        return runs_page(ctx, _page_number(request))

    def pipeline_endpoint(request: Request) -> HTMLResponse:
        return pipeline_page(ctx, request.path_params["pipeline_id"],
                             request.query_params.get("version"))

    def recurring_endpoint(request: Request) -> HTMLResponse:
        return recurring_run_page(ctx, request.path_params["recurring_run_id"],
                                  _page_number(request))

    def experiment_endpoint(request: Request) -> HTMLResponse:
        return experiment_page(ctx, request.path_params["experiment_id"], _page_number(request))

    return [Route("/", index_endpoint, methods=["GET"]),
            Route("/runs", runs_endpoint, methods=["GET"]),
            Route("/runs/{run_id}", run_endpoint, methods=["GET"]),
            Route("/runs/{run_id}/artifacts/{artifact_id}", artifact_endpoint, methods=["GET"]),
            Route("/pipelines/{pipeline_id}", pipeline_endpoint, methods=["GET"]),
            Route("/recurringruns/{recurring_run_id}", recurring_endpoint, methods=["GET"]),
            Route("/experiments/{experiment_id}", experiment_endpoint, methods=["GET"])]
