"""Small-cell suppression for the counts planners see outside an emergency.

Every published count from 1 to 10 is hidden (primary suppression). Because the table also
publishes row, column and grand totals, a lone hidden cell in any of those sums could be
recovered by subtraction, so further cells are hidden until every sum that contains a hidden
value contains at least two (complementary suppression). The complementary cell chosen is the
smallest visible non-zero one, which loses the least information.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

LOW, HIGH = 1, 10
TOTAL = "__total__"

Key = tuple[Hashable, Hashable]


@dataclass(frozen=True)
class SuppressedTable:
    """Counts keyed by (row, column); the totals use TOTAL as their row or column. None = hidden."""

    rows: tuple[Hashable, ...]
    columns: tuple[Hashable, ...]
    values: dict[Key, int | None]

    def get(self, row: Hashable, column: Hashable) -> int | None:
        return self.values[(row, column)]


def _sensitive(count: int) -> bool:
    return LOW <= count <= HIGH


def _equations(
    rows: tuple[Hashable, ...], columns: tuple[Hashable, ...]
) -> list[tuple[Key, list[Key]]]:
    """Each published sum: (the total's key, the keys it adds up)."""
    sums: list[tuple[Key, list[Key]]] = []
    for row in rows:
        sums.append(((row, TOTAL), [(row, c) for c in columns]))
    for column in columns:
        sums.append(((TOTAL, column), [(r, column) for r in rows]))
    sums.append(((TOTAL, TOTAL), [(r, TOTAL) for r in rows]))
    sums.append(((TOTAL, TOTAL), [(TOTAL, c) for c in columns]))
    return sums


def suppress(counts: Mapping[Key, int]) -> SuppressedTable:
    """Publish `counts` (cells keyed by (row, column)) with totals, suppressed as above."""
    rows = tuple(dict.fromkeys(r for r, _ in counts))
    columns = tuple(dict.fromkeys(c for _, c in counts))
    full: dict[Key, int] = {(r, c): counts.get((r, c), 0) for r in rows for c in columns}
    for r in rows:
        full[(r, TOTAL)] = sum(full[(r, c)] for c in columns)
    for c in columns:
        full[(TOTAL, c)] = sum(full[(r, c)] for r in rows)
    full[(TOTAL, TOTAL)] = sum(full[(r, TOTAL)] for r in rows)

    hidden = {key for key, count in full.items() if _sensitive(count)}
    equations = _equations(rows, columns)
    changed = bool(hidden)
    while changed:
        changed = False
        for total_key, parts in equations:
            members = [total_key, *parts]
            unknown = [k for k in members if k in hidden]
            if len(unknown) != 1:
                continue
            candidates = sorted(
                (k for k in members if k not in hidden and full[k] > 0), key=lambda k: full[k]
            )
            if not candidates:
                # Everything else in the sum is zero, so the hidden value equals a visible
                # one; hiding a zero would not help, so hide the whole sum's other side.
                candidates = [k for k in members if k not in hidden]
            if candidates:
                hidden.add(candidates[0])
                changed = True
    values: dict[Key, int | None] = {k: (None if k in hidden else v) for k, v in full.items()}
    return SuppressedTable(rows=rows, columns=columns, values=values)
