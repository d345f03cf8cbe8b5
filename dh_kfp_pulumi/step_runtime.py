"""The code that runs inside a python step's container.

`components.py` embeds the source of `_dh_run_step` into every generated python
component (kfp's `additional_funcs`), so the step image needs nothing but kfp:
the function's own module travels as text in the IR and is executed here.

Everything the function uses must be imported inside it: only its source is
copied, not this module's globals.
"""


def _dh_run_step(
    step,
    function,
    filename,
    module_name,
    handler,
    source,
    kwargs,
    json_kwargs,
    artifact_kwargs,
    outputs,
    values,
):
    """Call the handler with keyword arguments; write what it returns (see components)."""
    import json
    import pathlib
    import shutil
    import sys
    import types

    def fail(message):
        raise RuntimeError(f"step {step!r}: function {function!r} {message}")

    module = types.ModuleType(module_name)
    module.__file__ = filename
    sys.modules[module_name] = module
    exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
    target = getattr(module, handler, None)
    if not callable(target):
        fail(f"has no callable {handler!r} in {filename}")
    call = dict(kwargs)
    for name in json_kwargs:
        call[name] = json.loads(call[name])
    for name, artifact in artifact_kwargs.items():
        call[name] = pathlib.Path(artifact.path)
    result = target(**call)

    declared = sorted([*outputs, *values])
    if not declared:
        return
    if isinstance(result, dict) and (len(declared) > 1 or declared[0] in result):
        returned = result
    elif result is None or len(declared) == 1:
        returned = {} if result is None else {declared[0]: result}
    else:
        fail(
            f"must return a dict with the declared outputs {declared} (got a {type(result).__name__})"
        )
    missing = [repr(name) for name in declared if returned.get(name) is None]
    if missing:
        fail(
            f"did not return declared output(s) {', '.join(missing)} "
            f"(it returned keys: {sorted(map(str, returned))})"
        )

    def text(name, value):
        if isinstance(value, str):
            return value
        try:
            return json.dumps(value)
        except (TypeError, ValueError) as exc:
            fail(
                f"returned a {type(value).__name__} for {name!r}: return bytes, str, "
                f"a pathlib.Path or JSON-serialisable data ({exc})"
            )

    for name, (artifact, published_as) in sorted(outputs.items()):
        value, path = returned[name], pathlib.Path(artifact.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, (bytes, bytearray)):
            path.write_bytes(bytes(value))
        elif isinstance(value, pathlib.PurePath):
            if pathlib.Path(value).is_dir():
                shutil.copytree(value, path, dirs_exist_ok=True)
            elif pathlib.Path(value).is_file():
                shutil.copyfile(value, path)
            else:
                fail(f"returned the path {str(value)!r} for {name!r}, which does not exist")
        else:
            path.write_text(text(name, value), encoding="utf-8")
        artifact.metadata["display_name"] = published_as
    for name, file in sorted(values.items()):
        pathlib.Path(file).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(file).write_text(text(name, returned[name]), encoding="utf-8")
