"""Every shipped training recipe parses, names a registered task, sets only known fields and
options, and builds a validated TrainConfig (as ``semlink train TASK --recipe FILE`` would),
so that a typo in a recipe fails here rather than hours into a background campaign."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(p for p in [*ROOT.glob("semlink/**/recipes/**/*.toml"), *ROOT.glob("recipes/**/*.toml")])


def test_recipes_are_found():
    assert len(RECIPES) >= 20


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT)))
def test_recipe_builds_a_valid_config(path):
    import tomllib

    from semlink.cli import build_parser
    from semlink.train.cli import _merged_options
    from semlink.train.loop import TrainConfig
    from semlink.train.task import get_task, list_tasks

    model = tomllib.loads(path.read_text()).get("model", "hyperprior")
    assert model in list_tasks(), f"{path.name}: model {model!r} is not a training task"
    args = build_parser().parse_args(["train", model, "--recipe", str(path)])
    opts = _merged_options(args, model=model)
    options = dict(opts.pop("options", {}))
    cfg = TrainConfig(**opts, model=model, options=options, progress=False)  # validated at construction
    task = get_task(model)
    try:
        task.check(cfg)
    except ValueError as exc:  # a recipe may name the run it continues (made by an earlier recipe)
        if "no such file" not in str(exc):
            raise
    # the task's check() is where unknown [options] keys are refused, naming them
    bogus = TrainConfig(**opts, model=model, options={**options, "no_such_option": 1}, progress=False)
    with pytest.raises(ValueError, match="no_such_option"):
        task.check(bogus)
