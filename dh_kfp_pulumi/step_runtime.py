"""The code that runs inside a python step's container.

`components.py` embeds the source of `_dh_run_step` into every generated python
component (kfp's `additional_funcs`), so the step image needs nothing but kfp:
the function's own module travels as text in the IR and is executed here.

Everything the function uses must be imported inside it: only its source is
copied, not this module's globals. Every executor carries that source, so it is
kept short: no docstring or comments inside the function (they would be copied
too; kfp copies from the `def` line), explanations here instead. What it does:

- executes `source` as module `module_name` (file name `filename` in tracebacks);
- calls `handler` with `kwargs` (those named in `json_kwargs` decoded from JSON
  text) and each of `artifact_kwargs` as a `pathlib.Path`;
- takes the declared `outputs` (key -> (KFP artifact, published name)) and
  `values` (key -> output parameter file) from what the handler returned: a dict,
  or, with exactly one declared, the value itself (docs/decisions.md);
- writes artifacts (bytes as is, str UTF-8, a Path copied, else JSON) and values
  (str as is, else JSON text); any failure names the step and the function.
"""


def _dh_run_step(step, function, filename, module_name, handler, source, kwargs, json_kwargs,
                 artifact_kwargs, outputs, values):
    import json
    import pathlib
    import shutil
    import sys
    import types

    def fail(message):
        raise RuntimeError(f"step {step!r}: function {function!r} {message}")

    def text(name, value):
        try:
            return value if isinstance(value, str) else json.dumps(value)
        except (TypeError, ValueError) as exc:
            fail(f"returned a {type(value).__name__} for {name!r}: return bytes, str, "
                 f"a pathlib.Path or JSON-serialisable data ({exc})")

    module = sys.modules[module_name] = types.ModuleType(module_name)
    module.__file__ = filename
    exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
    target = getattr(module, handler, None)
    if not callable(target):
        fail(f"has no callable {handler!r} in {filename}")
    call = {k: json.loads(v) if k in json_kwargs else v for k, v in kwargs.items()}
    call.update((k, pathlib.Path(a.path)) for k, a in artifact_kwargs.items())
    result = target(**call)
    declared = sorted([*outputs, *values])
    if not declared:
        return
    if isinstance(result, dict) and (len(declared) > 1 or declared[0] in result):
        returned = result
    elif result is None or len(declared) == 1:
        returned = {} if result is None else {declared[0]: result}
    else:
        fail(f"must return a dict with the declared outputs {declared} "
             f"(got a {type(result).__name__})")
    missing = [repr(k) for k in declared if returned.get(k) is None]
    if missing:
        fail(f"did not return declared output(s) {', '.join(missing)} "
             f"(it returned keys: {sorted(map(str, returned))})")
    for k, (artifact, published_as) in sorted(outputs.items()):
        value, path = returned[k], pathlib.Path(artifact.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, (bytes, bytearray)):
            path.write_bytes(bytes(value))
        elif not isinstance(value, pathlib.PurePath):
            path.write_text(text(k, value), encoding="utf-8")
        elif pathlib.Path(value).is_dir():
            shutil.copytree(value, path, dirs_exist_ok=True)
        elif pathlib.Path(value).is_file():
            shutil.copyfile(value, path)
        else:
            fail(f"returned the path {str(value)!r} for {k!r}, which does not exist")
        artifact.metadata["display_name"] = published_as
    for k, file in sorted(values.items()):
        pathlib.Path(file).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(file).write_text(text(k, returned[k]), encoding="utf-8")
