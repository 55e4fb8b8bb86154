"""The import contract of docs/architecture.md: lower layers never import higher ones (imports
inside functions count too)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "semlink"

#: package -> packages it must never import
FORBIDDEN = {
    "semlink.phy": ("semlink.codecs", "semlink.simulator", "semlink.sweep", "semlink.train", "semlink.rd",
                    "semlink.semantic", "semlink.data", "semlink.nn", "semlink.zoo"),
    "semlink.data": ("semlink.simulator", "semlink.sweep", "semlink.train", "semlink.rd", "semlink.semantic"),
    "semlink.nn": ("semlink.simulator", "semlink.sweep", "semlink.train", "semlink.rd", "semlink.semantic"),
    "semlink.codecs": ("semlink.simulator", "semlink.sweep", "semlink.train", "semlink.rd"),
    "semlink.zoo": ("semlink.simulator", "semlink.sweep", "semlink.train", "semlink.rd"),
    "semlink.simulator": ("semlink.sweep", "semlink.train"),
    "semlink.errors": ("semlink.",),
    "semlink.registry": ("semlink.codecs", "semlink.phy", "semlink.data", "semlink.simulator", "semlink.sweep"),
}


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    mod = _module(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
    return out


def _cases():
    for path in sorted(ROOT.rglob("*.py")):
        mod = _module(path)
        if path.name == "cli.py":
            continue  # the command line is the top layer (docs/architecture.md)
        for owner, banned in FORBIDDEN.items():
            if mod == owner or mod.startswith(owner + "."):
                yield pytest.param(path, banned, id=mod)


@pytest.mark.parametrize("path, banned", list(_cases()))
def test_lower_layers_never_import_higher_ones(path, banned):
    bad = [(line, name) for line, name in _imports(path)
           if any(name == b.rstrip(".") or name.startswith(b if b.endswith(".") else b + ".") for b in banned)]
    assert not bad, f"{path.relative_to(ROOT.parent)} imports {bad} (see docs/architecture.md)"


def test_codecs_of_the_systems_never_import_their_trainers():
    for path in sorted((ROOT / "semantic").rglob("codec.py")):
        bad = [n for _, n in _imports(path) if "train_task" in n or "interp_task" in n or n.startswith("semlink.train")]
        assert not bad, f"{path.relative_to(ROOT.parent)} imports its trainer: {bad}"
