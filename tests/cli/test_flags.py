"""The flags of `keras-vit train` (keras_vit/cli/flags.py): checked by the
library's own checks, and offering the library's own choices."""

import pytest

from keras_vit.cli import flags

pytestmark = pytest.mark.backend_independent  # argparse only


def _choices():
    return {action.dest: action.choices for action in flags.build_parser()._actions if action.choices}


def test_every_choice_list_is_the_owner_modules_tuple():
    from keras_vit import distribute, training
    from keras_vit.data import image_folder
    from keras_vit.models import preprocessing

    owners = {
        "precision": training.PRECISIONS,
        "preprocessing": preprocessing._MODES,
        "bad_images": image_folder.BAD_IMAGE_CHOICES,
        "strategy": distribute.STRATEGY_CHOICES,
        "verbose": None,  # Keras's own fit(verbose=0|1|2)
    }
    choices = _choices()
    assert set(choices) == set(owners)
    for dest, owner in owners.items():
        if owner is not None:
            assert choices[dest] is owner, dest


def test_every_choice_is_explained_in_the_help():
    for action in flags.build_parser()._actions:
        for choice in action.choices or ():
            assert str(choice) in action.help, (action.dest, choice)


def test_argparse_rejects_out_of_range_values(capsys):
    with pytest.raises(SystemExit):
        flags.parse_args(["--drop-path", "1.5"])
    assert "--drop-path" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag_values, message",
    [
        (["--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
        (["--epochs", "2.5"], "argument --epochs: must be an integer, got 2.5"),
        (["--rand-augment-ops", "-1"], "argument --rand-augment-ops: must be a non-negative integer, got -1"),
        (["--seed", "-1"], "argument --seed: must be an integer in [0, 2**32 - 1], got -1"),
        (["--learning-rate", "0"], "argument --learning-rate: must be a finite float in (0.0, inf), got 0"),
        (["--learning-rate", "nan"], "argument --learning-rate: must be a finite float in (0.0, inf), got nan"),
        (["--clipnorm", "-1"], "argument --clipnorm: must be a finite float in (0.0, inf), got -1"),
        (["--mixup", "inf"], "argument --mixup: must be a finite float in [0.0, inf), got inf"),
        (["--erasing", "1.5"], "argument --erasing: must be a finite float in [0.0, 1.0], got 1.5"),
        (["--dropout", "1"], "argument --dropout: must be a finite float in [0.0, 1.0), got 1"),
        (["--crop-scale", "0.1", "x"], "argument --crop-scale: must be a number, got x"),
    ],
)
def test_values_are_checked_by_the_library_checks(capsys, flag_values, message):
    with pytest.raises(SystemExit) as exit_info:
        flags.parse_args(flag_values)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_defaults_parse_to_checked_values():
    args = flags.parse_args([])
    assert (args.epochs, args.seed, args.learning_rate, args.crop_scale) == (100, 0, 1e-3, (0.08, 1.0))
    assert args.dataset == "digits" and args.strategy == "auto" and args.output_dir is None
