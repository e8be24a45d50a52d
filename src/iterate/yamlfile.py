"""YAML the way a hand-edited file needs it read: safe, UTF-8, no key given twice, and every
problem told in one line with the file, line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from iterate.errors import IterateError

MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlFileError(IterateError):
    """A YAML file that cannot be read: not UTF-8, not YAML, or a key given twice."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that names a key twice (PyYAML keeps the last
    one silently, so a second ``window:`` would override the first without a word)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    first: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            earlier = first.setdefault(key, key_node)
        except TypeError:  # an unhashable key: let PyYAML refuse it with its own mark
            continue
        if earlier is not key_node:
            raise yaml.MarkedYAMLError(
                problem=f"key {key!r} is given twice (first on line {earlier.start_mark.line + 1})"
                ", keep one", problem_mark=key_node.start_mark)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse(data: bytes | str, source: str) -> Any:
    """Parse ``data`` (the bytes or text of file ``source``); raise :class:`YamlFileError`."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise YamlFileError(f"{source}:{line}:{column}",
                                f"not UTF-8 (byte 0x{data[exc.start]:02x}); save the file as "
                                "UTF-8") from None
    try:
        return yaml.load(data, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = " ".join(f"{exc.context or ''} {exc.problem or ''}".split())
        raise YamlFileError(where, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlFileError(source, f"not valid YAML: {' '.join(str(exc).split())}") from None


def read(path: Path) -> Any:
    """Parse the YAML file ``path`` (which must exist)."""
    return parse(path.read_bytes(), str(path))
