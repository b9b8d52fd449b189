"""Reading an experiment file into plain data plus a map from field path to line.

PyYAML composes the node graph with a SafeLoader subclass (no object tags, no
arbitrary constructors); we convert the nodes ourselves so that every value's
line survives, and reject what would make a file ambiguous: duplicate keys,
non-string keys, unknown tags. `--set path=value` overrides are applied to the
plain data afterwards and remembered, so errors about them name the override.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chaoskit.experiment.spec import ValidationError

PathT = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader; scalars are constructed one by one through its safe constructor."""


def dotted(path: PathT) -> str:
    return ".".join(str(p) for p in path)


@dataclass
class Source:
    """A parsed document: `data` (plain dicts/lists/scalars) and where each value came from."""

    file: str
    data: Any
    lines: dict[PathT, int] = field(default_factory=dict)  # path -> 1-based line of its value
    key_lines: dict[PathT, int] = field(default_factory=dict)  # path -> line of its key
    overridden: dict[PathT, str] = field(default_factory=dict)  # path -> the --set text

    def line(self, path: PathT) -> int | None:
        """Line of `path`, or of its nearest ancestor in the file (None: only from --set)."""
        p = tuple(path)
        while True:
            if p in self.key_lines:
                return self.key_lines[p]
            if p in self.lines:
                return self.lines[p]
            if not p:
                return None
            p = p[:-1]

    def note(self, path: PathT) -> str:
        """Suffix naming the --set override that produced `path` (or an ancestor)."""
        p = tuple(path)
        for i in range(len(p), -1, -1):
            if p[:i] in self.overridden:
                return f" (value from --set {self.overridden[p[:i]]})"
        return ""


class _Convert:
    def __init__(self, loader: _Loader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.lines: dict[PathT, int] = {}
        self.key_lines: dict[PathT, int] = {}
        self.errors: list[ValidationError] = []
        self._open: set[int] = set()  # collections being converted (a cycle of aliases)
        self._count = 0  # values converted (alias expansion is bounded: no "billion laughs")

    def err(self, node: yaml.Node, path: PathT, msg: str) -> None:
        self.errors.append(ValidationError(self.file, node.start_mark.line + 1, dotted(path), msg))

    def node(self, node: yaml.Node, path: PathT) -> Any:
        self.lines[path] = node.start_mark.line + 1
        self._count += 1
        if self._count > MAX_VALUES:
            if self._count == MAX_VALUES + 1:
                self.err(node, path, f"more than {MAX_VALUES} values (aliases expanding?)")
            return None
        if id(node) in self._open:
            self.err(node, path, "an alias that contains itself (a recursive value)")
            return None
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            self._open.add(id(node))
            try:
                return self._collection(node, path)
            finally:
                self._open.discard(id(node))
        return self.scalar(node, path)

    def _collection(self, node: yaml.Node, path: PathT) -> Any:
        if isinstance(node, yaml.MappingNode):
            if node.tag != "tag:yaml.org,2002:map":
                self.err(node, path, f"tag {node.tag!r} is not allowed (plain mappings only)")
                return None
            self.loader.flatten_mapping(node)  # resolve `<<: *anchor` merges
            out: dict[str, Any] = {}
            for knode, vnode in node.value:
                key = self.scalar(knode, path) if isinstance(knode, yaml.ScalarNode) else None
                if key is None or isinstance(key, list | dict):
                    self.err(knode, path, "a key must be a plain name")
                    continue
                key = str(key)
                if key in out:
                    self.err(
                        knode,
                        (*path, key),
                        f"duplicate key {key!r} (first at line {self.key_lines[(*path, key)]})",
                    )
                    continue
                self.key_lines[(*path, key)] = knode.start_mark.line + 1
                out[key] = self.node(vnode, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                self.err(node, path, f"tag {node.tag!r} is not allowed (plain lists only)")
                return None
            return [self.node(v, (*path, i)) for i, v in enumerate(node.value)]
        return None

    def scalar(self, node: yaml.Node, path: PathT) -> Any:
        # An allow-list: `tag:yaml.org,2002:python/object:...` also starts with the
        # standard prefix, so a deny-list of collection tags let it through.
        if node.tag not in _SCALAR_TAGS:
            shown = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.err(
                node,
                path,
                f"tag {shown!r} is not allowed (plain values only: strings, numbers, "
                "booleans, null)",
            )
            return None
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            self.err(node, path, f"cannot read this value: {problem}")
            return None


MAX_VALUES = 100_000  # far above any experiment; bounds what aliases can expand to

_SCALAR_TAGS = frozenset(
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "timestamp")
)


def _yaml_error(file: str, e: yaml.YAMLError) -> ValidationError:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    text = f"{context}: {problem}" if context else str(problem)
    hint = ""
    if "tab" in str(problem) or "\\t" in str(problem):
        hint = "; indent with spaces, not tabs"
    elif any(
        s in str(problem) for s in ("block end", "mapping values are not allowed", "block mapping")
    ):
        hint = (
            "; bad indentation: fields of one mapping must start in the same column, "
            "nested fields further right (spaces only)"
        )
    return ValidationError(file, line, "", f"invalid YAML ({text}){hint}")


def parse_text(text: str, file: str) -> tuple[Source | None, list[ValidationError]]:
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as e:  # a control character, checked before parsing
        line = text.count("\n", 0, e.position) + 1
        msg = f"invalid YAML: character {e.character:#x} is not allowed in a YAML file"
        return None, [ValidationError(file, line, "", msg)]
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as e:
        return None, [_yaml_error(file, e)]
    finally:
        loader.dispose()
    if root is None:
        return None, [
            ValidationError(file, 1, "", "the file is empty; an experiment is a YAML mapping")
        ]
    conv = _Convert(loader, file)
    data = conv.node(root, ())
    if conv.errors:
        return None, conv.errors
    if not isinstance(data, dict):
        return None, [
            ValidationError(
                file,
                root.start_mark.line + 1,
                "",
                "an experiment is a YAML mapping of fields (name:, topology:, ...), not a "
                + {list: "list", str: "string", int: "number", float: "number"}.get(
                    type(data), type(data).__name__
                ),
            )
        ]
    return Source(file, data, conv.lines, conv.key_lines), []


def parse_file(path: str | Path) -> tuple[Source | None, list[ValidationError]]:
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [ValidationError(file, None, "", "file not found")]
    except (OSError, UnicodeDecodeError) as e:
        return None, [ValidationError(file, None, "", f"cannot read: {e}")]
    return parse_text(text, file)


def apply_overrides(src: Source, overrides: list[str] | tuple[str, ...]) -> list[ValidationError]:
    """Apply `path=value` overrides (value parsed as YAML) in order; errors name the override."""
    errors: list[ValidationError] = []
    for text in overrides:

        def fail(msg: str, text: str = text) -> None:
            errors.append(ValidationError(src.file, None, "", f"--set {text}: {msg}"))

        if "=" not in text:
            fail("expected PATH=VALUE, e.g. load.duration=10s or schedule.0.for=5s")
            continue
        path_text, value_text = text.split("=", 1)
        parts = [p for p in path_text.strip().split(".")]
        if not path_text.strip() or any(not p for p in parts):
            fail("the path is empty or has an empty part; e.g. load.duration")
            continue
        try:
            value = yaml.safe_load(value_text) if value_text.strip() else ""
        except yaml.YAMLError as e:
            fail(f"the value is not valid YAML: {e}")
            continue
        node: Any = src.data
        path: list[str | int] = []
        ok = True
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit():
                    fail(
                        f"{dotted(tuple(path)) or 'the document'} is a list; use an index (0..{len(node) - 1})"
                    )
                    ok = False
                    break
                idx = int(part)
                if idx > len(node):
                    fail(
                        f"{dotted(tuple(path))} has {len(node)} entr{'y' if len(node) == 1 else 'ies'}; "
                        f"use 0..{len(node)} ({len(node)} appends)"
                    )
                    ok = False
                    break
                if idx == len(node):
                    node.append({} if not last else None)
                key: str | int = idx
            elif isinstance(node, dict):
                key = part
                if key not in node and not last:
                    node[key] = [] if parts[i + 1].isdigit() else {}
            else:
                fail(f"{dotted(tuple(path))} is a single value, it has no field {part!r}")
                ok = False
                break
            path.append(key)
            if last:
                node[key] = value
            else:
                node = node[key]
        if ok:
            src.overridden[tuple(path)] = text
    return errors
