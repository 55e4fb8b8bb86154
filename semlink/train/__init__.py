"""Training of the learned codecs (``semlink train hyperprior ...``).

:mod:`.data`: training images (never the ``photos`` test set) and random crops;
:mod:`.loop`: the rate-distortion training loop with resumable checkpoints;
:mod:`.cli`: the ``train`` subcommand; :mod:`.runs`: runs in the user cache and their status;
:mod:`.distributed`: data-parallel runs under torchrun (``python -m semlink.train``).
"""
