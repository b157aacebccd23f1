"""Reads Bicep with the tree-sitter-bicep grammar (no Bicep compiler can be installed here)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import tree_sitter as ts
import tree_sitter_bicep

INFRA = Path(__file__).resolve().parent.parent / "infra"


@lru_cache(maxsize=1)
def _parser() -> ts.Parser:
    return ts.Parser(ts.Language(tree_sitter_bicep.language()))


@dataclass(frozen=True)
class BicepFile:
    path: Path
    root: ts.Node

    @classmethod
    def load(cls, path: Path) -> BicepFile:
        return cls(path, _parser().parse(path.read_bytes()).root_node)

    def problems(self) -> list[str]:
        return [
            f"{self.path.name}:{n.start_point[0] + 1}: {'missing' if n.is_missing else 'error'} {n.type}"
            for n in walk(self.root)
            if n.type == "ERROR" or n.is_missing
        ]

    def resources(self, type_prefix: str = "") -> list[tuple[str, ts.Node]]:
        """(type string, body object) of each resource declaration, nested ones included."""
        found = []
        for node in walk(self.root):
            if node.type == "resource_declaration":
                kind = text(next(c for c in node.children if c.type == "string"))
                body = next((c for c in node.children if c.type in ("object", "if_statement", "for_statement")), None)
                body = find_object(body) if body is not None else None
                if kind.startswith(type_prefix) and body is not None:
                    found.append((kind, body))
        return found

    def declarations(self, kind: str) -> list[tuple[str, ts.Node, list[str]]]:
        """(name, node, decorator texts) of each top-level param/output/module/var."""
        result, decorators = [], []
        for node in self.root.children:
            if node.type == "decorators":
                decorators = [text(d) for d in node.children if d.type == "decorator"]
                continue
            if node.type == kind:
                name = next(c for c in node.children if c.type == "identifier")
                result.append((text(name), node, decorators))
            decorators = []
        return result

    @property
    def source(self) -> str:
        return self.path.read_text(encoding="utf-8")


def walk(node: ts.Node) -> Iterator[ts.Node]:
    yield node
    for child in node.children:
        yield from walk(child)


def text(node: ts.Node) -> str:
    """A string node's content (without quotes), or any other node's source text."""
    raw = node.text.decode()
    if node.type == "string":
        return raw[1:-1]
    return raw


def find_object(node: ts.Node) -> ts.Node | None:
    if node.type == "object":
        return node
    for child in node.children:
        found = find_object(child)
        if found is not None:
            return found
    return None


def properties(obj: ts.Node) -> dict[str, ts.Node]:
    """An object literal's properties: key -> value node (nested resources are skipped)."""
    result = {}
    for prop in obj.children:
        if prop.type != "object_property" or prop.children[0].type not in ("identifier", "string"):
            continue
        key = text(prop.children[0])
        value = next((c for c in prop.children[2:] if c.type not in (":", ",")), None)
        if value is not None:
            result[key] = value
    return result


def path(obj: ts.Node, *keys: str) -> ts.Node:
    node = obj
    for key in keys:
        node = properties(node)[key]
    return node


def all_files() -> list[BicepFile]:
    return [BicepFile.load(p) for p in sorted(INFRA.rglob("*.bicep"))]


def load(relative: str) -> BicepFile:
    return BicepFile.load(INFRA / relative)
