"""CAP areas as real feeds send them, made into shapely shapes in (longitude, latitude).

A shape that can be repaired is repaired and noted; one that cannot is dropped and noted. Either
way the note goes into the import's `reason`, and the alert is still stored.
"""

from __future__ import annotations

import math

from shapely import make_valid
from shapely.affinity import scale, translate
from shapely.geometry import MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from renraku import geo

# Vertices of the polygon drawn for a CAP circle.
CIRCLE_SEGMENTS = 16
KM_PER_DEGREE_LAT = 110.574
KM_PER_DEGREE_LON_AT_EQUATOR = 111.320


class ShapeError(ValueError):
    """A shape with no usable area: dropped, and the alert kept."""


class Unreadable(ValueError):
    """Text that is not coordinates at all: the document is refused, naming the element."""


def _pair(token: str) -> tuple[float, float]:
    parts = token.split(",")
    if len(parts) != 2:
        raise Unreadable(f"'{token[:40]}' is not a latitude,longitude pair")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise Unreadable(f"'{token[:40]}' is not a latitude,longitude pair") from None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise Unreadable(f"'{token[:40]}' is not a finite coordinate")
    return lat, lon


def _points(text: str) -> tuple[list[tuple[float, float]], bool]:
    """(lon, lat) points of a CAP coordinate list, and whether pairs had to be swapped."""
    pairs = [_pair(token) for token in text.split()]
    swapped = False
    points: list[tuple[float, float]] = []
    for lat, lon in pairs:
        if abs(lat) > 90 and abs(lon) <= 90:
            # Only a latitude past 90 proves a swap; anything else is taken as written.
            lat, lon = lon, lat
            swapped = True
        if abs(lat) > 90 or abs(lon) > 180:
            raise Unreadable(f"{lat},{lon} is outside the earth's coordinates")
        points.append((lon, lat))
    return points, swapped


def _split_at_antimeridian(points: list[tuple[float, float]]) -> BaseGeometry:
    """A ring whose longitudes jump by more than 180 degrees crosses the 180th meridian: draw it
    on 0..360 and cut it back into the two halves on either side."""
    shifted = [(lon + 360 if lon < 0 else lon, lat) for lon, lat in points]
    whole = make_valid(Polygon(shifted))
    east = whole.intersection(box(-180, -90, 180, 90))
    west = translate(whole.intersection(box(180, -90, 540, 90)), xoff=-360)
    return unary_union([east, west])


def _polygonal(shape: BaseGeometry) -> BaseGeometry:
    """The polygonal part of a shape (make_valid may leave lines and points beside it)."""
    if isinstance(shape, (Polygon, MultiPolygon)):
        return shape
    parts = [g for g in getattr(shape, "geoms", []) if isinstance(g, (Polygon, MultiPolygon))]
    return unary_union(parts) if parts else Polygon()


def parse_polygon(text: str) -> tuple[BaseGeometry, list[str]]:
    """A valid polygonal shape and the notes on what was repaired; ShapeError when none is left."""
    points, swapped = _points(text)
    notes: list[str] = []
    if swapped:
        notes.append("longitude,latitude pairs swapped back")
    if len(points) >= 2 and points[0] != points[-1]:
        points.append(points[0])
        notes.append("ring closed")
    if len(set(points)) < 3:
        raise ShapeError(f"degenerate: {len(set(points))} distinct points")
    longitudes = [lon for lon, _lat in points]
    if max(longitudes) - min(longitudes) > 180:
        shape = _split_at_antimeridian(points)
        notes.append("split at the 180th meridian")
    else:
        shape = Polygon(points)
    if not shape.is_valid:
        shape = _polygonal(make_valid(shape))
        notes.append("self-intersection repaired")
    if shape.is_empty or shape.area == 0:
        raise ShapeError("degenerate: no area inside")
    return shape, notes


def parse_circle(text: str) -> tuple[BaseGeometry, list[str]]:
    """A circle "lat,lon radius_km" as a polygon (a point when the radius is 0)."""
    parts = text.split()
    if len(parts) != 2:
        raise Unreadable("not 'latitude,longitude radius'")
    (centre,), swapped = _points(parts[0])
    try:
        radius_km = float(parts[1])
    except ValueError:
        raise Unreadable(f"radius '{parts[1][:20]}' is not a number") from None
    if not math.isfinite(radius_km) or radius_km < 0:
        raise Unreadable(f"radius {parts[1][:20]} is not a distance")
    notes = ["longitude,latitude swapped back"] if swapped else []
    lon, lat = centre
    if radius_km == 0:
        notes.append("radius 0: the centre point only")
        return Point(lon, lat), notes
    # Degrees of longitude shrink with latitude: draw a unit circle and stretch it per axis.
    dy = radius_km / KM_PER_DEGREE_LAT
    dx = radius_km / (KM_PER_DEGREE_LON_AT_EQUATOR * max(math.cos(math.radians(lat)), 0.01))
    circle = scale(Point(0, 0).buffer(1.0, quad_segs=CIRCLE_SEGMENTS // 4), dx, dy)
    return translate(circle, lon, lat), notes


def municipalities_of_code(value: str) -> set[str]:
    """Bundled municipalities a geocode names: 6 digits with check digit, 5 digits, JMA's 7-digit
    municipal area code (5 digits and two for a part), or a prefecture (2 digits and 0000)."""
    digits = value.strip()
    if not digits.isdigit():
        return set()
    known = geo.municipalities()
    if len(digits) == 6 and digits in known:
        return {digits}
    if len(digits) == 6 and digits.endswith("0000"):
        return {code6 for code6 in known if code6[:2] == digits[:2]}
    if len(digits) in (5, 7):
        return {code6 for code6 in known if code6[:5] == digits[:5]}
    return set()


def touched_municipalities(area: BaseGeometry) -> set[str]:
    """Bundled municipalities the area touches (a point inside one counts)."""
    if area.is_empty:
        return set()
    minx, miny, maxx, maxy = area.bounds
    touched: set[str] = set()
    for code6, info in geo.municipalities().items():
        bminx, bminy, bmaxx, bmaxy = info.bbox
        if bmaxx < minx or bminx > maxx or bmaxy < miny or bminy > maxy:
            continue
        boundary = geo.boundaries().get(code6)
        if boundary is not None and boundary.intersects(area):
            touched.add(code6)
    return touched
