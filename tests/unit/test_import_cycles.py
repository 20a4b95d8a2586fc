"""No module of ``services/`` or ``schemas/`` imports itself back, through any chain.

``make lint``'s ``acyclic_siblings`` contract compares siblings; this also catches a package's
``__init__`` and its own modules importing each other, which that contract cannot see.
Imports under ``TYPE_CHECKING`` count: a cycle that only type-checks is still a tangle.
"""

from __future__ import annotations

import grimp


def import_cycles(graph: grimp.ImportGraph) -> set[str]:
    """Every cycle as ``a -> b -> … -> a``, found from each import that can lead back."""
    cycles = set()
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                cycles.add(" -> ".join((module, *back)))
    return cycles


def test_services_and_schemas_have_no_import_cycles() -> None:
    graph = grimp.build_graph("services", "schemas", cache_dir=None)
    assert import_cycles(graph) == set()


def test_a_package_importing_its_own_module_back_is_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("store", "store.local", "store.keys"):
        graph.add_module(module)
    graph.add_import(importer="store", imported="store.local")
    graph.add_import(importer="store.local", imported="store.keys")
    assert import_cycles(graph) == set()
    graph.add_import(importer="store.local", imported="store")
    assert import_cycles(graph) == {
        "store -> store.local -> store",
        "store.local -> store -> store.local",
    }
