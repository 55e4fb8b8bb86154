"""Training of the learned codecs (``semlink train hyperprior ...``).

:mod:`.data`: training images (never the ``photos`` test set) and random crops;
:mod:`.loop`: the rate-distortion training loop with resumable checkpoints;
:mod:`.cli`: the ``train`` subcommand.
"""
