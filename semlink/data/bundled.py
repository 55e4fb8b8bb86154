"""The ``bundled`` training photographs: files that ship in packages semlink installs anyway
(scikit-image's ``skimage/data``, matplotlib's sample data), none of them an evaluation item.
Their licences are listed in :mod:`semlink.train.data`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from semlink.errors import UnavailableError

SKIMAGE_FILES = ("retina.jpg", "ihc.png", "camera.png", "coins.png", "cell.png", "brick.png", "grass.png", "gravel.png")
MATPLOTLIB_FILES = ("grace_hopper.jpg",)


def bundled_files() -> list[Path]:
    """Paths of the ``bundled`` training images; UnavailableError naming any that is missing."""
    sk = Path(str(resources.files("skimage"))) / "data"
    mpl = Path(str(resources.files("matplotlib"))) / "mpl-data" / "sample_data"
    files = [sk / f for f in SKIMAGE_FILES] + [mpl / f for f in MATPLOTLIB_FILES]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise UnavailableError(f"bundled training images missing from the installed packages: {', '.join(missing)}")
    return files
