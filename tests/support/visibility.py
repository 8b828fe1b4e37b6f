"""What each demo account should see, computed from seed/demo.toml alone (not from the code)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from shapely.geometry import Point, Polygon, shape

from renraku.seed.demo import demo_file


def _alert_polygons(demo: dict[str, Any]) -> list[Any]:
    """The demo alerts' polygons, read from the CAP files ("lat,lon lat,lon ...")."""
    found = []
    for alert in demo.get("alerts", []):
        text = (Path(demo_file()).parent / alert["file"]).read_text("utf-8")
        for ring in re.findall(r"<polygon>([^<]+)</polygon>", text):
            pairs = [tuple(map(float, p.split(","))) for p in ring.split()]
            found.append(Polygon([(lon, lat) for lat, lon in pairs]))
    return found


def _areas(demo: dict[str, Any], code: str) -> list[Any]:
    """Where the demo's incident of this municipality lies: its declaration and the trusted
    alerts that joined it (every demo alert touches the first planner's municipality)."""
    areas: list[Any] = []
    if code == demo["emergencies"][0]["municipality"]:
        areas += _alert_polygons(demo)
    for incident in demo.get("emergencies", []):
        if incident["municipality"] != code:
            continue
        if incident["area"] == "municipality":
            areas.append(None)
            continue
        data = json.loads((Path(demo_file()).parent / incident["area"]).read_text("utf-8"))
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
