"""No published table reveals a count from 1 to 10, directly or by subtraction."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from renraku.access.suppression import HIGH, LOW, TOTAL, SuppressedTable, suppress

# A cell's key: (row, column), either of which may be TOTAL.
Cell = tuple[Hashable, Hashable]


def _determined_cells(table: SuppressedTable) -> set[Cell]:
    """Hidden cells whose value follows from the published sums by linear algebra."""
    hidden = [k for k, v in table.values.items() if v is None]
    if not hidden:
        return set()
    index = {k: i for i, k in enumerate(hidden)}
    equations: list[tuple[Cell, list[Cell]]] = []
    for row in (*table.rows, TOTAL):
        keys = [(row, c) for c in table.columns] if row != TOTAL else []
        if row != TOTAL:
            equations.append(((row, TOTAL), keys))
    for column in table.columns:
        equations.append(((TOTAL, column), [(r, column) for r in table.rows]))
    equations.append(((TOTAL, TOTAL), [(r, TOTAL) for r in table.rows]))
    equations.append(((TOTAL, TOTAL), [(TOTAL, c) for c in table.columns]))
    matrix = []
    for total, parts in equations:
        line = np.zeros(len(hidden))
        for part in parts:
            if part in index:
                line[index[part]] += 1
        if total in index:
            line[index[total]] -= 1
        if line.any():
            matrix.append(line)
    if not matrix:
        return set()
    a = np.array(matrix)
    rank = np.linalg.matrix_rank(a)
    determined = set()
    for key, i in index.items():
        unit = np.zeros(len(hidden))
        unit[i] = 1
        if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
            determined.add(key)
    return determined


def test_small_cells_are_hidden_and_not_derivable() -> None:
    counts: dict[Cell, int] = {
        ("西浦", "要介護5"): 3,
        ("西浦", "要介護1"): 40,
        ("形原", "要介護5"): 25,
        ("形原", "要介護1"): 60,
    }
    table = suppress(counts)
    assert table.get("西浦", "要介護5") is None
    assert _determined_cells(table) == set()
    assert table.get(TOTAL, TOTAL) == 128 or table.get(TOTAL, TOTAL) is None


def test_large_cells_are_published_as_they_are() -> None:
    counts: dict[Cell, int] = {("a", "x"): 11, ("a", "y"): 0, ("b", "x"): 50, ("b", "y"): 12}
    table = suppress(counts)
    assert table.values[("a", "x")] == 11 and table.values[("b", "y")] == 12
    assert table.values[("a", "y")] == 0
    assert table.get(TOTAL, TOTAL) == 73


@settings(max_examples=200, deadline=None)
# A row total hidden beside its two cells of 1 was still the grand total less the other rows.
@example(grid=[[0, 0, 0, 4, 0], [0, 0, 0, 7, 0], [0, 0, 1, 0, 1]])
@given(
    st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=5), min_size=1, max_size=5).filter(
        lambda grid: len({len(row) for row in grid}) == 1
    )
)
def test_random_tables_never_publish_or_leak_a_small_count(grid: list[list[int]]) -> None:
    counts: dict[Cell, int] = {
        (f"r{i}", f"c{j}"): v for i, row in enumerate(grid) for j, v in enumerate(row)
    }
    table = suppress(counts)
    for value in table.values.values():
        assert value is None or not (LOW <= value <= HIGH)
    assert _determined_cells(table) == set()
