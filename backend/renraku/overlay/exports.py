"""An incident's priority list as files a planner can take away: CSV (for a spreadsheet, or to
print as a call sheet when phones or power fail) and GeoJSON (for a GIS).

Minimum necessary: whom to call and why, nothing of the notebook. Each row holds the tier,
score, name and reading, address, phone (only where the planner may read contacts), the home's
coordinates, the district, the reasons in one line and the safety status. A cell that a
spreadsheet would run as a formula is written as text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import Any

from renraku.overlay.priority import Entry
from renraku.overlay.safety import district_of

COLUMNS = (
    "tier",
    "score",
    "name",
    "kana",
    "address",
    "phone",
    "latitude",
    "longitude",
    "district",
    "reasons",
    "safety",
)
# What a spreadsheet reads as the start of a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _row(entry: Entry, *, phone: bool, safety: str) -> dict[str, Any]:
    patient, scored = entry.patient, entry.scored
    return {
        "tier": scored.tier,
        "score": scored.score,
        "name": patient.display_name,
        "kana": patient.kana,
        "address": patient.address,
        "phone": patient.phone if phone else "",
        "latitude": patient.latitude,
        "longitude": patient.longitude,
        "district": district_of(patient.address),
        "reasons": " - ".join(r.text for r in scored.reasons),
        "safety": safety,
    }


def to_csv(
    entries: Sequence[Entry], *, phone: Callable[[int], bool], safety: dict[int, str]
) -> bytes:
    """UTF-8 with a byte-order mark, so that a spreadsheet opens the Japanese as it should."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for entry in entries:
        pid = entry.patient.id or 0
        row = _row(entry, phone=phone(pid), safety=safety.get(pid, "unknown"))
        writer.writerow([_cell(row[c]) for c in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_geojson(
    entries: Sequence[Entry], *, phone: Callable[[int], bool], safety: dict[int, str]
) -> bytes:
    features = []
    for rank, entry in enumerate(entries, start=1):
        pid = entry.patient.id or 0
        row = _row(entry, phone=phone(pid), safety=safety.get(pid, "unknown"))
        properties = {k: v for k, v in row.items() if k not in ("latitude", "longitude")}
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [row["longitude"], row["latitude"]]},
                "properties": {"rank": rank, **properties},
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    return json.dumps(collection, ensure_ascii=False).encode("utf-8")
