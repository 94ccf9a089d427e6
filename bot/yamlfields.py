"""Typed access to one mapping of a YAML data file, failing with the file's own error type and a
precise location ("indicators.yaml: indicators[12]: field 'level3' must not be empty").

`load_yaml` reads a data file so that every mapping remembers its line (and each key's line),
and a failure carries that line (`error.line`, 1-based) for the start-up check (bot/run.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml


class LineMap(dict):
    """A YAML mapping with the line it starts on and the line of each key (1-based)."""

    line: int | None = None
    key_lines: dict

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_lines = {}


class _LineLoader(yaml.SafeLoader):
    """yaml.safe_load's loader, building LineMaps."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineMap:
    out = LineMap(loader.construct_mapping(node, deep=True))
    out.line = node.start_mark.line + 1
    for key_node, _ in node.value:
        try:
            key = loader.construct_object(key_node, deep=True)
        except TypeError:  # an unhashable key: construct_mapping has refused it already
            continue
        if key in out.key_lines:  # YAML would keep the last one silently
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r}", key_node.start_mark,
            )  # fmt: skip
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path) -> Any:
    """The YAML document in `path` (UTF-8), as yaml.safe_load reads it but with LineMaps.
    Raises OSError, UnicodeDecodeError or yaml.YAMLError as they come."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_LineLoader)


class Fields:
    """Subclasses set `error` (the file's exception class) and add the typed getters they need."""

    error: type[Exception] = ValueError

    def __init__(self, data: Any, where: str, allowed: Sequence[str]) -> None:
        self.where = where
        self.line = getattr(data, "line", None)
        if not isinstance(data, Mapping):
            raise self._error(f"{where}: must be a mapping", "", "must be a mapping", None)
        self.data = data
        unknown = [k for k in data if k not in allowed]
        if unknown:
            problem = f"unknown field {unknown[0]!r}"
            raise self._error(f"{where}: {problem}", "", problem, self._line_of(unknown[0]))

    def fail(self, field: str, problem: str) -> Exception:
        return self._error(
            f"{self.where}: field {field!r} {problem}", field, problem, self._line_of(field)
        )

    def _line_of(self, field: str) -> int | None:
        return getattr(self.data, "key_lines", {}).get(field, self.line)

    def _error(self, message: str, field: str, problem: str, line: int | None) -> Exception:
        """The file's error, with where it is (`line`, `where`) and what (`field`, `problem`)."""
        err = self.error(message)
        err.line, err.where, err.field, err.problem = line, self.where, field, problem
        return err
