"""CAP 1.1 and 1.2 documents into a ParsedAlert (OASIS CAP 1.2, section 3; 1.1 has the same
elements for everything read here). Keeps what is usable; refuses only what makes no alert."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from shapely.errors import GEOSException

from renraku.alerts.geometry import (
    ShapeError,
    Unreadable,
    municipalities_of_code,
    parse_circle,
    parse_polygon,
)
from renraku.alerts.parsed import CAP_STATUSES, MSG_TYPES, ParsedAlert, Reference
from renraku.alerts.xml_safety import Rejected

CAP_NAMESPACES = {
    "urn:oasis:names:tc:emergency:cap:1.2": "cap1.2",
    "urn:oasis:names:tc:emergency:cap:1.1": "cap1.1",
}
DEFAULT_LANGUAGE = "en-US"  # CAP 1.2 3.2.2: <language> absent means en-US
# Languages preferred for the alert's own event and headline, in order.
PREFERRED_LANGUAGES = ("ja", "en")


def parse_time(text: str, element: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Rejected(f"<{element}>: '{text.strip()[:40]}' is not a date and time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def hazard_level(severity: str, urgency: str, certainty: str) -> int:
    """DESIGN.md "Priority model" 2: CAP severity x urgency x certainty, first rule that matches."""
    if certainty in ("Unknown", "Unlikely") or urgency == "Past":
        return 1
    if (
        severity == "Extreme"
        and urgency in ("Immediate", "Expected")
        and certainty in ("Observed", "Likely")
    ):
        return 5
    if severity in ("Severe", "Extreme") and urgency in ("Immediate", "Expected"):
        return 4
    if (severity == "Severe" and urgency == "Future") or (
        severity == "Moderate" and urgency == "Immediate"
    ):
        return 3
    if severity in ("Moderate", "Minor"):
        return 2
    return 1


# A Japanese sender's own 警戒レベル wins over the severity x urgency x certainty rule.
NATIVE_LEVEL_NAMES = frozenset({"警戒レベル", "JP_WARNING_LEVEL"})


def _native_level(read: _Reader, info: ET.Element) -> int | None:
    for parameter in info.findall(read.q("parameter")):
        if read.text(parameter, "valueName") in NATIVE_LEVEL_NAMES:
            value = read.text(parameter, "value")
            if value in ("1", "2", "3", "4", "5"):
                return int(value)
    return None


class _Reader:
    def __init__(self, root: ET.Element, namespace: str) -> None:
        self.root = root
        self.ns = namespace

    def q(self, name: str) -> str:
        return f"{{{self.ns}}}{name}"

    def text(self, parent: ET.Element, name: str) -> str:
        found = parent.find(self.q(name))
        return (found.text or "").strip() if found is not None else ""

    def texts(self, parent: ET.Element, name: str) -> list[str]:
        return [(e.text or "").strip() for e in parent.findall(self.q(name))]

    def required(self, name: str) -> str:
        value = self.text(self.root, name)
        if not value:
            raise Rejected(f"<alert>/<{name}>: missing or empty")
        return value


def parse_references(text: str, notes: list[str]) -> list[Reference]:
    references = []
    for token in text.split():
        parts = token.split(",")
        if len(parts) != 3:
            notes.append(f"<references>: '{token[:60]}' is not sender,identifier,sent; skipped")
            continue
        references.append(Reference(parts[0], parts[1], parts[2]))
    return references


def parse_cap(root: ET.Element, namespace: str) -> ParsedAlert:
    read = _Reader(root, namespace)
    identifier = read.required("identifier")
    sender = read.required("sender")
    sent = parse_time(read.required("sent"), "sent")
    status = read.required("status")
    if status not in CAP_STATUSES:
        raise Rejected(f"<alert>/<status>: '{status[:40]}' is not a CAP status")
    msg_type = read.required("msgType")
    if msg_type not in MSG_TYPES:
        raise Rejected(f"<alert>/<msgType>: '{msg_type[:40]}' is not a CAP message type")
    parsed = ParsedAlert(
        format=CAP_NAMESPACES[namespace],
        sender=sender,
        identifier=identifier,
        sent=sent,
        cap_status=status,
        msg_type=msg_type,
    )
    parsed.references = parse_references(read.text(root, "references"), parsed.notes)
    infos = root.findall(read.q("info"))
    seen_areas: set[tuple[object, ...]] = set()
    for index, info in enumerate(infos, start=1):
        _read_info(read, info, index, parsed, seen_areas)
    native = [i["native_level"] for i in parsed.infos if i["native_level"]]
    if native:
        # The sender's own level stands for the alert, whatever another language's block says.
        parsed.level = max(native)
    if infos and all(i["response_types"] == ["AllClear"] for i in parsed.infos):
        parsed.all_clear = True
    _choose_headline(parsed)
    return parsed


def _read_info(
    read: _Reader,
    info: ET.Element,
    index: int,
    parsed: ParsedAlert,
    seen_areas: set[tuple[object, ...]],
) -> None:
    where = f"<info> {index}"
    severity = read.text(info, "severity")
    urgency = read.text(info, "urgency")
    certainty = read.text(info, "certainty")
    times: dict[str, datetime | None] = {}
    for name in ("effective", "onset", "expires"):
        raw = read.text(info, name)
        try:
            times[name] = parse_time(raw, name) if raw else None
        except Rejected as bad:
            # A bad time in one block does not make the alert unusable: keep the rest.
            parsed.notes.append(f"{where}: {bad.reason}; ignored")
            times[name] = None
    native = _native_level(read, info)
    level = native or hazard_level(severity, urgency, certainty)
    parsed.infos.append(
        {
            "language": read.text(info, "language") or DEFAULT_LANGUAGE,
            "event": read.text(info, "event")[:400],
            "headline": read.text(info, "headline")[:400],
            "severity": severity,
            "urgency": urgency,
            "certainty": certainty,
            "response_types": read.texts(info, "responseType"),
            "level": level,
            "native_level": native,
            "onset": times["onset"].isoformat() if times["onset"] else None,
            "expires": times["expires"].isoformat() if times["expires"] else None,
        }
    )
    parsed.level = max(parsed.level or 0, level)
    for name in ("onset", "expires"):
        value = times[name]
        if value is None:
            continue
        current = getattr(parsed, name)
        # The earliest onset and the latest expiry over the blocks bound the alert.
        if current is None or (value < current if name == "onset" else value > current):
            setattr(parsed, name, value)
    effective = times["effective"]
    if times["onset"] is None and effective is not None:
        parsed.onset = min(parsed.onset or effective, effective)
    for area_index, area in enumerate(info.findall(read.q("area")), start=1):
        # Each language's block repeats the same areas: read each distinct one once.
        key = tuple(
            (kind, text) for kind in ("polygon", "circle") for text in read.texts(area, kind)
        ) + tuple(read.text(g, "value") for g in area.findall(read.q("geocode")))
        if key in seen_areas:
            continue
        seen_areas.add(key)
        _read_area(read, area, f"{where} <area> {area_index}", parsed)


def _read_area(read: _Reader, area: ET.Element, where: str, parsed: ParsedAlert) -> None:
    usable = 0
    for kind, parse in (("polygon", parse_polygon), ("circle", parse_circle)):
        for number, text in enumerate(read.texts(area, kind), start=1):
            if not text:
                continue
            try:
                shape, notes = parse(text)
            except (ShapeError, GEOSException) as bad:
                parsed.notes.append(f"{where} <{kind}> {number}: {bad}; dropped")
                continue
            except Unreadable as bad:
                raise Rejected(f"{where} <{kind}> {number}: {bad}") from None
            parsed.notes.extend(f"{where} <{kind}> {number}: {note}" for note in notes)
            parsed.shapes.append(shape)
            usable += 1
    if usable:
        return
    matched: set[str] = set()
    for geocode in area.findall(read.q("geocode")):
        matched |= municipalities_of_code(read.text(geocode, "value"))
    if matched:
        parsed.geocoded_municipalities |= matched
        parsed.notes.append(f"{where}: no usable geometry; located by geocode (low confidence)")


def _choose_headline(parsed: ParsedAlert) -> None:
    if not parsed.infos:
        return
    chosen = parsed.infos[0]
    for preferred in PREFERRED_LANGUAGES:
        found = [i for i in parsed.infos if i["language"].lower().startswith(preferred)]
        if found:
            chosen = found[0]
            break
    parsed.event = chosen["event"]
    parsed.headline = chosen["headline"]
    parsed.language = chosen["language"]
