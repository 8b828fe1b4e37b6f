"""Japan Meteorological Agency disaster XML (気象庁防災情報XML) into a ParsedAlert.

Read generically: every `Item` of the body carries kinds (警報・注意報, 土砂災害警戒情報,
津波注意報, ...) and the areas they apply to. Each kind's name gives its level on the 5-level
warning scale through policies/jma_levels.csv, which holds the current names and the level-named
ones of 2026.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache

from renraku.alerts.cap import parse_time
from renraku.alerts.geometry import municipalities_of_code
from renraku.alerts.parsed import ACTUAL, EXERCISE, ParsedAlert
from renraku.alerts.xml_safety import Rejected
from renraku.package_data import POLICIES, package_folder

JMA_NAMESPACE = "http://xml.kishou.go.jp/jmaxml1/"
HEAD_NAMESPACE = "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"
LEVELS_FILE = "jma_levels.csv"
# Control/Status: 通常 is a real message, 訓練 an exercise, 試験 a test.
STATUSES = {"通常": ACTUAL, "訓練": EXERCISE, "試験": "Test"}
# Head/InfoType: 発表 issues, 訂正 corrects, 取消 withdraws.
MSG_TYPES = {"発表": "Alert", "訂正": "Update", "取消": "Cancel"}
# Kind statuses and names that say nothing is in force for the item.
NOT_IN_FORCE = ("解除", "なし", "発表警報・注意報はなし")
LIFTED = "解除"


@dataclass(frozen=True)
class Level:
    level: int
    hazard: str
    scheme: str


@cache
def levels() -> dict[str, Level]:
    """Warning names to levels, from the policy table."""
    path = package_folder(POLICIES) / LEVELS_FILE
    with path.open(encoding="utf-8") as handle:
        return {
            row["name"]: Level(int(row["level"]), row["hazard"], row["scheme"])
            for row in csv.DictReader(handle)
        }


def _text(parent: ET.Element | None, path: str) -> str:
    if parent is None:
        return ""
    found = parent.find(path)
    return (found.text or "").strip() if found is not None else ""


def _local_children(parent: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in parent if child.tag.rsplit("}", 1)[-1] == name]


def _descendants(parent: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in parent.iter() if e.tag.rsplit("}", 1)[-1] == name]


def _kinds(item: ET.Element) -> list[ET.Element]:
    """The item's current kinds: directly under it or under its Category, never LastKind."""
    kinds = _local_children(item, "Kind")
    for category in _local_children(item, "Category"):
        kinds += _local_children(category, "Kind")
    return kinds


def _child_text(parent: ET.Element, name: str) -> str:
    for child in _local_children(parent, name):
        return (child.text or "").strip()
    return ""


def parse_jma(root: ET.Element) -> ParsedAlert:
    j = f"{{{JMA_NAMESPACE}}}"
    h = f"{{{HEAD_NAMESPACE}}}"
    control = root.find(f"{j}Control")
    head = root.find(f"{h}Head")
    if control is None:
        raise Rejected("<Report>/<Control>: missing")
    if head is None:
        raise Rejected("<Report>/<Head>: missing")
    title = _text(control, f"{j}Title")
    if not title:
        raise Rejected("<Report>/<Control>/<Title>: missing or empty")
    raw_status = _text(control, f"{j}Status")
    if raw_status not in STATUSES:
        raise Rejected(f"<Report>/<Control>/<Status>: '{raw_status[:20]}' is not a JMA status")
    info_type = _text(head, f"{h}InfoType")
    if info_type not in MSG_TYPES:
        raise Rejected(f"<Report>/<Head>/<InfoType>: '{info_type[:20]}' is not a JMA info type")
    reported = _text(head, f"{h}ReportDateTime")
    if not reported:
        raise Rejected("<Report>/<Head>/<ReportDateTime>: missing or empty")
    sent = parse_time(reported, "ReportDateTime")
    office = _text(control, f"{j}PublishingOffice") or _text(control, f"{j}EditorialOffice")
    event_id = _text(head, f"{h}EventID")
    head_title = _text(head, f"{h}Title")
    parsed = ParsedAlert(
        format="jma",
        sender=f"jma:{office}"[:200],
        identifier="/".join(
            [title, head_title, event_id, reported, info_type, _text(head, f"{h}Serial")]
        )[:400],
        sent=sent,
        cap_status=STATUSES[raw_status],
        msg_type=MSG_TYPES[info_type],
        thread="/".join([title, office, event_id])[:400],
        event=title[:400],
        headline=(head_title or _text(head, f"{h}Headline/{h}Text"))[:400],
        language="ja-JP",
    )
    valid = _text(head, f"{h}ValidDateTime")
    if valid:
        parsed.expires = parse_time(valid, "ValidDateTime")
    _read_items(root, head, title, parsed)
    return parsed


def _read_items(root: ET.Element, head: ET.Element, title: str, parsed: ParsedAlert) -> None:
    body = next((child for child in root if child.tag.endswith("}Body")), None)
    items = _descendants(body, "Item") if body is not None else []
    if not any(_kinds(item) for item in items):
        items = _descendants(head, "Item")  # only the headline says what is in force
    table = levels()
    in_force: dict[str, int] = {}
    lifted = False
    for item in items:
        for kind in _kinds(item):
            name = _child_text(kind, "Name")
            status = _child_text(kind, "Status")
            if name.endswith(LIFTED) or status == LIFTED:
                lifted = True
                continue
            if not name or name in NOT_IN_FORCE or status in NOT_IN_FORCE:
                continue
            # 土砂災害警戒情報 names its kinds 警戒: the message's title carries the level then.
            if name not in table:
                name = title
            level = table.get(name)
            if level is None:
                continue
            in_force[name] = max(in_force.get(name, 0), level.level)
            for area in _descendants(item, "Area"):
                code = _child_text(area, "Code")
                parsed.geocoded_municipalities |= municipalities_of_code(code)
    parsed.infos.append(
        {
            "language": "ja-JP",
            "event": title,
            "headline": parsed.headline,
            "kinds": dict(sorted(in_force.items())),
            "level": max(in_force.values()) if in_force else None,
        }
    )
    if in_force:
        parsed.level = max(in_force.values())
        parsed.notes.append(
            "warning level from " + ", ".join(f"{n} ({v})" for n, v in sorted(in_force.items()))
        )
        if parsed.geocoded_municipalities:
            parsed.notes.append("located by area code (low confidence)")
    elif lifted:
        parsed.all_clear = True
        parsed.notes.append("everything in force is lifted (解除)")
    else:
        parsed.notes.append("informational: no warning level")
