"""Experiments, and paging beyond the 50 latest runs (issue 13): 56 runs held PENDING (the
server executes none), in two experiments; the overview shows the 50 newest and links to
the rest, `/runs?page=2` shows the 6 oldest, an experiment's page pages its own runs."""

import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_web import ARTIFACTS, chromium, png_pixels  # noqa: E402

SERVER_SETTINGS = {"max_concurrent_runs": 0}  # runs stay PENDING: cheap to make many


def run_ids(page: str) -> list[str]:
    return re.findall(r'<tr id="run-([^"]+)">', page)


@pytest.fixture(scope="module")
def many(client, pipelines):
    pipeline = client.upload_pipeline(pipelines["two_step"], pipeline_name="web-paging")
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    where = {"pipeline_id": pipeline.pipeline_id, "version_id": version.pipeline_version_id}
    busy = client.create_experiment("busy", description="fifty-five runs")
    quiet = client.create_experiment("quiet")
    made = []  # oldest first
    for i in range(55):
        made.append(client.run_pipeline(busy.experiment_id, f"busy-{i:02d}", **where).run_id)
    lone = client.run_pipeline(quiet.experiment_id, "quiet-00", **where).run_id
    return {"busy": busy.experiment_id, "quiet": quiet.experiment_id, "runs": made, "lone": lone}


def test_the_overview_lists_experiments_and_links_past_the_50_latest_runs(server, many, kit):
    _, page, _ = kit.http("GET", f"{server.url}/")
    rows = {m.group(1): m.group(0) for m in re.finditer(
        r'<tr id="experiment-([^"]+)">.*?</tr>', page, re.S)}
    assert f'href="/experiments/{many["busy"]}">busy</a>' in rows[many["busy"]]
    assert "<td>fifty-five runs</td><td>55</td><td>0</td>" in rows[many["busy"]]
    assert "<td>1</td>" in rows[many["quiet"]]
    assert "(50 of 56, newest first)" in page
    shown = run_ids(page)
    assert shown == [many["lone"], *reversed(many["runs"][-49:])]
    assert '<a href="/runs?page=2">older runs →</a>' in page


def test_all_runs_page_by_page(server, many, kit):
    _, first, _ = kit.http("GET", f"{server.url}/runs")
    _, second, _ = kit.http("GET", f"{server.url}/runs?page=2")
    assert run_ids(first) == [many["lone"], *reversed(many["runs"][-49:])]
    assert run_ids(second) == list(reversed(many["runs"][:6]))
    assert "51–56 of 56" in second and "page 2 of 2" in second
    assert 'rel="prev" href="/runs?page=1"' in second and 'rel="next"' not in second
    assert 'rel="next" href="/runs?page=2"' in first
    _, beyond, _ = kit.http("GET", f"{server.url}/runs?page=9")
    assert run_ids(beyond) == [] and "No runs on this page." in beyond


def test_experiment_page_pages_its_own_runs(server, many, kit):
    url = f"{server.url}/experiments/{many['busy']}"
    _, first, _ = kit.http("GET", url)
    assert "<h1>Experiment busy</h1>" in first and "(55, newest first)" in first
    assert run_ids(first) == list(reversed(many["runs"][-50:]))
    assert many["lone"] not in first
    _, second, _ = kit.http("GET", f"{url}?page=2")
    assert run_ids(second) == list(reversed(many["runs"][:5]))
    status, _, _ = kit.http("GET", f"{server.url}/experiments/nope")
    assert status == 404


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Debian's chromium is not on PATH (scripts/test.sh installs it as "
                           "root: apt-get install chromium); the pages were not rendered")
def test_experiment_and_runs_pages_in_headless_chromium(server, many, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, url in (("experiment.png", f"{server.url}/experiments/{many['busy']}"),
                      ("runs-page-2.png", f"{server.url}/runs?page=2")):
        path = ARTIFACTS / name
        path.unlink(missing_ok=True)
        chromium(tmp_path, url, screenshot=path)
        _, _, pixels = png_pixels(path.read_bytes())
        assert len(set(pixels[::7])) > 20, f"{path} looks blank"
    dom = chromium(tmp_path, f"{server.url}/#/experiments/details/{many['quiet']}")
    assert "<h1>Experiment quiet</h1>" in dom and "quiet-00" in dom
