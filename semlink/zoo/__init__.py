"""Model zoo: trained checkpoints that ship inside the package, with a manifest.

``manifest.json`` lists every checkpoint (file, sha256, architecture, training configuration,
metrics): the shipped ``hyperprior`` rate points. Nothing is ever downloaded at run time.
"""

from __future__ import annotations

import json
from importlib import resources


def manifest() -> list[dict]:
    """Entries of the shipped manifest (an empty list when no checkpoint is shipped)."""
    return json.loads(resources.files("semlink.zoo").joinpath("manifest.json").read_text())["models"]
