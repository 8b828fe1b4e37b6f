"""Reading an Atom or RSS feed of alerts: which entries it lists, and where each one's document is.

An entry either links to its document (JMA's own feeds are Atom feeds whose entries link to XML
documents; MeteoAlarm's and many CAP servers' link to `application/cap+xml`) or carries it inside
(an `<alert>` or `<Report>` element in the entry or its `<content>`). The feed comes from outside
like the documents do, so it is parsed the same safe way (xml_safety: size first, then defusedxml
with no DTD, entity or fetch). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin

from renraku.alerts.xml_safety import Rejected, local_name, namespace_of, parse_xml

ATOM = "http://www.w3.org/2005/Atom"
RSS1 = "http://purl.org/rss/1.0/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DC = "http://purl.org/dc/elements/1.1/"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The roots of documents an entry may carry inside (CAP and JMA; import_document decides).
DOCUMENT_ROOTS = frozenset({"alert", "Report"})
MAX_KEY_LENGTH = 2000


class FeedError(Exception):
    """A feed refused as a whole; `reason` says why (and names the element when one is at fault)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FeedEntry:
    # The entry's id (Atom id, RSS guid), else its link: what `alerts watch` remembers.
    key: str
    # Its update time as the feed wrote it ("" without one): a change means a new document.
    updated: str
    # The document's absolute URL, or None when the entry carries the document itself.
    link: str | None
    document: bytes | None = None


def parse_feed(data: bytes, base_url: str) -> list[FeedEntry]:
    """The entries of an Atom or RSS (2.0 or 1.0) feed, oldest first; FeedError otherwise.

    Feeds list their newest entry first, and an update must come after the alert it updates:
    entries are returned by their update time when every one has a readable time, else in the
    reverse of the feed's order. An entry without a document is left out.
    """
    try:
        root = parse_xml(data)
    except Rejected as rejected:
        reason = rejected.reason.removeprefix("document: ")
        raise FeedError(f"feed: {reason}") from None
    name, space = local_name(root.tag), namespace_of(root.tag)
    if name == "feed" and space == ATOM:
        entries = [_atom_entry(item, base_url) for item in root.findall(f"{{{ATOM}}}entry")]
    elif name == "rss" and space == "":
        entries = [_rss_entry(item, base_url) for item in root.iterfind("channel/item")]
    elif name == "RDF":
        entries = [_rss_entry(item, base_url) for item in root.findall(f"{{{RSS1}}}item")]
    else:
        where = f"{{{space}}}{name}" if space else name
        raise FeedError(f"feed: <{where}> is neither an Atom feed nor an RSS channel")
    found = [entry for entry in entries if entry is not None]
    found.reverse()
    times = [_time(entry.updated) for entry in found]
    if found and all(t is not None for t in times):
        order = sorted(range(len(found)), key=lambda i: times[i] or _EPOCH)
        found = [found[i] for i in order]
    return found


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _embedded(children: Iterable[ET.Element]) -> bytes | None:
    for child in children:
        if namespace_of(child.tag) not in ("", ATOM) and local_name(child.tag) in DOCUMENT_ROOTS:
            document: bytes = ET.tostring(child, encoding="utf-8")
            return document
    return None


def _atom_link(entry: ET.Element) -> str:
    """The link most likely to be the document: a CAP type, then any XML type, then a plain
    alternate link with no type; never one said to be HTML or something else."""
    best, best_score = "", 0
    for link in entry.findall(f"{{{ATOM}}}link"):
        href = (link.get("href") or "").strip()
        rel = link.get("rel", "alternate")
        kind = (link.get("type") or "").lower()
        if not href or rel not in ("alternate", "related", "enclosure"):
            continue
        if "cap" in kind:
            score = 3
        elif "xml" in kind:
            score = 2
        elif not kind and rel == "alternate":
            score = 1
        else:
            score = 0
        if score > best_score:
            best, best_score = href, score
    return best


def _atom_entry(entry: ET.Element, base_url: str) -> FeedEntry | None:
    key = _text(entry.find(f"{{{ATOM}}}id"))
    updated = _text(entry.find(f"{{{ATOM}}}updated")) or _text(entry.find(f"{{{ATOM}}}published"))
    content = entry.find(f"{{{ATOM}}}content")
    document = _embedded(entry)
    if document is None and content is not None:
        document = _embedded(content)
    link = ""
    if document is None:
        source = (content.get("src") or "").strip() if content is not None else ""
        link = source or _atom_link(entry)
    if document is None and not link and content is not None:
        kind = (content.get("type") or "text").lower()
        text = (content.text or "").strip()
        # CAP written as escaped text rather than as elements.
        if text.startswith("<") and ("xml" in kind or kind == "text"):
            document = text.encode("utf-8")
    return _entry(key, updated, link, document, base_url)


def _rss_entry(item: ET.Element, base_url: str) -> FeedEntry | None:
    space = namespace_of(item.tag)
    prefix = f"{{{space}}}" if space else ""
    key = _text(item.find(f"{prefix}guid")) or (item.get(f"{{{_RDF}}}about") or "").strip()
    updated = _text(item.find(f"{prefix}pubDate")) or _text(item.find(f"{{{_DC}}}date"))
    document = _embedded(item)
    link = ""
    if document is None:
        for enclosure in item.findall(f"{prefix}enclosure"):
            if "xml" in (enclosure.get("type") or "").lower() and enclosure.get("url"):
                link = (enclosure.get("url") or "").strip()
                break
        link = link or _text(item.find(f"{prefix}link"))
    return _entry(key, updated, link, document, base_url)


def _entry(
    key: str, updated: str, link: str, document: bytes | None, base_url: str
) -> FeedEntry | None:
    absolute = urljoin(base_url, link) if link else ""
    key = key or absolute
    if document is None and not absolute:
        return None
    if not key and document is not None:
        # Neither id nor link: the document itself is what is remembered.
        key = "sha256:" + hashlib.sha256(document).hexdigest()
    return FeedEntry(
        key=key[:MAX_KEY_LENGTH],
        updated=updated[:100],
        link=(absolute or None) if document is None else None,
        document=document,
    )


def _time(text: str) -> datetime | None:
    """An Atom (RFC 3339) or RSS (RFC 822) time, in UTC; None when unreadable."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
