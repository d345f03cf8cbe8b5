"""Declares the files listed in spec.json (beside this file), so tests change the program
by rewriting that file. Each entry: name, path, content, and optionally `after` (content
from another file's digest), `group` (a component parent), `protect`, `retain`,
`dbr` (delete before replace), `secret`, `ignore`, `kind` (a non-dynamic custom type)."""

import json
from pathlib import Path

import pulumi
from files_provider import TextFile


class Group(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("files:index:Group", name, None, opts)
        self.register_outputs({"label": name})


config = pulumi.Config()
spec = json.loads((Path(__file__).parent / "spec.json").read_text())
files, groups = {}, {}
for entry in spec.get("files", []):
    parent = None
    if entry.get("group"):
        parent = groups.get(entry["group"]) or Group(entry["group"])
        groups[entry["group"]] = parent
    if entry.get("kind"):
        pulumi.CustomResource(entry["kind"], entry["name"], {"x": 1})
        continue
    content = entry.get("content", "")
    if entry.get("after"):
        content = files[entry["after"]].digest.apply(lambda d, c=content: f"{c} after {d}")
    if entry.get("secret"):
        content = pulumi.Output.secret(content)
    opts = pulumi.ResourceOptions(
        parent=parent, protect=entry.get("protect", False),
        retain_on_delete=entry.get("retain", False),
        ignore_changes=entry.get("ignore"),
        depends_on=[files[d] for d in entry.get("depends_on", [])])
    files[entry["name"]] = TextFile(entry["name"], entry["path"], content, opts,
                                    dbr=entry.get("dbr"))
    pulumi.export(f"{entry['name']}_digest", files[entry["name"]].digest)
    if entry.get("secret"):
        pulumi.export(f"{entry['name']}_content", files[entry["name"]].content)

pulumi.export("greeting", f"{config.get('greeting')} from {pulumi.get_project()}/{pulumi.get_stack()}")
if spec.get("log_error"):
    pulumi.log.error(spec["log_error"])
if spec.get("raise"):
    raise ValueError(spec["raise"])
