"""The `keras-vit` command line: `keras-vit train ...`.

One job per module: `flags` declares the flags of `keras-vit train`,
`checks` finds what argparse cannot, `run_directory` decides where a run
writes and whether it starts, resumes or refuses, and `run` does the run
(data, model, fit, evaluation). This package and `flags` import no Keras:
`keras-vit --help` and `keras-vit train --help` work without a backend, and
the backend is checked only once the flags are parsed.
"""

import argparse
import sys

from keras_vit import _backend
from keras_vit.cli import flags


def build_parser():
    """The parser of `keras-vit` and its commands."""
    parser = argparse.ArgumentParser(prog="keras-vit", description="Vision Transformers for Keras 3.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    train = commands.add_parser(
        "train",
        help="train a ViT with the DeiT-style recipe",
        description=flags.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    flags.add_arguments(train)
    return parser


def main(argv=None):
    """Entry point of the `keras-vit` console script (and of
    `python -m keras_vit.cli`); returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        _backend.require_backend()
    except ImportError as error:
        print(f"keras-vit: error: {error}", file=sys.stderr)
        return 2
    from keras_vit.cli import run

    del args.command  # "train", the only command
    return run.run_command(args)
