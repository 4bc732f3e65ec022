"""The rules of the house that import-linter's contracts (pyproject.toml, run by `lint-imports`
in the test command) cannot say on their own, checked over the real import graph.

- A domain reads another only through its service or its models (docs/contributing.md).
- Faces (CLI, SDK, web pages, pipelines, the gateway) never reach a domain's store or tables.
The graph includes imports inside functions, so a lazy import is no way around a rule.
"""

from __future__ import annotations

from functools import cache

import grimp
import pytest

FACES = ("tandem.cli", "tandem.sdk", "tandem.web", "tandem.pipelines", "tandem.serving")
# What a domain publishes to the rest of the house; everything else in it is its own.
PUBLISHED = ("service", "models")
PRIVATE = ("store", "tables")


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("tandem")


def domains() -> list[str]:
    """Every domain package: a package holding a `service` module (or a `service` package),
    the deepest such package owning a module (governance's subdomains are domains)."""
    found = set()
    for module in graph().modules:
        parts = module.split(".")
        if parts[-1] == "service" and len(parts) >= 3:
            found.add(".".join(parts[:-1]))
    return sorted(found, key=lambda name: (-name.count("."), name))


def domain_of(module: str) -> str | None:
    for domain in domains():
        if module == domain or module.startswith(domain + "."):
            return domain
    return None


def test_the_graph_finds_the_domains() -> None:
    found = domains()
    for expected in ("tandem.tracking", "tandem.data", "tandem.registry", "tandem.projects"):
        assert expected in found


def test_a_domain_reads_another_only_through_its_service_or_models() -> None:
    breaks = []
    for importer in sorted(graph().modules):
        source = domain_of(importer)
        if source is None:
            continue
        for imported in sorted(graph().find_modules_directly_imported_by(importer)):
            target = domain_of(imported)
            if target is None or target == source or imported == target:
                continue
            if target.startswith(source + ".") or source.startswith(target + "."):
                continue  # a package and its own subdomains (governance and governance.gates)
            published = imported[len(target) + 1 :].split(".")[0]
            if published not in PUBLISHED:
                breaks.append(f"{importer} -> {imported}")
    assert not breaks, "a domain reaches past another's service:\n" + "\n".join(breaks)


@pytest.mark.parametrize("face", FACES)
def test_faces_never_reach_a_store_or_tables(face: str) -> None:
    breaks = []
    for importer in sorted(graph().find_descendants(face) | {face}):
        for imported in sorted(graph().find_modules_directly_imported_by(importer)):
            if domain_of(imported) is not None and imported.split(".")[-1] in PRIVATE:
                breaks.append(f"{importer} -> {imported}")
    assert not breaks, f"{face} reaches a domain's store or tables:\n" + "\n".join(breaks)
