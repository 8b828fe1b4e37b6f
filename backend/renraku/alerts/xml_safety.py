"""Parsing alert XML from strangers: size first, then no DTD, no entities, nothing fetched.

The document is read twice by expat. The first pass only watches: any document type declaration
(where every entity, internal or external, would have to be declared) or entity declaration stops
it, so no entity can be expanded (billion laughs) or resolved (external entities, network). A
document that passes holds only the five predefined entities and character references, and only
then is it parsed into a tree. Both passes run on the same bytes with the same parser.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, NoReturn
from xml.parsers import expat

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


class Rejected(Exception):
    """A document refused as a whole; `reason` names the element (or the rule) at fault."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def namespace_of(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


class _Watcher:
    """The checking pass: keeps the open elements so a failure can say where it happened."""

    def __init__(self) -> None:
        self.path: list[str] = []
        self.parser = expat.ParserCreate(namespace_separator="}")
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.StartDoctypeDeclHandler = self.doctype
        self.parser.EntityDeclHandler = self.entity
        self.parser.UnparsedEntityDeclHandler = self.unparsed_entity
        self.parser.ExternalEntityRefHandler = self.external_entity
        # Never read an external DTD subset, whatever the document says.
        self.parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def where(self) -> str:
        if not self.path:
            return "the document's prolog"
        return "<" + "/".join(self.path) + ">"

    def start(self, tag: str, _attributes: dict[str, str]) -> None:
        self.path.append(local_name(tag))

    def end(self, _tag: str) -> None:
        self.path.pop()

    def doctype(self, name: str, *_rest: Any) -> NoReturn:
        raise Rejected(f"<!DOCTYPE {name}>: document type declarations are refused")

    def entity(self, name: str, *_rest: Any) -> NoReturn:
        raise Rejected(f"<!ENTITY {name}>: entity declarations are refused")

    def unparsed_entity(self, name: str, *_rest: Any) -> NoReturn:
        raise Rejected(f"<!ENTITY {name}>: entity declarations are refused")

    def external_entity(self, *_rest: Any) -> NoReturn:
        raise Rejected(f"{self.where()}: external entities are refused")


def parse_xml(data: bytes) -> ET.Element:
    """The root element of a safe, well-formed document; Rejected otherwise."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise Rejected(f"document: {len(data)} bytes is over the {MAX_DOCUMENT_BYTES} byte limit")
    if not data.strip():
        raise Rejected("document: empty")
    watcher = _Watcher()
    try:
        watcher.parser.Parse(data, True)
    except expat.ExpatError as error:
        message = expat.ErrorString(error.code)
        raise Rejected(
            f"{watcher.where()}: not well-formed XML ({message}, line {error.lineno})"
        ) from None
    try:
        return ET.fromstring(data)  # noqa: S314 - checked above: no DTD, no entity declared
    except ET.ParseError as error:
        raise Rejected(f"document: not well-formed XML ({error})") from None
