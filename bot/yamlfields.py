"""Typed access to one mapping of a YAML data file, failing with the file's own error type and a
precise location ("indicators.yaml: indicators[12]: field 'level3' must not be empty")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class Fields:
    """Subclasses set `error` (the file's exception class) and add the typed getters they need."""

    error: type[Exception] = ValueError

    def __init__(self, data: Any, where: str, allowed: Sequence[str]) -> None:
        self.where = where
        if not isinstance(data, Mapping):
            raise self.error(f"{where}: must be a mapping")
        unknown = [k for k in data if k not in allowed]
        if unknown:
            raise self.error(f"{where}: unknown field {unknown[0]!r}")
        self.data = data

    def fail(self, field: str, problem: str) -> Exception:
        return self.error(f"{self.where}: field {field!r} {problem}")
