"""The code that runs inside a python step's container.

`components.py` embeds the source of `_dh_run_step` into every generated python
component (kfp's `additional_funcs`), so the step image needs nothing but kfp:
the function's own module travels as text in the IR and is executed here.

Everything the function uses must be imported inside it: only its source is
copied, not this module's globals.
"""

from __future__ import annotations

from typing import Any


def _dh_run_step(
    *,
    step: str,
    function: str,
    filename: str,
    module_name: str,
    handler: str,
    source: str,
    kwargs: dict[str, Any],
    json_kwargs: tuple[str, ...],
    artifact_kwargs: dict[str, Any],
    outputs: dict[str, tuple[Any, str]],
    values: dict[str, str],
) -> None:
    """Call the handler with keyword arguments; write what it returns (see components)."""
    import json
    import pathlib
    import shutil
    import sys
    import types

    module = types.ModuleType(module_name)
    module.__file__ = filename
    sys.modules[module_name] = module
    exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
    target = getattr(module, handler, None)
    if not callable(target):
        raise RuntimeError(
            f"step {step!r}: function {function!r} has no callable {handler!r} in {filename}"
        )

    call = dict(kwargs)
    for name in json_kwargs:
        call[name] = json.loads(call[name])
    for name, artifact in artifact_kwargs.items():
        call[name] = pathlib.Path(artifact.path)

    result = target(**call)

    declared = sorted(list(outputs) + list(values))
    if not declared:
        return
    if isinstance(result, dict) and (len(declared) > 1 or declared[0] in result):
        returned = result
    elif result is None:
        returned = {}
    elif len(declared) == 1:
        returned = {declared[0]: result}
    else:
        raise RuntimeError(
            f"step {step!r}: function {function!r} must return a dict with the declared "
            f"outputs {declared} (got a {type(result).__name__})"
        )
    missing = [name for name in declared if returned.get(name) is None]
    if missing:
        got = sorted(str(key) for key in returned)
        raise RuntimeError(
            f"step {step!r}: function {function!r} did not return declared output(s) "
            f"{', '.join(repr(m) for m in missing)} (it returned keys: {got})"
        )

    def as_text(name: str, value: Any) -> str:
        try:
            return json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise RuntimeError(
                f"step {step!r}: output {name!r} is a {type(value).__name__}; return bytes, "
                f"str, a pathlib.Path or JSON-serialisable data ({exc})"
            ) from None

    for name, (artifact, published_as) in sorted(outputs.items()):
        value = returned[name]
        target_path = pathlib.Path(artifact.path)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, (bytes, bytearray)):
            target_path.write_bytes(bytes(value))
        elif isinstance(value, str):
            target_path.write_text(value, encoding="utf-8")
        elif isinstance(value, pathlib.PurePath):
            produced = pathlib.Path(value)
            if produced.is_dir():
                shutil.copytree(produced, target_path, dirs_exist_ok=True)
            elif produced.is_file():
                shutil.copyfile(produced, target_path)
            else:
                raise RuntimeError(
                    f"step {step!r}: output {name!r} is the path {str(produced)!r}, "
                    "which does not exist"
                )
        else:
            target_path.write_text(as_text(name, value), encoding="utf-8")
        artifact.metadata["display_name"] = published_as

    for name, path in sorted(values.items()):
        value = returned[name]
        text = value if isinstance(value, str) else as_text(name, value)
        target_path = pathlib.Path(path)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target_path.write_text(text, encoding="utf-8")
