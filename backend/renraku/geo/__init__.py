"""Bundled open data: Aichi's municipal boundaries and codes (MLIT N03, processed)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep

ATTRIBUTION_JA = "出典：「国土数値情報（行政区域データ）」（国土交通省）（https://nlftp.mlit.go.jp/ksj/）を加工して作成"
ATTRIBUTION_EN = (
    "Source: National Land Numerical Information (Administrative Area Data), MLIT Japan "
    "(https://nlftp.mlit.go.jp/ksj/), processed by the Renraku project."
)
_HERE = Path(__file__).parent


@dataclass(frozen=True)
class MunicipalityInfo:
    code: str  # 6 digits with check digit
    name: str
    name_kana: str
    name_en: str
    prefecture: str
    inside_lat: float
    inside_lon: float
    bbox: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat


def check_digit_ok(code6: str) -> bool:
    """The 全国地方公共団体コード check digit: (11 - (6d1+5d2+4d3+3d4+2d5) mod 11) mod 10."""
    if len(code6) != 6 or not code6.isdigit():
        return False
    digits = [int(c) for c in code6]
    total = sum(w * d for w, d in zip((6, 5, 4, 3, 2), digits[:5], strict=True))
    return (11 - total % 11) % 10 == digits[5]


@cache
def municipalities() -> dict[str, MunicipalityInfo]:
    with (_HERE / "municipalities-aichi.csv").open(encoding="utf-8") as handle:
        return {
            row["code6"]: MunicipalityInfo(
                code=row["code6"],
                name=row["name"],
                name_kana=row["name_kana"],
                name_en=row["name_en"],
                prefecture="愛知県",
                inside_lat=float(row["inside_lat"]),
                inside_lon=float(row["inside_lon"]),
                bbox=(
                    float(row["bbox_minlon"]),
                    float(row["bbox_minlat"]),
                    float(row["bbox_maxlon"]),
                    float(row["bbox_maxlat"]),
                ),
            )
            for row in csv.DictReader(handle)
        }


@cache
def boundaries() -> dict[str, BaseGeometry]:
    data = json.loads((_HERE / "municipalities-aichi.geojson").read_text(encoding="utf-8"))
    by_code5 = {info.code[:5]: info.code for info in municipalities().values()}
    return {by_code5[f["properties"]["code"]]: shape(f["geometry"]) for f in data["features"]}


@cache
def _prepared(code6: str) -> PreparedGeometry[BaseGeometry]:
    return prep(boundaries()[code6])


def contains(code6: str, latitude: float, longitude: float) -> bool:
    """True if the point lies inside the municipality's boundary."""
    if code6 not in boundaries():
        return False
    return bool(_prepared(code6).contains(Point(longitude, latitude)))
