"""Safe YAML reading that keeps the line and column of every node.

PyYAML's composer (libyaml when present) builds the node graph; we turn nodes into
plain JSON-compatible data ourselves so that nothing can construct a Python object,
duplicate keys are errors rather than last-one-wins, alias expansion and nesting are
bounded, and each value's position survives for error messages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from controller.diagnostics import Diagnostic, error, warning

try:  # libyaml is an order of magnitude faster; the pure-Python loader is the fallback
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 2 * 1024 * 1024
    max_documents: int = 200
    max_depth: int = 64
    max_nodes: int = 200_000  # per file, counting every alias expansion


DEFAULT_LIMITS = Limits()

Path_ = tuple  # a JSON path: tuple of str keys and int indexes


@dataclass
class Positions:
    """Where each value (and each mapping key) of a document starts, 1-based."""

    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: Path_, key: bool = False) -> tuple[int, int]:
        """Position of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        table = self.keys if key else self.values
        while True:
            if path in table:
                return table[path]
            if key and path in self.values:
                return self.values[path]
            if not path:
                return (1, 1)
            path = path[:-1]
            table = self.keys if key and path in self.keys else self.values


@dataclass
class Document:
    path: str  # repository-relative
    index: int  # 0-based position in the file's document stream
    data: Any
    positions: Positions
    lines: tuple[int, int] = (0, 0)  # first and last line of the document in its file, 1-based


_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _TIMESTAMP, _MERGE = (_TAG + t for t in ("map", "seq", "timestamp", "merge"))
_constructor = yaml.SafeLoader("")  # only its scalar constructors are used: they build ints, floats, bools


def _literals(tag: str) -> list[re.Pattern]:
    """The patterns YAML's own resolver reads as `tag` (PyYAML's implicit resolvers)."""
    found = {r.pattern: r for rs in yaml.resolver.Resolver.yaml_implicit_resolvers.values() for t, r in rs if t == tag}
    return list(found.values())


# What the text of a scalar tagged !!int, !!float, !!bool or !!null may be: exactly what YAML reads
# as that type when it is untagged. A tag does not make "four" a number: PyYAML's constructors
# assume the resolver matched and fail with a ValueError, a KeyError, an IndexError (or, for
# !!null, return None for any text). An int is a valid float literal too.
_LITERAL = {_INT: _literals(_INT), _FLOAT: _literals(_FLOAT) + _literals(_INT), _BOOL: _literals(_BOOL),
            _NULL: _literals(_NULL)}
_TYPE_NAME = {_INT: "an integer", _FLOAT: "a number", _BOOL: "a boolean (true or false)", _NULL: "null"}

# The largest integer a manifest may hold. ARM takes 64-bit integers, but every number on its way
# there passes through the Pulumi engine as an IEEE double, which holds integers exactly only up
# to 2^53 (JSON's interoperable range, RFC 7493): beyond it a value would silently arrive changed.
MAX_INTEGER = 2 ** 53 - 1


class _Fail(Exception):
    def __init__(self, code: str, node: yaml.Node | None, message: str) -> None:
        super().__init__(message)
        self.code, self.node, self.message = code, node, message


def _pos(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, limits: Limits, positions: Positions) -> None:
        self.limits = limits
        self.positions = positions
        self.nodes = 0
        self.active: set[int] = set()  # ids of nodes being built: an alias back into one is a cycle
        self.repeated: list[tuple[yaml.Node, str]] = []  # keys given twice with the same value

    def build(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise _Fail("Y003", node, f"the document expands to more than {self.limits.max_nodes} nodes "
                        "(aliases that multiply, a 'billion laughs' document?)")
        if depth > self.limits.max_depth:
            raise _Fail("Y004", node, f"nesting deeper than {self.limits.max_depth} levels")
        self.positions.values.setdefault(path, _pos(node))
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            raise _Fail("Y003", node, "an alias refers to a node that contains it (a recursive structure)")
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _SEQ:
                    raise _Fail("Y008", node, f"YAML tag {node.tag!r} is not allowed: only plain data is")
                return [self.build(child, path + (i,), depth + 1) for i, child in enumerate(node.value)]
            if node.tag != _MAP:
                raise _Fail("Y008", node, f"YAML tag {node.tag!r} is not allowed: only plain data is")
            return self.mapping(node, path, depth)
        finally:
            self.active.discard(id(node))

    def mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Fail("Y009", key_node, "mapping keys must be plain scalars, not a mapping or a list "
                            "(an unsubstituted '{{PLACEHOLDER}}' template?)")
            if key_node.tag not in (_STR, _INT, _FLOAT, _BOOL, _NULL):
                raise _Fail("Y008", key_node, f"YAML tag {key_node.tag!r} is not allowed on a key")
            key = key_node.value
            if key in out:
                first = self.positions.keys[path + (key,)]
                again = _Builder(self.limits, Positions()).build(value_node, path + (key,), depth + 1)
                if again == out[key] and type(again) is type(out[key]):
                    # Harmless (upstream mlops-v2 files have one): nothing is lost, so a warning.
                    self.repeated.append((key_node, f"key {key!r} is given twice with the same value (first at "
                                                    f"line {first[0]}); drop one"))
                    continue
                raise _Fail("Y002", key_node, f"duplicate key {key!r} (first defined at line {first[0]}) with "
                            "another value; YAML keeps only the last one, so one of them would be silently lost")
            self.positions.keys[path + (key,)] = _pos(key_node)
            out[key] = self.build(value_node, path + (key,), depth + 1)
        # Merged keys come after explicit ones so that explicit keys keep their own positions.
        for value_node in merges:
            for source in self.merge_sources(value_node, path, depth):
                for k, v in source.items():
                    out.setdefault(k, v)
        return out

    def merge_sources(self, node: yaml.Node, path: Path_, depth: int) -> list[dict[str, Any]]:
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        sources = []
        for n in nodes:
            if not isinstance(n, yaml.MappingNode):
                raise _Fail("Y001", n, "a merge key '<<' takes a mapping or a list of mappings")
            sources.append(self.build(n, path, depth + 1))
        return sources

    def scalar(self, node: yaml.ScalarNode, path: Path_ = ()) -> Any:
        tag = node.tag
        if tag == _STR or tag == _TIMESTAMP:
            # Timestamps stay text: JSON has no date type and Azure takes ISO strings.
            return node.value
        if tag not in _LITERAL:
            raise _Fail("Y008", node, f"YAML tag {tag!r} is not allowed: only plain data is "
                        "(strings, numbers, booleans, null, mappings, lists)")
        if not any(r.match(node.value) for r in _LITERAL[tag]):
            raise _Fail("Y001", node, f"{_field(path)}{_shown(node.value)} is not {_TYPE_NAME[tag]}, as its tag "
                        f"!!{tag[len(_TAG):]} says; write the value, or drop the tag to make it a string")
        try:
            if tag == _NULL:
                return None
            if tag == _BOOL:
                return _constructor.construct_yaml_bool(node)
            value = (_constructor.construct_yaml_int if tag == _INT else _constructor.construct_yaml_float)(node)
        except ValueError:
            # The text has an integer's shape, yet Python will not build it: longer than it converts
            # (sys.get_int_max_str_digits) or, like '0b_', digits missing.
            if tag == _INT and len(node.value) > 20:
                raise _Fail("Y014", node, f"{_field(path)}an integer of {len(node.value)} characters is beyond what "
                            f"ARM and the engine carry exactly (at most {MAX_INTEGER:,} either way)") from None
            raise _Fail("Y001", node, f"{_field(path)}{_shown(node.value)} is not {_TYPE_NAME[tag]}") from None
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise _Fail("Y001", node, f"{_field(path)}{node.value!r} is not a finite number")
        if isinstance(value, int) and abs(value) > MAX_INTEGER:
            shown = f"{value}" if len(str(value)) <= 24 else f"an integer of {len(str(abs(value)))} digits"
            raise _Fail("Y014", node, f"{_field(path)}{shown} is beyond what ARM and the engine carry exactly (at "
                        f"most {MAX_INTEGER:,} either way: numbers reach ARM through the engine as doubles); "
                        "if it is an identifier, quote it to make it a string")
        return value


def _field(path: Path_) -> str:
    """'spec.max_instances: ' for messages about a value (nothing at the document's top)."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return f"{out}: " if out else ""


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:40] + "...")


def _mark_of(exc: yaml.MarkedYAMLError) -> tuple[int, int]:
    mark = exc.problem_mark or exc.context_mark
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


_CONTROL_NAMES = {0: "NUL", 7: "BEL", 8: "BS", 0x0B: "VT", 0x0C: "FF", 0x1B: "ESC", 0x7F: "DEL"}


def _character(code: Any) -> str:
    if not isinstance(code, int):
        return repr(code)
    name = _CONTROL_NAMES.get(code)
    return f"U+{code:04X}" + (f" ({name})" if name else "")


def _character_position(text: str, exc: yaml.reader.ReaderError) -> tuple[int, int]:
    """Line and column of the character the reader refused. Its `position` counts characters in
    the pure-Python reader but UTF-8 bytes in libyaml's; the character itself is unambiguous: the
    reader stops at its first occurrence, as it refuses it wherever it stands."""
    at = text.find(chr(exc.character)) if isinstance(exc.character, int) else -1
    if at < 0:
        at = min(max(int(exc.position or 0), 0), len(text))
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def decode(path: str, raw: bytes) -> tuple[str | None, list[Diagnostic]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [error(path, line, col, "Y007", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8; "
                            "save the file as UTF-8")]
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, []


def parse(path: str, raw: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[list[Document], list[Diagnostic]]:
    """Parse one file's bytes into documents. Never raises for bad input."""
    if len(raw) > limits.max_bytes:
        return [], [error(path, 0, 0, "Y005", f"the file is {len(raw):,} bytes; the limit is "
                          f"{limits.max_bytes:,} (manifests are small: is this a data file?)")]
    text, diags = decode(path, raw)
    if text is None:
        return [], diags
    docs: list[Document] = []
    warnings: list[Diagnostic] = []
    loader = _Loader(text)
    try:
        index = 0
        while loader.check_node():
            if index >= limits.max_documents:
                return docs, [error(path, loader.peek_event().start_mark.line + 1, 1, "Y006",
                                    f"more than {limits.max_documents} YAML documents in one file")]
            node = loader.get_node()
            if node is not None:
                positions = Positions()
                builder = _Builder(limits, positions)
                try:
                    data = builder.build(node, (), 0)
                except _Fail as fail:
                    line, col = _pos(fail.node) if fail.node is not None else (1, 1)
                    return docs, [error(path, line, col, fail.code, fail.message)]
                warnings += [warning(path, *_pos(n), "Y002", message) for n, message in builder.repeated]
                end = node.end_mark.line + (1 if node.end_mark.column else 0)
                docs.append(Document(path, index, data, positions,
                                     (node.start_mark.line + 1, max(end, node.start_mark.line + 1))))
            index += 1
    except yaml.MarkedYAMLError as exc:
        line, col = _mark_of(exc)
        problem = exc.problem or exc.context or "invalid YAML"
        return docs, [error(path, line, col, "Y001", f"YAML syntax: {problem}")]
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow anywhere in a stream
        line, col = _character_position(text, exc)
        return docs, [error(path, line, col, "Y001", f"character {_character(exc.character)} is not allowed in "
                            "YAML; remove it (a double-quoted string may hold it as an escape, e.g. \\x1b)")]
    except yaml.YAMLError as exc:
        return docs, [error(path, 1, 1, "Y001", f"YAML: {exc}")]
    except RecursionError:
        return docs, [error(path, 1, 1, "Y004", "nesting deeper than the parser can follow")]
    finally:
        loader.dispose()
    docs = [d for d in docs if d.data is not None]
    if not docs:
        return [], [error(path, 1, 1, "Y010", "the file holds no YAML document (it is empty or only comments)")]
    return docs, warnings
