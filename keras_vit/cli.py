"""The `keras-vit` command line: `keras-vit train ...`."""

import argparse
import sys

from keras_vit import train


def main(argv=None):
    """Entry point of the `keras-vit` console script."""
    parser = argparse.ArgumentParser(prog="keras-vit", description="Vision Transformers for Keras 3.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    train_parser = commands.add_parser(
        "train",
        help="train a ViT with the DeiT-style recipe",
        description=train.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_arguments(train_parser)
    args = parser.parse_args(argv)
    if args.command == "train":
        del args.command
        return train.run_command(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
