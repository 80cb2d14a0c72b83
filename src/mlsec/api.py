"""`mlsec.lint(...)`: the Python entry point, a thin layer over `engine.analyze`."""
from __future__ import annotations

import os
from typing import Any, Iterable

from .config import Config
from .engine import FileError, Report, analyze
from .source import SourceError, from_cells, from_string, load_path


def lint(
    target: "str | os.PathLike[str] | Iterable[str | dict[str, Any]]",
    config: Config | None = None,
    **options: Any,
) -> Report:
    """Lint a path (.py or .ipynb), a string of code, or a list of cell sources.

    `options` are Config fields (`bandit=False`, `min_severity="high"`, `ignore=[...]`).
    A string that names an existing file is read as that file; any other string is code.
    """
    if options:
        from dataclasses import replace

        from .findings import Severity

        for key in ("min_severity", "fail_on"):
            if key in options:
                options[key] = Severity.parse(options[key])
        config = replace(config or Config(), **options)
    if isinstance(target, os.PathLike) or (
        isinstance(target, str) and "\n" not in target and len(target) < 4096 and os.path.isfile(target)
    ):
        path = os.fspath(target)
        from .artifacts import is_artifact

        if is_artifact(path):  # a model file: read as bytes by mlsec.artifacts, never loaded
            from .artifacts import analyse

            return Report(findings=analyse(path, config or Config()), files=1)
        try:
            doc = load_path(path)
        except SourceError as exc:
            return Report(errors=[FileError(path, str(exc))], files=1)
        return analyze(doc, config)
    if isinstance(target, str):
        return analyze(from_string(target), config)
    return analyze(from_cells(list(target)), config)
