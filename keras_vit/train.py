"""`python -m keras_vit.train ...`: the same as `keras-vit train ...` (kept for existing scripts)."""

import sys

from keras_vit.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
