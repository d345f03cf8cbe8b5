"""The read-only web pages, through HTTP only: the overview at `/` and a run's page with its DAG.

Content is made with the real kfp.Client: a pipeline with two versions, a recurring run, a
two-step run that succeeds and one that fails. Then headless Chromium (Debian's `chromium`)
renders both pages; the screenshots are kept in `test-artifacts/web/` at the repository root.
"""

import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from kfp import compiler, dsl

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
# Fill colours of the DAG nodes (web/style.css), as a screenshot shows them.
SUCCEEDED_FILL = bytes((0xDC, 0xFC, 0xE7))
FAILED_FILL = bytes((0xFE, 0xE2, 0xE2))
RUNNING_FILL = bytes((0xDB, 0xEA, 0xFE))
PENDING_FILL = bytes((0xE4, 0xE7, 0xEB))


@dsl.component(base_image="python:3.11")
def wait(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return "waited"


@dsl.component(base_image="python:3.11")
def echo(text: str) -> str:
    return text


@dsl.component(base_image="python:3.11")
def shout(text: str) -> str:
    return text.upper()


@dsl.pipeline(name="inner-pair")
def inner_pair(text: str):
    first = shout(text=text)
    shout(text=first.output)


@dsl.pipeline(name="shapes")
def shapes(seconds: float = 60.0):
    """A gate, a diamond after it, then a sub-pipeline (one node standing for two tasks)."""
    gate = wait(seconds=seconds)
    left = echo(text="left").after(gate)
    right = echo(text="right").after(gate)
    join = echo(text=left.output).after(right)
    inner_pair(text=join.output)


class _Elements(HTMLParser):
    """Every element's tag and attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def elements(text: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(text)
    return parser.found


def dag_of(text: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """{task: state} from the SVG's nodes (their colour class) and its edges."""
    nodes, edges = {}, set()
    for tag, attrs in elements(text):
        classes = attrs.get("class", "").split()
        if tag == "g" and "task-node" in classes:
            (state,) = [c[len("state-"):] for c in classes if c.startswith("state-")]
            assert attrs["data-state"] == state
            assert attrs["data-task"] not in nodes, "one node per task"
            nodes[attrs["data-task"]] = state
        if tag == "path" and "edge" in classes:
            edges.add((attrs["data-from"], attrs["data-to"]))
    return nodes, edges


@pytest.fixture(scope="module")
def content(client, pipelines, kit):
    """What the pages show, made through kfp.Client; the runs are finished."""
    pipeline = client.upload_pipeline(pipelines["two_step"], pipeline_name="web-two-step",
                                      description="two steps <for> the web page")
    second = client.upload_pipeline_version(pipelines["two_step"], pipeline_version_name="v2",
                                            pipeline_id=pipeline.pipeline_id)
    exp = client.create_experiment("web-page")
    recurring = client.create_recurring_run(
        exp.experiment_id, job_name="nightly-web", cron_expression="0 30 3 * * *",
        pipeline_id=pipeline.pipeline_id, version_id=second.pipeline_version_id,
        max_concurrency=2, enabled=True)
    ok = client.run_pipeline(exp.experiment_id, "web-ok", pipeline_id=pipeline.pipeline_id,
                             version_id=second.pipeline_version_id, params={"n": 5})
    # A name with markup: it must be shown as text, never interpreted.
    bad = client.run_pipeline(exp.experiment_id, '<b>web-bad</b> & "co"',
                              pipeline_id=pipeline.pipeline_id,
                              version_id=second.pipeline_version_id, params={"fail": True})
    for run, state in ((ok, "SUCCEEDED"), (bad, "FAILED")):
        done = kit.wait_state(client, run.run_id, {"SUCCEEDED", "FAILED"}, timeout=90)
        assert done.state == state, done.error
    return {"pipeline": pipeline, "version": second, "recurring": recurring, "ok": ok.run_id,
            "bad": bad.run_id}


def test_overview_lists_pipelines_versions_schedules_and_runs(server, content, kit):
    status, page, ctype = kit.http("GET", f"{server.url}/")
    assert status == 200 and ctype.startswith("text/html")
    assert "web-two-step" in page and "two steps &lt;for&gt; the web page" in page
    row = re.search(r'<tr id="pipeline-[^"]+">.*?</tr>', page).group(0)
    assert ">2<" in row and "v2" in row and "web-two-step" in row  # first version + v2
    rec = re.search(r'<tr id="recurring-[^"]+">.*?</tr>', page).group(0)
    assert "nightly-web" in rec and "0 30 3 * * *" in rec and "ENABLED" in rec
    runs = {m.group(1): m.group(0) for m in re.finditer(r'<tr id="run-([^"]+)">.*?</tr>', page)}
    assert 'state-succeeded">SUCCEEDED' in runs[content["ok"]]
    assert 'state-failed">FAILED' in runs[content["bad"]]
    assert f'href="/runs/{content["ok"]}">web-ok</a>' in runs[content["ok"]]
    # Escaped user text, and nothing on the page can change anything.
    assert "<b>web-bad</b>" not in page
    assert "&lt;b&gt;web-bad&lt;/b&gt; &amp; &quot;co&quot;" in runs[content["bad"]]
    tags = {tag for tag, _ in elements(page)}
    assert not tags & {"form", "button", "input", "link", "img", "iframe"}, tags
    assert "http-equiv" not in page  # nothing running: no auto-refresh


def test_run_pages_draw_the_dag_coloured_by_task_state(server, content, kit):
    _, page, _ = kit.http("GET", f"{server.url}/runs/{content['ok']}")
    nodes, edges = dag_of(page)
    assert nodes == {"make-text": "succeeded", "count-text": "succeeded"}
    assert edges == {("make-text", "count-text")}
    assert "web-ok" in page and 'state-succeeded">SUCCEEDED' in page
    params = re.search(r"<h2>Parameters</h2>.*?</table>", page, re.S).group(0)
    assert re.search(r"<td>n</td><td><code>5</code></td><td[^>]*>given", params)
    assert re.search(r"<td>fail</td><td><code>false</code></td><td[^>]*>default", params)
    count = re.search(r'<div class="task" id="task-count-text">.*?</div>', page, re.S).group(0)
    assert "<td>Output</td><td>parameter</td><td><code>5</code></td>" in count
    make = re.search(r'<div class="task" id="task-make-text">.*?</div>', page, re.S).group(0)
    assert "system.Dataset" in make and "pipeline_root" in make
    # The step's log, through the server's log endpoint the page links to.
    log_href = re.search(r'href="(/dh-kfp/v1/runs/[^"]+/logs\?task=[^"]+)"', make).group(1)
    status, log, _ = kit.http("GET", server.url + log_href.replace("&amp;", "&"))
    assert status == 200 and "making 5 characters" in log

    _, page, _ = kit.http("GET", f"{server.url}/runs/{content['bad']}")
    nodes, _ = dag_of(page)
    assert nodes == {"make-text": "succeeded", "count-text": "failed"}
    assert re.search(r"<td>n</td><td><code>3</code></td><td[^>]*>default", page)
    assert "Task count-text failed: ValueError: the count step failed on purpose" in page
    assert "&lt;b&gt;web-bad&lt;/b&gt;" in page and "<b>web-bad" not in page

    status, page, ctype = kit.http("GET", f"{server.url}/runs/no-such-run")
    assert status == 404 and ctype.startswith("text/html") and "no-such-run" in page


def node_rows(text: str) -> dict[str, float]:
    """The y of each DAG node's box: its layer in the drawing."""
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r'data-task="([^"]+)"[^>]*>.*?<rect class="node" x="[^"]+" y="([^"]+)"', text)}


def test_a_running_run_shows_pending_tasks_and_refreshes_until_canceled(server, client, kit,
                                                                         tmp_path):
    path = tmp_path / "shapes.yaml"
    compiler.Compiler().compile(shapes, str(path))
    run = client.create_run_from_pipeline_package(str(path), run_name="web-shapes")
    url = f"{server.url}/runs/{run.run_id}"
    page = kit.wait_for(lambda: (p := kit.http("GET", url)[1]) and
                        dag_of(p)[0].get("wait") == "running" and p,
                        timeout=60, interval=0.2, what="the gate task to run")
    nodes, edges = dag_of(page)
    assert nodes == {"wait": "running", "echo": "pending", "echo-2": "pending",
                     "echo-3": "pending", "inner-pair": "pending"}
    assert edges == {("wait", "echo"), ("wait", "echo-2"), ("echo", "echo-3"),
                     ("echo-2", "echo-3"), ("echo-3", "inner-pair")}
    rows = node_rows(page)
    assert rows["wait"] < rows["echo"] == rows["echo-2"] < rows["echo-3"] < rows["inner-pair"]
    assert "2 inner tasks" in page
    assert 'http-equiv="refresh"' in page  # an active run's page follows it
    if shutil.which("chromium"):  # the colours as drawn (the Chromium test below says if not)
        shot = ARTIFACTS / "run-running.png"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot.unlink(missing_ok=True)
        chromium(tmp_path, url, screenshot=shot)
        _, _, pixels = png_pixels(shot.read_bytes())
        assert {RUNNING_FILL, PENDING_FILL} <= set(pixels), "running and pending colours"

    client.terminate_run(run.run_id)
    kit.wait_state(client, run.run_id, {"CANCELED"}, timeout=30)
    _, page, _ = kit.http("GET", url)
    assert set(dag_of(page)[0].values()) == {"canceled"}
    assert 'state-canceled">CANCELED' in page and "http-equiv" not in page


# --- headless Chromium ------------------------------------------------------------------------


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB/RGBA PNG, as Chromium writes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytes(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r[i:i + 3]) for r in rows for i in range(0, stride, bpp)]


def chromium(tmp_path: Path, url: str, *, screenshot: Path | None = None,
             height: int = 900) -> str:
    args = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--window-size=1280,{height}"]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    done = subprocess.run([*args, url], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Debian's chromium is not on PATH (scripts/test.sh installs it as root: "
                           "apt-get install chromium); the pages were not rendered in a browser")
def test_pages_render_in_headless_chromium(server, content, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = {"overview": (f"{server.url}/", ARTIFACTS / "overview.png"),
             "run-failed": (f"{server.url}/runs/{content['bad']}", ARTIFACTS / "run-failed.png")}
    for url, path in shots.values():
        path.unlink(missing_ok=True)
        chromium(tmp_path, url, screenshot=path)
        width, height, pixels = png_pixels(path.read_bytes())
        assert (width, height) == (1280, 900)
        assert len(set(pixels[::7])) > 20, f"{path} looks blank"
    _, _, pixels = png_pixels(shots["run-failed"][1].read_bytes())
    colours = set(pixels)
    assert SUCCEEDED_FILL in colours and FAILED_FILL in colours, "the DAG's state colours"
    print(f"\nscreenshots: {', '.join(str(p) for _, p in shots.values())}")

    # The rendered DOM (after the browser ran the page), and KFP's UI link form landing on the
    # run page through the fragment redirect.
    dom = chromium(tmp_path, f"{server.url}/#/runs/details/{content['ok']}")
    nodes, _ = dag_of(dom)
    assert nodes == {"make-text": "succeeded", "count-text": "succeeded"}, dom[:500]
    pipeline_id = content["pipeline"].pipeline_id
    dom = chromium(tmp_path, f"{server.url}/#/pipelines/details/{pipeline_id}/version/x")
    assert "<h1>Pipeline web-two-step</h1>" in dom, dom[:500]  # its page (issue 13)
