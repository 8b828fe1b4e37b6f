"""What each demo account should see, computed from seed/demo.toml alone (not from the code)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shapely.geometry import Point, shape

from renraku.seed.demo import demo_file


def _areas(demo: dict[str, Any], code: str) -> list[Any]:
    areas: list[Any] = []
    for emergency in demo.get("emergencies", []):
        if emergency["municipality"] != code:
            continue
        if emergency["area"] == "municipality":
            areas.append(None)
            continue
        data = json.loads((Path(demo_file()).parent / emergency["area"]).read_text("utf-8"))
        areas.append(shape(data["features"][0]["geometry"]))
    return areas


def expected_patient_names(demo: dict[str, Any], username: str) -> set[str]:
    account = next(a for a in demo["accounts"] if a["username"] == username)
    kind = account["kind"]
    patients = demo["patients"]
    if kind == "municipality":
        return {p["display_name"] for p in patients if p["municipality"] == account["municipality"]}
    if kind in ("professional", "family", "patient"):
        return {
            p["display_name"]
            for p in patients
            if username in p.get("team", []) or username in p.get("family", [])
        }
    if kind == "planner":
        code = account["municipality"]
        areas = _areas(demo, code)
        names = set()
        for patient in patients:
            if patient["municipality"] != code:
                continue
            lat, lon = patient["location"]
            inside = any(a is None or a.contains(Point(lon, lat)) for a in areas)
            if inside or patient.get("consent", {}).get("planner_sharing"):
                names.add(patient["display_name"])
        return names
    return set()
