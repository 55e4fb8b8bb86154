"""``python -m semlink.train TASK ...`` = ``semlink train TASK ...`` (the form torchrun starts:
``torchrun --nproc-per-node N -m semlink.train hyperprior --recipe FILE.toml``)."""

import sys

from semlink.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
