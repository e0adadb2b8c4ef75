"""YAML as the Pulumi CLI reads a stack file, for the offline tools that read `Pulumi.<stack>.yaml` without it.

The CLI decodes stack files with Go's gopkg.in/yaml.v3 (pulumi/pulumi `sdk/go/common/encoding/marshal.go`,
read 2026-08): YAML 1.2's core schema, not PyYAML's YAML 1.1. So `10:00` is the string "10:00" (YAML 1.1
reads 600), `on`/`off`/`yes`/`no` are strings, only `true`/`false` (in three spellings) are booleans,
`0x1F`, `0o17`, `017` and `1_000` are integers, and a key defined twice in one mapping is an error
(go-yaml v3.0.1 `resolve.go`, `decode.go`). This module reproduces that resolution on PyYAML's composer
and turns every problem into a `YamlProblem` with its line — never the text of the line, which may hold
a secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

MAX_BYTES = 1 << 20  # a stack file is a few kilobytes
MAX_DEPTH = 32  # the deepest setting is 5 levels below `config:`
# Composing stops here: deeper than any setting by far, yet well inside Python's recursion limit. PyYAML's
# scanner does work proportional to the depth for every token of a flow collection, so a document of
# thousands of `[` took most of a second to reach the recursion limit.
MAX_COMPOSE_DEPTH = 4 * MAX_DEPTH
MAX_VALUES = 10_000  # aliases can multiply a small file into a huge document ("billion laughs")

Path = tuple[str, ...]

_PLAIN = "!plain"  # our marker for an untagged plain scalar, resolved below as yaml.v3 does
_TAG = "tag:yaml.org,2002:"
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NON_FINITE = {".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
               "-.INF"}
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_TIMESTAMP_START = re.compile(r"[0-9]{4}-")
_INT64_MAX, _UINT64_MAX = (1 << 63) - 1, (1 << 64) - 1
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")


@dataclass(frozen=True)
class YamlProblem:
    path: Path  # keys from the document's root to the problem
    line: int  # 1-based
    message: str


@dataclass
class Document:
    """A stack file's content: plain Python data, the text of every scalar as written, and the problems."""

    data: Any = None
    written: dict[Path, str] = field(default_factory=dict)  # path -> the scalar as the user typed it
    lines: dict[Path, int] = field(default_factory=dict)  # path -> line of its key
    problems: list[YamlProblem] = field(default_factory=list)


class NonFinite(float):
    """`.nan` / `.inf`: a YAML float that the CLI cannot hand a program as JSON."""


class _Resolver(BaseResolver):
    def resolve(self, kind, value, implicit):
        if kind is ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)


class _TooDeepError(Exception):
    """Nested deeper than MAX_COMPOSE_DEPTH."""


class _Loader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer, _Resolver):
    def __init__(self, text: str):
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Resolver.__init__(self)
        self.depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_COMPOSE_DEPTH:
                raise _TooDeepError
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _go_int(text: str) -> int | None:
    """Go's strconv.ParseInt, then ParseUint, with base 0 (as yaml.v3 calls them); None when both fail."""
    match = _GO_INT.fullmatch(text)
    if not match:
        return None
    sign, digits = match.groups()
    base = {"0x": 16, "0o": 8, "0b": 2}.get(digits[:2].lower())
    # Go reads a leading 0 as octal.
    value = int(digits[2:], base) if base else int(digits, 8 if digits.startswith("0") else 10)
    value = -value if sign == "-" else value
    upper = _UINT64_MAX if not sign else _INT64_MAX  # ParseUint takes no sign
    return value if -_INT64_MAX - 1 <= value <= upper else None


def resolve_plain(text: str) -> Any:
    """An untagged plain scalar, resolved as yaml.v3 resolves it into an `interface{}`."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _NON_FINITE:
        return NonFinite(text.replace(".", "").replace("+", ""))
    if text[0] == ".":
        return float(text) if _DOT_FLOAT.fullmatch(text) else text
    if text[0] not in "+-0123456789":
        return text
    if _TIMESTAMP_START.match(text):
        # yaml.v3 makes a time.Time of it, which the CLI turns into Go's time format; no setting is a date,
        # so the text as written is what any message should show.
        return text
    plain = text.replace("_", "")
    number = _go_int(plain)
    if number is not None:
        return number
    if _FLOAT.fullmatch(plain):
        value = float(plain)
        return value if value not in (float("inf"), float("-inf")) else text  # Go: out of range, a string
    return text


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def _written(node: ScalarNode) -> str:
    quote = {"'": "'", '"': '"'}.get(node.style or "", "")
    return f"{quote}{node.value}{quote}"


class _Builder:
    """Turns composed nodes into Python data, collecting every problem rather than stopping at the first."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.count = 0
        self.open: set[int] = set()  # nodes being built: an alias back to one of them is a cycle

    def problem(self, path: Path, node: Node, message: str) -> None:
        self.doc.problems.append(YamlProblem(path, node.start_mark.line + 1, message))

    def build(self, node: Node, path: Path = ()) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _UnreadableError(path, node, f"expands to more than {MAX_VALUES} values (YAML aliases?); a stack "
                                          "file holds a few dozen")
        if len(path) > MAX_DEPTH:
            raise _UnreadableError(path, node, f"is nested deeper than {MAX_DEPTH} levels; no setting is")
        if id(node) in self.open:
            raise _UnreadableError(path, node, "is a YAML alias that contains itself")
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        self.open.add(id(node))
        try:
            return self.collection(node, path)
        finally:
            self.open.discard(id(node))

    def collection(self, node: Node, path: Path) -> Any:
        if isinstance(node, SequenceNode) and node.tag == _TAG + "seq":
            return [self.build(item, path + (str(i),)) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode) and node.tag == _TAG + "map":
            return self.mapping(node, path)
        self.problem(path, node, f"has the YAML tag {_short(node.tag)}, which a stack file cannot use")
        return None

    def scalar(self, node: ScalarNode, path: Path) -> Any:
        self.doc.written[path] = _written(node)
        if node.tag == _PLAIN:
            value = resolve_plain(node.value)
            if isinstance(value, NonFinite):
                self.problem(path, node, "is not a finite number (.nan/.inf cannot be passed to the program as "
                                         "JSON); write a number")
                return None
            return value
        if node.tag in (_TAG + "str", "!"):
            return node.value
        return self.tagged(node, path)

    def tagged(self, node: ScalarNode, path: Path) -> Any:
        tag = node.tag.removeprefix(_TAG)
        value = resolve_plain(node.value) if tag in ("int", "float", "bool", "null") else None
        kinds = {"int": (int,), "float": (int, float), "bool": (bool,), "null": (type(None),)}
        if tag not in kinds:
            self.problem(path, node, f"has the YAML tag {_short(node.tag)}, which a stack file cannot use")
            return None
        if not isinstance(value, kinds[tag]) or (tag != "bool" and isinstance(value, bool)):
            self.problem(path, node, f"is tagged !!{tag} but is not one")
            return None
        return float(value) if tag == "float" and isinstance(value, int) else value  # `!!float 1` is 1.0

    def mapping(self, node: MappingNode, path: Path) -> dict:
        out: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            if key is None:
                continue
            line = key_node.start_mark.line + 1
            if key in seen:
                self.problem(path + (key,), key_node, f"is defined twice in one mapping (lines {seen[key]} and "
                                                      f"{line}); the Pulumi CLI refuses that: keep one")
                continue
            seen[key] = line
            self.doc.lines[path + (key,)] = line
            out[key] = self.build(value_node, path + (key,))
        return out

    def key(self, node: Node, path: Path) -> str | None:
        if not isinstance(node, ScalarNode):
            self.problem(path, node, "has a key that is a list or mapping; keys are names")
            return None
        if node.tag == _PLAIN and node.value == "<<":
            self.problem(path, node, "uses a YAML merge key (<<); write the keys out")
            return None
        key = resolve_plain(node.value) if node.tag == _PLAIN else node.value
        if not isinstance(key, str) or node.tag not in (_PLAIN, _TAG + "str", "!"):
            self.problem(path, node, f"has the key {_written(node) or 'null'}, which YAML reads as a value, not a "
                                     "name; quote it if you meant the text")
            return None
        if key == "":
            self.problem(path, node, "has an empty key")
            return None
        return key


class _UnreadableError(Exception):
    """A document that cannot be turned into data at all (too deep, too large, cyclic). Reported at the
    setting it starts in (`config: <key>`), not at the endless path below it."""

    def __init__(self, path: Path, node: Node, message: str):
        super().__init__(message)
        self.problem = YamlProblem(path[:2], node.start_mark.line + 1, message)


def _syntax_problem(err: yaml.YAMLError, text: str) -> YamlProblem:
    """A YAML syntax error by position, never with the offending text (it may be a secret)."""
    if isinstance(err, yaml.reader.ReaderError):
        line = text.count("\n", 0, err.position) + 1
        return YamlProblem((), line, f"holds a control character YAML does not allow (code {err.character:#x}) "
                                     f"on line {line}")
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    # PyYAML quotes the offending character or alias name; longer quoted text could be part of a value.
    what = re.sub(r"'[^']{3,}'", "'…'", str(getattr(err, "problem", None) or "unreadable"))
    if mark is None:
        return YamlProblem((), 0, f"is not valid YAML: {what}")
    context, started = getattr(err, "context", None), getattr(err, "context_mark", None)
    scope = f" ({context} from line {started.line + 1})" if context and started and started is not mark else ""
    return YamlProblem((), mark.line + 1, f"is not valid YAML at line {mark.line + 1}, column {mark.column + 1}: "
                                          f"{what}{scope}")


def parse(text: str) -> Document:
    """Parse one stack file's text. Never raises for any input; problems are in `Document.problems`."""
    doc = Document()
    loader = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
    except yaml.composer.ComposerError as err:
        if "single document" in str(err.context) and err.problem_mark is not None:
            line = err.problem_mark.line + 1
            doc.problems.append(YamlProblem((), line, f"holds more than one YAML document (the second starts "
                                                      f"at line {line}); a stack file holds one"))
        else:
            doc.problems.append(_syntax_problem(err, text))
        return doc
    except yaml.YAMLError as err:
        doc.problems.append(_syntax_problem(err, text))
        return doc
    except (_TooDeepError, RecursionError):
        doc.problems.append(YamlProblem((), 0, f"is nested far deeper than any setting ({MAX_DEPTH} levels at "
                                               "most)"))
        return doc
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        return doc
    try:
        doc.data = _Builder(doc).build(root)
    except _UnreadableError as err:
        doc.problems.append(err.problem)
        doc.data = None
    return doc
