"""Incident and hazard areas: GeoJSON in, validated shapely geometry out."""

from __future__ import annotations

import json
from typing import Any

from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from renraku.errors import BadInput

MAX_AREA_BYTES = 2_000_000
MAX_VERTICES = 100_000
# Japan's extent with a margin: anything outside is a swapped or broken coordinate.
LON_RANGE = (120.0, 155.0)
LAT_RANGE = (20.0, 47.0)


def parse_area(raw: str | dict[str, Any], *, field: str = "area") -> BaseGeometry:
    """A valid Polygon or MultiPolygon in Japan from GeoJSON (geometry, Feature or collection)."""
    if isinstance(raw, str):
        if len(raw.encode()) > MAX_AREA_BYTES:
            raise BadInput("The area is too large.", field=field)
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: hostile nesting
            raise BadInput("The area is not valid JSON.", field=field) from None
    else:
        data = raw
    geometry = _geometry_of(data, field)
    try:
        area = shape(geometry)
    except (GEOSException, ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise BadInput("The area is not a valid GeoJSON polygon.", field=field) from None
    if not isinstance(area, (Polygon, MultiPolygon)) or area.is_empty:
        raise BadInput("The area must be a Polygon or MultiPolygon.", field=field)
    minx, miny, maxx, maxy = area.bounds
    if not (
        LON_RANGE[0] <= minx
        and maxx <= LON_RANGE[1]
        and LAT_RANGE[0] <= miny
        and maxy <= LAT_RANGE[1]
    ):
        raise BadInput(
            "The area lies outside Japan (GeoJSON is [longitude, latitude]).", field=field
        )
    if not area.is_valid:
        area = area.buffer(0)  # repairs self-intersections, which real-world polygons have
        if area.is_empty:
            raise BadInput("The area has no inside.", field=field)
    return area


def _geometry_of(data: Any, field: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadInput("The area must be a GeoJSON object.", field=field)
    kind = data.get("type")
    if kind == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list) or len(features) != 1:
            raise BadInput("The area must hold exactly one feature.", field=field)
        return _geometry_of(features[0], field)
    if kind == "Feature":
        return _geometry_of(data.get("geometry"), field)
    if kind in ("Polygon", "MultiPolygon"):
        coordinates = data.get("coordinates")
        if _count_vertices(coordinates) > MAX_VERTICES:
            raise BadInput("The area has too many vertices.", field=field)
        return data
    raise BadInput("The area must be a Polygon or MultiPolygon.", field=field)


def _count_vertices(coordinates: Any, depth: int = 0) -> int:
    if depth > 4 or not isinstance(coordinates, list):
        return 0
    if coordinates and all(isinstance(v, (int, float)) for v in coordinates):
        return 1
    return sum(_count_vertices(c, depth + 1) for c in coordinates)


def to_geojson(area: BaseGeometry) -> dict[str, Any]:
    # A JSON round trip turns shapely's tuples into lists, as the JSON column stores them.
    result: dict[str, Any] = json.loads(json.dumps(mapping(area)))
    return result
