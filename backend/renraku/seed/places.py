"""Where synthetic people live: how many per municipality, and points inside its boundary."""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

from renraku.geo import boundaries

# Residents in thousands, rounded from the 2020 census: only a weight for spreading people over
# Aichi's municipalities (Nagoya by ward), not a statistic.
POPULATION_THOUSANDS: dict[str, int] = {
    "231011": 165, "231029": 84, "231037": 160, "231045": 151, "231053": 134, "231061": 93,
    "231070": 108, "231088": 107, "231096": 66, "231100": 220, "231118": 142, "231126": 133,
    "231134": 176, "231142": 248, "231151": 161, "231169": 163,
    "232017": 372, "232025": 385, "232033": 380, "232041": 127, "232050": 117, "232068": 309,
    "232076": 185, "232084": 61, "232092": 72, "232106": 152, "232114": 422, "232122": 187,
    "232131": 169, "232149": 79, "232157": 73, "232165": 58, "232173": 100, "232190": 149,
    "232203": 134, "232211": 44, "232220": 113, "232238": 92, "232246": 84, "232254": 72,
    "232262": 83, "232271": 49, "232289": 47, "232297": 68, "232301": 92, "232319": 60,
    "232327": 62, "232335": 69, "232343": 86, "232351": 43, "232360": 61, "232378": 89,
    "232386": 60,
    "233021": 43, "233421": 15, "233617": 24, "233625": 33, "234249": 32, "234257": 37,
    "234273": 4, "234419": 28, "234427": 50, "234451": 17, "234460": 22, "234478": 43,
    "235016": 42, "235610": 4, "235628": 3, "235636": 1,
}  # fmt: skip

# Rough hazard hints, so that risk attributes cluster where the hazard is: the zero-metre belt
# of the Nobi plain floods deep, the coast and the Chita and Atsumi peninsulas face tsunami,
# and the hills of Mikawa have landslide zones.
LOW_LYING = frozenset(
    {"231100", "231118", "231126", "232084", "232327", "232351", "232378", "234249", "234257",
     "234273"}
)  # fmt: skip
COASTAL = frozenset(
    {"231118", "231126", "232017", "232050", "232076", "232092", "232131", "232149", "232165",
     "232220", "232246", "232271", "232319", "232351", "234273", "234427", "234451", "234460",
     "234478"}
)  # fmt: skip
EXPOSED_COAST = frozenset({"232319", "234273", "234451", "234460"})
HILLY = frozenset(
    {"232025", "232041", "232076", "232114", "232149", "232157", "232211", "235016", "235610",
     "235628", "235636"}
)  # fmt: skip


def by_weight(codes: list[str]) -> list[str]:
    """`codes` from the most to the least populous (ties by code, so the order is fixed)."""
    return sorted(codes, key=lambda code: (-POPULATION_THOUSANDS.get(code, 1), code))


def apportion(total: int, weights: NDArray[np.float64]) -> NDArray[np.int64]:
    """Split `total` into integers proportional to `weights` (largest remainder)."""
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    exact = weights / weights.sum() * total
    counts: NDArray[np.int64] = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    if short:
        # Stable order on ties, so the split never depends on floating-point noise elsewhere.
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


def sample_points(
    code: str, count: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """`count` (lat, lon) points uniform inside the municipality, at 1e-6 degree resolution."""
    geometry = boundaries()[code]
    shapely.prepare(geometry)
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    fill = max(geometry.area / ((max_lon - min_lon) * (max_lat - min_lat)), 0.05)
    lats: list[NDArray[np.float64]] = [np.zeros(0)]
    lons: list[NDArray[np.float64]] = [np.zeros(0)]
    found = 0
    while found < count:
        draw = max(64, int((count - found) / fill * 1.2))
        lon = np.round(rng.uniform(min_lon, max_lon, draw), 6)
        lat = np.round(rng.uniform(min_lat, max_lat, draw), 6)
        # Tested after rounding, so the stored point is the one known to be inside.
        inside = shapely.contains_xy(geometry, lon, lat)
        lons.append(lon[inside])
        lats.append(lat[inside])
        found += int(inside.sum())
    return np.concatenate(lats)[:count], np.concatenate(lons)[:count]
