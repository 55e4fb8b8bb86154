"""Package layout promises: subpackages present, no top-level `codecs`/`phy`, zoo manifest readable,
and the package never refers to the developers' shared folder."""

import importlib
from pathlib import Path

import semlink


def test_subpackages_import():
    for name in ("phy", "codecs", "simulator", "sweep", "data", "zoo"):
        importlib.import_module(f"semlink.{name}")


def test_no_top_level_codecs_or_phy_package():
    root = Path(semlink.__file__).resolve().parents[1]
    assert not (root / "codecs").exists() and not (root / "phy").exists()
    import codecs  # the standard library module is not shadowed

    assert hasattr(codecs, "lookup")


def test_zoo_manifest_is_package_data():
    from importlib import resources

    from semlink.zoo import manifest

    models = manifest()
    assert isinstance(models, list) and models, "the shipped zoo manifest lists no checkpoint"
    for m in models:
        assert {"name", "file", "sha256"} <= set(m)
        assert resources.files("semlink.zoo").joinpath(m["file"]).is_file(), m["file"]


def test_package_does_not_read_shared_folder():
    pkg = Path(semlink.__file__).resolve().parent
    for f in pkg.rglob("*.py"):
        text = f.read_text()
        assert "../shared" not in text and "/shared/" not in text, f
