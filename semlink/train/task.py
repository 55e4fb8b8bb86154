"""What a learned model brings to the shared trainer: a :class:`TrainTask`, registered by name.

The trainer (:mod:`semlink.train.loop`) owns everything that is the same for every model:
data (random crops of the training images, a held-out validation split), the loop (learning
rate schedule, time limit, deterministic resume), logging (``log.csv``, ``val.csv``, a
progress bar), checkpoints (``train_state.pt``, written atomically) and export timing. A task
owns what differs: the network, its optimizers, one training step (loss, backward, updates),
the validation figures, and the export of a codec checkpoint.

>>> @register_task("mymodel")
... class MyTask(TrainTask):
...     def build(self, cfg): ...
...     def train_step(self, net, x, opts, cfg): ...   # -> {"loss": float, ...}
...     def evaluate(self, net, x, cfg): ...           # -> {"loss": float, ...} (no gradients)
...     def export(self, net, path, cfg, meta): ...

``semlink train MODEL`` then trains it with the shared options (``--recipe``, ``--steps``,
``--max-minutes``, ``--resume``, ``--device``, ``--amp``, ``--data``, ...).
"""

from __future__ import annotations

import abc
from typing import Any, Callable

from semlink.registry import Registry

from semlink.errors import ConfigError

#: the modules that register the built-in tasks (imported on first lookup of the name)
BUILTIN_TASKS = {"hyperprior": "semlink.train.hyperprior_task",
                 "gan-c2f-base": "semlink.semantic.gan_c2f.train_task",
                 "gan-c2f-enh": "semlink.semantic.gan_c2f.train_task",
                 "vqdeepvsc-msvq": "semlink.semantic.vqdeepvsc.train_task",
                 "vqdeepvsc-ifnet": "semlink.semantic.vqdeepvsc.interp_task",
                 "seb": "semlink.semantic.seb.train_task",
                 "seb-flow": "semlink.semantic.seb.flow_task"}


def _set_name(name: str, cls) -> None:
    cls.name = name


#: name -> :class:`TrainTask` subclass (plug-in packages: entry-point group ``semlink.train_tasks``)
TASKS: "Registry[type[TrainTask]]" = Registry("training task", group="semlink.train_tasks", builtins=BUILTIN_TASKS,
                                             on_register=_set_name)


class TrainTask(abc.ABC):
    """One trainable model. ``cfg`` is the run's :class:`~semlink.train.loop.TrainConfig`."""

    name: str = ""
    #: config fields that must equal the saved run's when resuming
    fixed: tuple[str, ...] = ()
    #: columns of log.csv after ``step`` (the keys ``train_step`` returns, in this order)
    log_columns: tuple[str, ...] = ("loss",)
    #: file name of the exported codec checkpoint in the run directory
    export_name: str = "model.pt"

    def check(self, cfg) -> None:
        """Validate the task's settings of ``cfg`` (ValueError naming the option)."""

    def lambda_required(self, cfg) -> bool:
        """Whether the run needs ``--lambda`` (False for a task with its own rate levels)."""
        return True

    def data(self, cfg):
        """None (default): the trainer's random crops of ``cfg.data``'s images. A task with
        other samples returns ``(sampler, validation)``: ``sampler.batch(step)`` -> float32
        numpy [B, C, H, W] (seeded by step, so resumed runs draw the same samples) and a list
        of float32 tensors [1, C, h, w] (or None) for :meth:`evaluate`."""
        return None

    @abc.abstractmethod
    def build(self, cfg):
        """The network (torch.nn.Module, on the CPU; the trainer moves it to the device)."""

    def init_from(self, net, path: str) -> dict:
        """Load another run's weights into ``net`` (``--init``); returns facts for the metadata."""
        raise ConfigError(f"{self.name}: --init is not supported")

    def optimizers(self, net, cfg) -> list:
        """Optimizers, the first one's learning rate follows the trainer's schedule."""
        import torch

        return [torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=cfg.lr)]

    def prepare(self, net, cfg) -> None:
        """Last set-up after the weights are loaded (e.g. bf16 autocast of parts of the network)."""

    def compile_targets(self, net) -> list:
        """Submodules of ``net`` that ``--compile`` may ``torch.compile`` in place (default: none).
        Name the heavy, shape-stable transforms; leave out entropy models and Python control flow."""
        return []

    @abc.abstractmethod
    def train_step(self, net, x, optimizers: list, cfg) -> dict[str, float]:
        """One step on ``x`` float32 [B, 3, H, W] in [0, 1]: zero grads, loss, backward, updates.
        Returns the figures to log (``log_columns``)."""

    @abc.abstractmethod
    def evaluate(self, net, x, cfg) -> dict[str, float]:
        """Validation figures of one held-out input [1, 3, H, W] (eval mode, no gradients);
        ``"loss"`` decides the best checkpoint."""

    @abc.abstractmethod
    def export(self, net, path, cfg, meta: dict[str, Any]) -> None:
        """Write the codec checkpoint (what the codec loads) to ``path``."""

    # --- the model zoo (``semlink zoo add``, :mod:`semlink.train.zoo_add`) ---------------------
    def loss_description(self, cfg: dict) -> str:
        """The training loss in words, for the manifest (``cfg``: the run's saved config)."""
        return (self.__doc__ or "").strip().splitlines()[0] if self.__doc__ else ""

    def zoo_entries(self, file, name: str, cfg: dict, quality: int | None) -> list[dict]:
        """The manifest entries an exported ``file`` is: each ``name``, ``codec``, ``quality``
        (or ``qualities``) and, where the codec loads several files, ``role``."""
        return [{"name": name, "codec": self.name, "quality": int(quality or 0)}]

    def zoo_test(self, manifest, entries: list[dict]) -> dict[str, dict]:
        """Test figures per entry name, computed with the codec loaded from ``manifest`` on the
        task's evaluation set (never a training item); {} = none."""
        return {}


def task_options(cfg, defaults: dict, task: str) -> dict:
    """``cfg.options`` over the task's ``defaults``; ValueError naming unknown options."""
    unknown = sorted(set(cfg.options) - set(defaults))
    if unknown:
        raise ConfigError(f"{task}: unknown option(s) {unknown}; allowed: {', '.join(sorted(defaults))}")
    return {**defaults, **cfg.options}


def train_modules(**modules):
    """One ``torch.nn.Module`` holding the named modules of a training run (e.g. ``base=...,
    disc=...``: the exported network and the training-only discriminator) as attributes, so that
    the trainer saves, moves and averages them together."""
    import torch

    net = torch.nn.Module()
    for name, m in modules.items():
        net.add_module(name, m)
    return net


def register_task(name: str) -> Callable[[type[TrainTask]], type[TrainTask]]:
    """Class decorator: ``semlink train NAME`` trains this task."""
    return TASKS.register(name)


def get_task(name: str) -> TrainTask:
    """A new instance of the task registered as ``name``; UnknownNameError listing the names if unknown."""
    return TASKS.get(name)()


def task_class(name: str) -> type[TrainTask]:
    """The class registered as ``name`` (imports its module)."""
    return TASKS.get(name)


def list_tasks() -> list[str]:
    """Names of the training tasks (imports nothing)."""
    return TASKS.names()
