"""The pages a KFP user expects (issue 13), through HTTP and headless Chromium: a pipeline's
page (its versions, each version's graph drawn from its IR, the IR text), a recurring run's
page (trigger, status, max concurrency, catch-up, the runs it started with their states),
a run's artifacts previewed (text, CSV as a table of its first rows, JSON) or downloaded,
and KFP's UI links (a Workflow's and a Task's `url` outputs) landing on those pages.
Screenshots go to test-artifacts/web/. (No `from __future__ import annotations`: kfp reads
the components' annotations.)"""

import json
import re
import shutil
import sys
import urllib.request
from pathlib import Path

import pytest
from kfp import compiler, dsl

sys.path.insert(0, str(Path(__file__).parent))

from test_web import ARTIFACTS, chromium, dag_of, png_pixels  # noqa: E402

CHROMIUM = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not on PATH (scripts/test.sh installs it as root: apt-get "
           "install chromium); the pages were not rendered in a browser")


@dsl.component(base_image="python:3.11")
def produce(rows: int, table: dsl.Output[dsl.Dataset], doc: dsl.Output[dsl.Artifact],
            note: dsl.Output[dsl.Artifact], blob: dsl.Output[dsl.Artifact]):
    import json

    with open(table.path, "w") as f:
        f.write("lot,spaces\n" + "".join(f"lot-{i},{i * 3}\n" for i in range(rows)))
    with open(doc.path, "w") as f:
        json.dump({"lots": rows, "names": ["north", "<south>"]}, f)
    with open(note.path, "w") as f:
        f.write("first line\nsecond <line>\n")
    with open(blob.path, "wb") as f:
        f.write(bytes(range(256)))


@dsl.component(base_image="python:3.11")
def total(table: dsl.Input[dsl.Dataset]) -> int:
    with open(table.path) as f:
        return sum(int(line.split(",")[1]) for line in f.read().splitlines()[1:])


@dsl.pipeline(name="artifacts")
def artifacts(rows: int = 25):
    made = produce(rows=rows)
    total(table=made.outputs["table"])


@dsl.pipeline(name="artifacts")
def artifacts_v2(rows: int = 25):
    """v2: one more step, so the two versions' graphs differ."""
    made = produce(rows=rows)
    total(table=made.outputs["table"])
    total(table=made.outputs["table"]).set_display_name("again")


@pytest.fixture(scope="module")
def made(client, kit, tmp_path_factory):
    root = tmp_path_factory.mktemp("web-pages")
    v1, v2 = root / "v1.yaml", root / "v2.yaml"
    compiler.Compiler().compile(artifacts, str(v1))
    compiler.Compiler().compile(artifacts_v2, str(v2))
    pipeline = client.upload_pipeline(str(v1), pipeline_name="web-artifacts",
                                      description="artifacts of every kind")
    second = client.upload_pipeline_version(str(v2), pipeline_version_name="v2",
                                            pipeline_id=pipeline.pipeline_id)
    first = [v for v in client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
             if v.pipeline_version_id != second.pipeline_version_id][0]
    exp = client.create_experiment("web-pages")
    run = client.run_pipeline(exp.experiment_id, "web-artifacts-run",
                              pipeline_id=pipeline.pipeline_id,
                              version_id=first.pipeline_version_id)
    done = kit.wait_state(client, run.run_id, {"SUCCEEDED", "FAILED"}, timeout=120)
    assert done.state == "SUCCEEDED", done.error
    recurring = client.create_recurring_run(
        exp.experiment_id, job_name="every-2s", interval_second=2, max_concurrency=2,
        no_catchup=True, pipeline_id=pipeline.pipeline_id, version_id=first.pipeline_version_id,
        params={"rows": 3}, enabled=True)
    rid = recurring.recurring_run_id

    def started():
        runs = client.list_runs(experiment_id=exp.experiment_id, page_size=100).runs or []
        mine = [r for r in runs if r.recurring_run_id == rid]
        return len(mine) >= 2 and any(r.state == "SUCCEEDED" for r in mine) and mine

    kit.wait_for(started, timeout=180, interval=0.5, what="two runs of the recurring run")
    return {"pipeline": pipeline.pipeline_id, "v1": first.pipeline_version_id,
            "v2": second.pipeline_version_id, "experiment": exp.experiment_id,
            "run": run.run_id, "recurring": rid}


def test_pipeline_page_lists_versions_draws_each_versions_graph_and_shows_its_ir(server, made,
                                                                                 kit):
    url = f"{server.url}/pipelines/{made['pipeline']}"
    status, page, ctype = kit.http("GET", url)
    assert status == 200 and ctype.startswith("text/html")
    assert "<h1>Pipeline web-artifacts</h1>" in page and "artifacts of every kind" in page
    rows = re.findall(r'<tr id="version-([^"]+)"', page)
    assert rows == [made["v2"], made["v1"]]  # newest first
    nodes, edges = dag_of(page)  # the newest version's graph, no run: every node pending
    assert set(nodes) == {"produce", "total", "total-2"} and set(nodes.values()) == {"pending"}
    assert edges == {("produce", "total"), ("produce", "total-2")}
    assert "comp-produce" in page  # nodes named by their component
    ir_text = re.search(r'<pre class="ir">(.*?)</pre>', page, re.S).group(1)
    assert "pipelineInfo:" in ir_text and "name: artifacts" in ir_text and "again" in ir_text
    assert re.search(r"<td>rows</td><td>NUMBER_INTEGER</td><td><code>25</code></td>", page)

    _, page, _ = kit.http("GET", f"{url}?version={made['v1']}")
    nodes, edges = dag_of(page)
    assert set(nodes) == {"produce", "total"} and edges == {("produce", "total")}
    assert "again" not in re.search(r'<pre class="ir">(.*?)</pre>', page, re.S).group(1)
    assert f'<tr id="version-{made["v1"]}" class=shown>' in page
    # the recurring run and the run of v1 are listed, linked to their pages
    assert f'href="/recurringruns/{made["recurring"]}">every-2s</a>' in page
    assert f'href="/runs/{made["run"]}">web-artifacts-run</a>' in page

    status, page, _ = kit.http("GET", f"{server.url}/pipelines/no-such-pipeline")
    assert status == 404 and "no-such-pipeline" in page


def test_recurring_run_page_shows_its_schedule_and_the_runs_it_started(server, made, kit):
    status, page, _ = kit.http("GET", f"{server.url}/recurringruns/{made['recurring']}")
    assert status == 200 and "<h1>Recurring run every-2s</h1>" in page
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(.*?)</dd>", page))
    assert "ENABLED" in facts["Status"] and facts["Trigger"] == "every 2s"
    assert facts["Max concurrency"] == "2"
    assert facts["Catch-up"].startswith("no")
    assert f'/pipelines/{made["pipeline"]}?version={made["v1"]}' in facts["Pipeline / version"]
    assert f'href="/experiments/{made["experiment"]}">web-pages</a>' in facts["Experiment"]
    assert re.search(r"<td>rows</td><td><code>3</code></td>", page)
    runs = re.findall(r'<tr id="run-[^"]+"><td><a href="/runs/[^"]+">([^<]+)</a></td>'
                      r'<td><span class="state state-(\w+)">', page)
    assert len(runs) >= 2 and "succeeded" in {state for _, state in runs}
    assert int(re.search(r"(\d+) \(\d+ active\)", facts["Runs started"]).group(1)) >= len(runs)

    status, page, _ = kit.http("GET", f"{server.url}/recurringruns/nope")
    assert status == 404


def test_run_page_previews_artifacts_and_downloads_them(server, made, kit):
    _, page, _ = kit.http("GET", f"{server.url}/runs/{made['run']}")
    # the facts link to the experiment's and the pipeline version's pages
    assert f'href="/experiments/{made["experiment"]}">web-pages</a>' in page
    assert f'href="/pipelines/{made["pipeline"]}?version={made["v1"]}">web-artifacts</a>' in page
    sections = {m.group(2): m.group(0) for m in re.finditer(
        r'<div class="artifact" data-kind="(\w+)" data-output="(\w+)">.*?</div>', page, re.S)}
    kinds = {name: re.search(r'data-kind="(\w+)"', html).group(1)
             for name, html in sections.items()}
    assert kinds == {"table": "csv", "doc": "json", "note": "text", "blob": "binary"}
    table = sections["table"]
    assert "CSV, first 10 of 25 rows" in table
    assert "<th>lot</th><th>spaces</th>" in table
    assert "<td>lot-0</td><td>0</td>" in table and "<td>lot-9</td><td>27</td>" in table
    assert "lot-10" not in table
    assert "&quot;&lt;south&gt;&quot;" in sections["doc"]
    assert "&quot;lots&quot;: 25" in sections["doc"]
    assert "second &lt;line&gt;" in sections["note"]
    assert "Binary content: no preview." in sections["blob"] and "(256 bytes)" in sections["blob"]

    for name, expected_name, expected_type in (("table", "table.csv", "text/csv"),
                                               ("blob", "blob", "application/octet-stream"),
                                               ("doc", "doc.json", "application/json")):
        href = re.search(r'<a class="download" href="([^"]+)"', sections[name]).group(1)
        with urllib.request.urlopen(server.url + href, timeout=30) as resp:
            body = resp.read()
            assert resp.headers["Content-Type"].startswith(expected_type)
            assert f'filename="{expected_name}"' in resp.headers["Content-Disposition"]
            assert resp.headers["Content-Disposition"].startswith("attachment")
        if name == "blob":
            assert body == bytes(range(256))
        if name == "table":
            assert body.decode().splitlines()[25] == "lot-24,72"
        if name == "doc":
            assert json.loads(body) == {"lots": 25, "names": ["north", "<south>"]}
    status, _, _ = kit.http("GET", f"{server.url}/runs/{made['run']}/artifacts/999999")
    assert status == 404


@CHROMIUM
def test_new_pages_in_headless_chromium_and_kfp_ui_links_land_on_them(server, made, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = {
        "pipeline.png": f"{server.url}/pipelines/{made['pipeline']}",
        "recurring-run.png": f"{server.url}/recurringruns/{made['recurring']}",
        "run-artifacts.png": f"{server.url}/runs/{made['run']}",
    }
    for name, url in shots.items():
        path = ARTIFACTS / name
        path.unlink(missing_ok=True)
        tall = name == "run-artifacts.png"  # the previews come after the graph
        chromium(tmp_path, url, screenshot=path, height=2000 if tall else 900)
        width, height, pixels = png_pixels(path.read_bytes())
        assert (width, height) == (1280, 2000 if tall else 900)
        assert len(set(pixels[::7])) > 20, f"{path} looks blank"
    print(f"\nscreenshots: {', '.join(str(ARTIFACTS / n) for n in shots)}")

    # A Workflow's `url` output (KFP's UI form) opens the pipeline page at that version.
    dom = chromium(tmp_path, f"{server.url}/#/pipelines/details/{made['pipeline']}/version/"
                             f"{made['v1']}")
    assert "<h1>Pipeline web-artifacts</h1>" in dom, dom[:500]
    assert f'<tr id="version-{made["v1"]}" class="shown">' in dom
    # A Task's `url` output opens the recurring run's page.
    dom = chromium(tmp_path, f"{server.url}/#/recurringrun/details/{made['recurring']}")
    assert "<h1>Recurring run every-2s</h1>" in dom, dom[:500]
    # The run page's CSV preview, as the browser built it.
    dom = chromium(tmp_path, f"{server.url}/#/runs/details/{made['run']}")
    assert "<th>lot</th><th>spaces</th>" in dom and "first 10 of 25 rows" in dom
