"""The layers read one way (DESIGN §3): a change that imports against the grain fails here.

Every import statement of every module under `alcor/` counts, wherever it stands (inside a
function or under TYPE_CHECKING too): a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "alcor"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = [p for p in ROOT.rglob("*.py") if "migrations/versions" not in str(p)]
NAMES = {_module(p) for p in SOURCES}


def _imports(path: Path) -> set[str]:
    """The alcor modules `path` imports: `from alcor.x import y` is alcor.x.y when that is a
    module, else alcor.x."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                name = f"{node.module}.{a.name}"
                found.add(name if name in NAMES else node.module)
    return {name for name in found if name.startswith("alcor.")}


MODULES = {_module(p): _imports(p) for p in SOURCES}


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _offenders(package: str, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for module, imports in MODULES.items():
        if not _under(module, package):
            continue
        bad = sorted(i for i in imports if not any(_under(i, a) for a in allowed))
        if bad:
            out[module] = bad
    return out


def test_modules_were_found() -> None:
    assert "alcor.store.db" in MODULES and "alcor.resources.crud" in MODULES


def test_store_imports_nothing_above_it() -> None:
    assert _offenders("alcor.store", ("alcor.store",)) == {}


def test_ipam_imports_only_the_store() -> None:
    assert _offenders("alcor.ipam", ("alcor.ipam", "alcor.store")) == {}


def test_declarations_import_no_rules() -> None:
    allowed = (
        "alcor.errors",
        "alcor.store",
        "alcor.resources.declarations",
        "alcor.resources.model",
        "alcor.resources.kinds",
        "alcor.resources.protocols",
    )
    assert _offenders("alcor.resources.declarations", allowed) == {}


@pytest.mark.parametrize(
    "rules", sorted(m for m in MODULES if m.startswith("alcor.resources.rules."))
)
def test_rules_never_import_another_kinds_rules(rules: str) -> None:
    others = [
        i for i in MODULES[rules] if _under(i, "alcor.resources.rules") and not _under(i, rules)
    ]
    assert others == [], f"{rules} imports {others}: meet through references or events instead"


def test_only_the_registry_binds_rules() -> None:
    users = sorted(
        m
        for m, imports in MODULES.items()
        if any(_under(i, "alcor.resources.rules") for i in imports)
        and not _under(m, "alcor.resources.rules")
    )
    assert users == ["alcor.resources.registry"]


def test_southbound_uses_declarations_not_rules() -> None:
    forbidden = ("alcor.resources.rules", "alcor.resources.registry", "alcor.resources.crud")
    bad = {
        m: sorted(i for i in imports if any(_under(i, f) for f in forbidden))
        for m, imports in MODULES.items()
        if _under(m, "alcor.southbound")
    }
    assert {m: b for m, b in bad.items() if b} == {}


def test_agent_imports_only_the_southbound_protocol() -> None:
    allowed = ("alcor.agent", "alcor.config", "alcor.southbound.protocol")
    assert _offenders("alcor.agent", allowed) == {}


def test_southbound_protocol_imports_nothing_server_side() -> None:
    assert _offenders("alcor.southbound.protocol", ("alcor.southbound.protocol",)) == {}


def test_policy_knows_nothing_of_resources() -> None:
    """The policy engine reads credentials and targets as plain data; resources apply it."""
    assert _offenders("alcor.policy", ("alcor.policy", "alcor.errors")) == {}
