"""Reading YAML files so that every mapping and list remembers the line it came from.

`read_yaml_file` never raises for bad input: size limits, binary content, bad encodings and
YAML syntax errors come back as `Problem`s naming the file and line.

Mappings load as `LineMap` (a dict) and lists as `LineList` (a list); both carry `.line` and
per-key / per-item lines, so later stages can point at `file:line` for anything they complain
about. Scalars are resolved with YAML 1.2 rules like Rasa's reader: `yes`/`no`/`on`/`off` stay
strings, dates stay strings.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from supportbot.errors import Problem

MAX_FILE_BYTES = 20 * 1024 * 1024
"""Files larger than this are refused (a bot project file is rarely above a few MB)."""

MAX_ALIAS_EXPANSION = 100_000
"""How many nodes aliases (`*name`) may add to a file once expanded. Real projects reuse a
block a few times; a file whose aliases nest into millions of nodes (a "billion laughs" bomb)
is refused with the line of the offending anchor."""

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineMap(dict):
    """A dict read from YAML: `line` is where it starts; `key_lines[k]` where key k stands."""

    __slots__ = ("key_lines", "line", "value_lines")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = 0
        self.key_lines: dict[Any, int] = {}
        self.value_lines: dict[Any, int] = {}


class LineList(list):
    """A list read from YAML: `line` is where it starts; `item_lines[i]` where item i stands."""

    __slots__ = ("item_lines", "line")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line = 0
        self.item_lines: list[int] = []


def line_of(obj: Any, key: Any = None, default: int = 0) -> int:
    """1-based line of `obj` (a LineMap/LineList), of its key `key`, or of its item number `key`.

    Falls back to the container's own line, then to `default`, when nothing better is known.
    """
    if isinstance(obj, LineMap):
        if key is not None and key in obj.key_lines:
            return obj.key_lines[key]
        return obj.line or default
    if isinstance(obj, LineList):
        if isinstance(key, int) and 0 <= key < len(obj.item_lines):
            return obj.item_lines[key]
        return obj.line or default
    return default


def value_line(obj: Any, key: Any, default: int = 0) -> int:
    """1-based line where the *content* of `obj[key]` starts (the line after `|` for blocks)."""
    if isinstance(obj, LineMap) and key in obj.value_lines:
        return obj.value_lines[key]
    return line_of(obj, key, default)


def _content_line(node: Any) -> int:
    line = node.start_mark.line + 1
    if isinstance(node, ScalarNode) and node.style in ("|", ">"):
        line += 1
    return line


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader that builds LineMap/LineList and resolves scalars like YAML 1.2."""

    yaml_implicit_resolvers: ClassVar[dict] = {}

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[tuple[str, int, int]] = []

    def construct_line_map(self, node: MappingNode) -> LineMap:
        self.flatten_mapping(node)
        result = LineMap()
        result.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    "found a list or mapping used as a key", key_node.start_mark)
            value = self.construct_object(value_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in result:
                self.duplicate_keys.append((str(key), result.key_lines[key], line))
            result[key] = value
            result.key_lines[key] = line
            result.value_lines[key] = _content_line(value_node)
        return result

    def construct_line_list(self, node: SequenceNode) -> LineList:
        result = LineList()
        result.line = node.start_mark.line + 1
        for child in node.value:
            result.append(self.construct_object(child, deep=True))
            result.item_lines.append(_content_line(child))
        return result

    def construct_plain_str(self, node: ScalarNode) -> str:
        return str(node.value)

    def construct_int12(self, node: ScalarNode) -> int:
        value = str(node.value)
        if value.startswith(("0o", "0x")):
            return int(value, 0)
        return int(value)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_line_map)
_Loader.add_constructor("tag:yaml.org,2002:omap", _Loader.construct_line_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_line_list)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_plain_str)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_int12)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


def parse_yaml(text: str, file: str) -> tuple[Any, list[Problem]]:
    """Parse one YAML document from `text`; problems name `file` and the parser's line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            problem = _alias_problem(node, file)
            if problem is not None:
                return None, [problem]
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or "invalid YAML"
        if exc.context and "expected a single document" in exc.context:
            what = "the file holds more than one YAML document (`---`)"
            hint = "keep one document per file"
        else:
            hint = "check indentation, colons and quotes around this line"
        return None, [Problem("error", f"YAML syntax error: {what}", file, line, hint,
                              code="yaml-syntax")]
    except yaml.YAMLError as exc:  # reader errors: control characters and the like
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        reason = getattr(exc, "reason", None)
        char = getattr(exc, "character", None)
        if isinstance(char, str) and char:
            char = ord(char[0])
        what = (f"character U+{char:04X} is not allowed ({reason})"
                if reason and isinstance(char, int) else str(exc))
        return None, [Problem("error", f"cannot read YAML: {what}", file, line,
                              "remove control or binary characters from the file",
                              code="yaml-syntax")]
    except RecursionError:
        return None, [Problem("error", "YAML is nested too deeply to read", file, None,
                              "flatten the structure", code="yaml-syntax")]
    finally:
        loader.dispose()
    problems = [
        Problem("warning", f"key {key!r} appears twice in one mapping (first at line {first}); "
                           "the later one wins", file, second,
                "remove or rename one of them", code="duplicate-key")
        for key, first, second in loader.duplicate_keys
    ]
    return data, problems


def _alias_problem(root: Node, file: str) -> Problem | None:
    """A Problem when aliases expand `root` by more than MAX_ALIAS_EXPANSION nodes or refer to
    their own parent; counted over the composed node graph (each node once), before anything
    is built."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            total = 1
            for child in _children(node):
                total += sizes[id(child)]
            sizes[key] = total
            if total - len(sizes) > MAX_ALIAS_EXPANSION:
                return Problem(
                    "error", f"aliases (`*name`) expand this block to more than "
                             f"{MAX_ALIAS_EXPANSION:,} items", file, node.start_mark.line + 1,
                    "write the block out or reuse it fewer times; nested aliases multiply",
                    code="alias-bomb")
            continue
        if key in sizes:
            continue
        if key in on_path:
            return Problem("error", "an alias (`*name`) refers to a block that contains it",
                           file, node.start_mark.line + 1,
                           "an anchor cannot be used inside itself", code="alias-loop")
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                return Problem("error", "an alias (`*name`) refers to a block that contains it",
                               file, node.start_mark.line + 1,
                               "an anchor cannot be used inside itself", code="alias-loop")
            if id(child) not in sizes:
                stack.append((child, False))
    return None


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def read_yaml_file(path: Path, file: str) -> tuple[Any, list[Problem]]:
    """Read and parse `path` (reported as `file`); (None, problems) when it cannot be read.

    Only regular files are read (a FIFO, device or socket is refused before it is opened), and
    at most MAX_FILE_BYTES + 1 bytes are read whatever the file claims its size is."""
    try:
        info = path.stat()
    except OSError as exc:
        return None, [Problem("error", f"cannot read file: {exc.strerror}", file,
                              hint="check that it exists and is readable", code="io")]
    if not stat.S_ISREG(info.st_mode):
        return None, [Problem("error", "not a regular file (a device, FIFO or socket)", file,
                              hint="replace it with an ordinary YAML file", code="not-a-file")]
    too_large = Problem(
        "error", f"file is over the limit of {MAX_FILE_BYTES // 1_048_576} MB per file", file,
        hint="split it into several smaller files under data/", code="too-large")
    if info.st_size > MAX_FILE_BYTES:
        return None, [replace(too_large, message=f"file is {info.st_size / 1_048_576:.1f} MB; "
                                                 f"the limit is {MAX_FILE_BYTES // 1_048_576} "
                                                 "MB per file")]
    try:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None, [Problem("error", "not a regular file (a device, FIFO or socket)",
                                      file, hint="replace it with an ordinary YAML file",
                                      code="not-a-file")]
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return None, [Problem("error", f"cannot read file: {exc.strerror}", file,
                              hint="check file permissions", code="io")]
    if len(raw) > MAX_FILE_BYTES:
        return None, [too_large]
    if b"\x00" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
        return None, [Problem("error", "file contains binary data (a NUL byte), not YAML text",
                              file, line, "remove it or replace it with a UTF-8 text file",
                              code="binary")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return None, [Problem("error", f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                              file, line, "save the file with UTF-8 encoding",
                              code="encoding")]
    return parse_yaml(text, file)
