"""The server's pure parts: KFP's cron dialect, list options, request bodies, pipeline files."""

import io
import json
import tarfile
import zipfile
from datetime import datetime, timezone

import pytest

from dh_kfp_pulumi.server import app, cron, filters, ir, wire
from dh_kfp_pulumi.server.wire import ApiError


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.mark.parametrize(("expr", "after", "expected"), [
    ("0 5 4 * * *", "2026-01-01T00:00:00", ["2026-01-01T04:05:00", "2026-01-02T04:05:00"]),
    # Five fields are `sec min hour dom month`: "5 4 * * *" is every hour at :04:05.
    ("5 4 * * *", "2026-01-01T00:00:00", ["2026-01-01T00:04:05", "2026-01-01T01:04:05"]),
    ("*/20 * * * * *", "2026-01-01T00:00:00", ["2026-01-01T00:00:20", "2026-01-01T00:00:40"]),
    ("0 0 9 ? * 2-6", "2026-01-03T10:00:00", ["2026-01-06T09:00:00", "2026-01-07T09:00:00"]),
    ("0 0 0 1 JAN,jul *", "2026-01-01T00:00:00", ["2026-07-01T00:00:00", "2027-01-01T00:00:00"]),
    ("0 0 0 * * sun", "2026-01-01T00:00:00", ["2026-01-04T00:00:00", "2026-01-11T00:00:00"]),
    # dom and dow both restricted: either matches (robfig, like classic cron).
    ("0 0 0 10 * 1", "2026-02-01T00:00:00", ["2026-02-02T00:00:00", "2026-02-09T00:00:00",
                                             "2026-02-10T00:00:00", "2026-02-16T00:00:00"]),
    # a `*` in day-of-month makes both required (robfig's star bit): odd days that are Mondays.
    ("0 0 0 */2 * 1", "2026-01-01T00:00:00", ["2026-01-05T00:00:00", "2026-01-19T00:00:00"]),
    ("5/20 * * * * *", "2026-01-01T00:00:00", ["2026-01-01T00:00:05", "2026-01-01T00:00:25"]),
    ("@daily", "2026-01-01T12:00:00", ["2026-01-02T00:00:00", "2026-01-03T00:00:00"]),
    ("@every 1h30m", "2026-01-01T00:00:00", ["2026-01-01T01:30:00", "2026-01-01T03:00:00"]),
    ("@every 500ms", "2026-01-01T00:00:00", ["2026-01-01T00:00:01", "2026-01-01T00:00:02"]),
])
def test_cron_ticks(expr, after, expected):
    schedule = cron.parse(expr)
    moment, got = _at(after), []
    for _ in expected:
        moment = schedule.next_after(moment)
        got.append(_iso(moment))
    assert got == expected


@pytest.mark.parametrize(("expr", "words"), [
    ("", "Empty spec string"),
    ("1 * *", "Expected 5 to 6 fields, found 3: 1 * *"),
    ("* * * * * * *", "Expected 5 to 6 fields, found 7"),
    ("0 0 0 L * *", "Failed to parse int from L"),
    ("0 0 0 15W * *", "Failed to parse int from 15W"),
    ("0 0 0 * * 5#3", "Failed to parse int from 5#3"),
    ("60 * * * * *", "above maximum (59)"),
    ("* * * * * 7", "above maximum (6)"),
    ("* * * 0 * *", "below minimum (1)"),
    ("5-1 * * * * *", "beyond end of range"),
    ("*/0 * * * * *", "positive number"),
    ("1-2-3 * * * * *", "Too many hyphens"),
    ("*/2/3 * * * * *", "Too many slashes"),
    ("@fortnightly", "Unrecognized descriptor"),
    ("@every soon", "invalid duration"),
])
def test_cron_rejects_what_robfig_rejects(expr, words):
    with pytest.raises(ApiError) as err:
        cron.parse(expr)
    assert err.value.code == 3 and words in err.value.message
    assert err.value.message.startswith("Schedule cron is not a supported format")


def test_cron_latest_tick_for_no_catchup():
    every = cron.parse("* * * * * *")
    start, until = _at("2026-01-01T00:00:00"), _at("2026-01-01T00:01:00")
    assert _iso(every.latest(start, until)) == "2026-01-01T00:01:00"
    assert every.latest(until, until) is None
    periodic = cron.Schedule(every=7)
    assert periodic.latest(start, start + 20) == start + 14


def test_filter_encoding_rules():
    res = filters.Resource("runs", {"display_name": "display_name", "created_at": "created_at",
                                    "state": "state"})
    where, params, _ = filters.parse_filter(
        '{"predicates": [{"operation": 1, "key": "display_name", "stringValue": "a+b"}]}', res)
    assert (where, params) == ("display_name = ?", ["a b"])  # KFP decodes a second time
    where, params, _ = filters.parse_filter(
        '{"predicates":[{"operation":"GREATER_THAN","key":"created_at",'
        '"timestamp_value":"2026-01-01T00:00:00Z"},{"operation":"IN","key":"state",'
        '"string_values":{"values":["RUNNING","PENDING"]}}]}', res)
    assert where == "created_at > ? AND state IN (?, ?)"
    assert params == [int(_at("2026-01-01T00:00:00")), "RUNNING", "PENDING"]
    assert filters.parse_page_size(None) == 20 and filters.parse_page_size("0") == 20
    assert filters.parse_page_size("1000") == 200
    with pytest.raises(ApiError):
        filters.parse_page_size("-1")
    with pytest.raises(ApiError, match="invalid URL escape"):
        filters.parse_filter('{"predicates":[{"key":"state","string_value":"100%"}]}', res)


def test_request_bodies_are_read_like_protojson():
    body = wire.parse_body(json.dumps({
        "displayName": "r", "maxConcurrency": "3", "mode": 1, "noCatchup": True,
        "trigger": {"periodicSchedule": {"intervalSecond": 60,
                                         "startTime": "2026-01-01T01:00:00+01:00"}},
        "runtimeConfig": {"parameters": {"x": 0, "s": ""}}}).encode(), "v2beta1RecurringRun")
    assert body == {"display_name": "r", "max_concurrency": 3, "mode": "ENABLE",
                    "no_catchup": True,
                    "trigger": {"periodic_schedule": {"interval_second": 60,
                                                      "start_time": int(_at("2026-01-01T00:00:00"))}},
                    "runtime_config": {"parameters": {"x": 0, "s": ""}}}
    for bad, words in (({"display_name": "r", "colour": 1}, 'unknown field "colour"'),
                       ({"max_concurrency": "many"}, "int64"),
                       ({"mode": "SOMETIMES"}, "enum"),
                       ({"no_catchup": "yes"}, "bool"),
                       ({"trigger": {"cron_schedule": {"start_time": "yesterday"}}}, "RFC 3339")):
        with pytest.raises(ApiError) as err:
            wire.parse_body(json.dumps(bad).encode(), "v2beta1RecurringRun")
        assert err.value.code == 3 and words in err.value.message


def test_responses_omit_zero_values():
    assert wire.message(a="", b=0, c=False, d=[], e={}, f=None, g="x", h=1) == {"g": "x", "h": 1}
    assert wire.ts(0) == "1970-01-01T00:00:00Z" and wire.int64(5) == "5"


def test_pipeline_files_in_every_accepted_form(tmp_path):
    from kfp import compiler
    from kfp.dsl import component, pipeline

    @component(base_image="python:3.11")
    def hello() -> str:
        return "hi"

    @pipeline(name="forms")
    def forms():
        hello()

    path = tmp_path / "forms.yaml"
    compiler.Compiler().compile(forms, str(path))
    data = path.read_bytes()
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("pipeline.yaml", data)
    tarred = io.BytesIO()
    with tarfile.open(fileobj=tarred, mode="w:gz") as archive:
        info = tarfile.TarInfo("pipeline.yaml")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    as_json = json.dumps(ir.from_yaml(data.decode()).pipeline_spec).encode()
    specs = [ir.read_file("forms.yaml", data), ir.read_file("upload", zipped.getvalue()),
             ir.read_file("p.tar.gz", tarred.getvalue()), ir.read_file("p.json", as_json)]
    assert all(s == specs[0] for s in specs) and specs[0].name == "forms"
    assert ir.container_executors(specs[0]) == []
    with pytest.raises(ApiError, match="exactly one file"):
        empty = io.BytesIO()
        zipfile.ZipFile(empty, "w").close()
        ir.read_file("p.zip", empty.getvalue())


def test_multipart_is_byte_exact():
    payload = bytes(range(256)) * 10 + b"\r\n--not-the-boundary\r\n"
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"uploadfile\"; filename=\"a.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + payload + b"\r\n--XyZ--\r\n")
    parts = app.parse_multipart("multipart/form-data; boundary=XyZ", body)
    assert parts == {"uploadfile": ("a.bin", payload)}
