"""The layering of docs/architecture.md, enforced on the source: ``app → geodata → planning``.

Why an AST walk and not a grep: imports inside functions, ``import a.b as c`` and
``from geodata.store import demo``-style spellings all count, and a comment or a string that merely
mentions a module does not.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "geodata", "planning")
DEMO = "geodata.demo"
#: the only places that may import the demo generator: its CLI command and the demo itself
DEMO_IMPORTERS = ("app/commands/demo.py", "geodata/demo.py")
#: what each geodata subpackage may import inside geodata (besides the top-level foundation modules)
GEODATA_FOUNDATION = ("geodata.settings", "geodata.crs", "geodata.errors")
GEODATA_ALLOWED = {
    "store": ("geodata.store",),
    "io": ("geodata.store", "geodata.io"),
    "serve": ("geodata.store", "geodata.io", "geodata.serve"),
    "work": ("geodata.store", "geodata.io", "geodata.work"),
}


def _sources(*dirs: str) -> Iterator[Path]:
    for d in dirs:
        yield from sorted((ROOT / d).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str | None = None) -> set[str]:
    """Every module ``path`` imports, as absolute dotted names (``from a import b`` gives ``a`` and ``a.b``).

    ``module`` is the file's dotted name (derived from its place under the repository by default).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def test_planning_imports_neither_geodata_nor_app() -> None:
    bad = {f"{p.relative_to(ROOT)} imports {name}" for p in _sources("planning")
           for name in imports_of(p) if _top(name) in ("geodata", "app")}
    assert not bad, sorted(bad)


def test_geodata_does_not_import_app() -> None:
    bad = {f"{p.relative_to(ROOT)} imports {name}" for p in _sources("geodata")
           for name in imports_of(p) if _top(name) == "app"}
    assert not bad, sorted(bad)


def test_nothing_in_production_imports_the_demo() -> None:
    bad = set()
    for p in _sources(*PACKAGES):
        rel = p.relative_to(ROOT).as_posix()
        if rel in DEMO_IMPORTERS:
            continue
        bad.update(f"{rel} imports {name}" for name in imports_of(p)
                   if name == DEMO or name.startswith(DEMO + "."))
    assert not bad, sorted(bad)


@pytest.mark.parametrize("sub", sorted(GEODATA_ALLOWED))
def test_geodata_subpackages_import_only_downwards(sub: str) -> None:
    """store is the floor; io builds on it; serve and work read through both and never each other."""
    allowed = GEODATA_ALLOWED[sub] + GEODATA_FOUNDATION
    bad = set()
    for p in _sources(f"geodata/{sub}"):
        for name in imports_of(p):
            if _top(name) != "geodata" or name == "geodata":
                continue
            if not any(name == a or name.startswith(a + ".") for a in allowed):
                bad.add(f"{p.relative_to(ROOT)} imports {name}")
    assert not bad, sorted(bad)


def test_every_geodata_subpackage_says_what_lives_there() -> None:
    subs = [d for d in (ROOT / "geodata").iterdir() if (d / "__init__.py").exists()]
    assert len(subs) >= 4
    for d in subs:
        doc = ast.get_docstring(ast.parse((d / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "import" in doc.lower(), f"{d.name}/__init__.py must say what lives there and what it may import"


def test_import_walker_sees_every_spelling(tmp_path: Path) -> None:
    """The rule tests above are only as good as the walker: it must see nested and relative imports."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..demo import load_demo\n    import app.main as m\n", encoding="utf-8")
    found = imports_of(probe, "geodata.store.probe")
    assert "geodata.demo" in found and "geodata.demo.load_demo" in found and "app.main" in found
