"""Parsing alert XML from strangers: size first, then defusedxml with no DTD, entity or fetch.

defusedxml (not a parser of our own) refuses any document type declaration, entity declaration
or external reference as expat meets it, so no entity is expanded (billion laughs) or resolved
(external entities, the network). The tree builder only remembers the open elements, so that a
refusal or a syntax error can say where it happened. Nothing is stored before this returns.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

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


class _PathBuilder(ET.TreeBuilder):
    """ElementTree's own builder, keeping the path of open elements for the reasons."""

    def __init__(self) -> None:
        super().__init__()
        self.path: list[str] = []

    def start(self, tag: Any, attrs: dict[Any, Any], /) -> ET.Element:
        self.path.append(local_name(tag))
        return super().start(tag, attrs)

    def end(self, tag: Any, /) -> ET.Element:
        self.path.pop()
        return super().end(tag)

    def where(self) -> str:
        return "<" + "/".join(self.path) + ">" if self.path else "the document's prolog"


def parse_xml(data: bytes) -> ET.Element:
    """The root element of a safe, well-formed document; Rejected otherwise."""
    # Counted before any parser sees the bytes: a huge document costs nothing but its length.
    if len(data) > MAX_DOCUMENT_BYTES:
        raise Rejected(f"document: {len(data)} bytes is over the {MAX_DOCUMENT_BYTES} byte limit")
    if not data.strip():
        raise Rejected("document: empty")
    builder = _PathBuilder()
    parser = DefusedXMLParser(
        target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(data)
        root: ET.Element = parser.close()
    # A DTD is refused at its start, so the entity and external cases below are a second line:
    # they can only come up if defusedxml ever lets a declaration through.
    except DTDForbidden as error:
        raise Rejected(f"<!DOCTYPE {error.name}>: document type declarations are refused") from None
    except EntitiesForbidden as error:
        raise Rejected(f"<!ENTITY {error.name}>: entity declarations are refused") from None
    except ExternalReferenceForbidden as error:
        raise Rejected(
            f"{builder.where()}: external reference {error.sysid or error.pubid!r} is refused"
        ) from None
    except ET.ParseError as error:
        raise Rejected(f"{builder.where()}: not well-formed XML ({error})") from None
    return root
