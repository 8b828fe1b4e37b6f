"""Small-cell suppression for the counts planners see outside an incident.

Every published count from 1 to 10 is hidden (primary suppression). Because the table also
publishes row, column and grand totals, a lone hidden cell in any of those sums could be
recovered by subtraction, so further cells are hidden until every sum that contains a hidden
value contains at least two (complementary suppression). Sums can also be combined (a row's
total from the column totals and the other rows), so the table is then checked by linear
algebra, exactly: while any hidden value follows from the published ones, one more cell of a sum
that holds it is hidden. The complementary cell chosen is the smallest visible non-zero one,
which loses the least information.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction

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
            pick = _complement(members, hidden, full)
            if pick is not None:
                hidden.add(pick)
                changed = True
    # Ends: with every value hidden, none follows from the (then empty) published ones.
    while determined := _determined(hidden, equations, full):
        holding = [
            k for total, parts in equations if determined & {total, *parts} for k in (total, *parts)
        ]
        pick = _complement(holding, hidden, full) or _complement(list(full), hidden, full)
        if pick is None:
            break
        hidden.add(pick)
    values: dict[Key, int | None] = {k: (None if k in hidden else v) for k, v in full.items()}
    return SuppressedTable(rows=rows, columns=columns, values=values)


def _complement(members: list[Key], hidden: set[Key], full: dict[Key, int]) -> Key | None:
    """The visible member to hide beside a hidden one: the smallest non-zero count, else (all
    the others are zero, so hiding a zero is what is left) any visible member."""
    visible = [k for k in members if k not in hidden]
    non_zero = sorted((k for k in visible if full[k] > 0), key=lambda k: full[k])
    return non_zero[0] if non_zero else (visible[0] if visible else None)


def _determined(
    hidden: set[Key], equations: list[tuple[Key, list[Key]]], full: dict[Key, int]
) -> set[Key]:
    """The hidden values that follow from the published ones through the sums.

    Each sum is a linear equation in the hidden values (the visible ones are constants); a hidden
    value is determined when its unit vector lies in the equations' row space, that is, when its
    column is a pivot whose row in the reduced row echelon form has no other entry. Exact
    (fractions): a float rank test can be fooled by rounding."""
    unknowns = [k for k in full if k in hidden]
    index = {k: i for i, k in enumerate(unknowns)}
    matrix: list[list[Fraction]] = []
    for total, parts in equations:
        line = [Fraction(0)] * len(unknowns)
        for part in parts:
            if part in index:
                line[index[part]] += 1
        if total in index:
            line[index[total]] -= 1
        if any(line):
            matrix.append(line)
    pivots = _reduce(matrix, len(unknowns))
    return {
        unknowns[column] for row, column in pivots if sum(1 for value in matrix[row] if value) == 1
    }


def _reduce(matrix: list[list[Fraction]], width: int) -> list[tuple[int, int]]:
    """Reduce `matrix` in place to reduced row echelon form; its (row, pivot column) pairs."""
    pivots: list[tuple[int, int]] = []
    row = 0
    for column in range(width):
        found = next((r for r in range(row, len(matrix)) if matrix[r][column]), None)
        if found is None:
            continue
        matrix[row], matrix[found] = matrix[found], matrix[row]
        lead = matrix[row][column]
        matrix[row] = [value / lead for value in matrix[row]]
        for other in range(len(matrix)):
            factor = matrix[other][column]
            if other != row and factor:
                matrix[other] = [
                    a - factor * b for a, b in zip(matrix[other], matrix[row], strict=True)
                ]
        pivots.append((row, column))
        row += 1
    return pivots
