"""The backend's modules import each other without a cycle, counting imports inside functions.

`lint-imports` (pyproject.toml) checks that each layer imports only from the layers below it, but
lets the modules of one layer import each other; this test forbids any of them going round in a
circle. Imports under TYPE_CHECKING never run and are left out, as lint-imports leaves them out.
"""

from __future__ import annotations

import grimp


def test_no_module_reaches_itself_through_its_imports() -> None:
    graph = grimp.build_graph("renraku", exclude_type_checking_imports=True, cache_dir=None)
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                cycles.append(" -> ".join((module, *back)))
    assert cycles == []
