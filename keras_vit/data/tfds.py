"""Loading TensorFlow Datasets with the standard ViT preprocessing."""

from keras_vit.data.pipeline import make_dataset

_OFFLINE_HELP = (
    "To use it offline, prepare it once on a machine with internet access "
    "(`tfds build {name} --data_dir DIR`, or `tfds.load('{name}', data_dir=DIR)`), "
    "copy DIR to this machine (on Kaggle: attach it as a dataset) and pass "
    "`data_dir=DIR`; for datasets that need a manual download, put the files "
    "in `DIR/downloads/manual`. Images in class folders load without tfds "
    "through `keras_vit.data.load_image_folder`."
)


def _tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise ImportError(
            "`load_tfds` needs tensorflow-datasets: `pip install 'keras-vit-zoo[datasets]'` "
            "(tensorflow-datasets 4.9.10 also needs importlib_resources to download)."
        ) from error
    return tfds


def load_tfds(
    name,
    split="train",
    data_dir=None,
    batch_size=64,
    image_size=224,
    training=None,
    augmentation=None,
    mixing=None,
    preprocessing="vit",
    drop_remainder=None,
    shuffle_buffer=10_000,
    download=True,
    seed=None,
):
    """Loads an image classification dataset from TensorFlow Datasets.

    The examples go through `keras_vit.data.make_dataset`: images resized to
    `image_size` (bilinear, antialiased), augmented and mixed in training,
    scaled to `[-1, 1]` (`preprocessing="vit"`, what the Google ViT
    checkpoints expect), batched (dropping the remainder in training, for
    static shapes) and prefetched.

    If the dataset is not in `data_dir` and `download=True`, tfds downloads
    and prepares it there (default `~/tensorflow_datasets`). When that fails
    (no network), or with `download=False` and no prepared copy, the error
    says how to supply the files.

    Args:
        name: str. tfds name, e.g. `"cifar10"`, `"oxford_flowers102"`,
            `"imagenette/320px-v2"`.
        split: str. tfds split, e.g. `"train"`, `"test"`, `"train[:90%]"`.
        data_dir: str or None. Where the prepared dataset lives.
        batch_size: int.
        image_size: int or pair. Training and evaluation resolution.
        training: bool or None. Shuffle, augment and mix; defaults to
            whether `split` starts with `"train"`.
        augmentation: per-image layer (see `make_dataset`).
        mixing: batch-level MixUp/CutMix layer (see `make_dataset`).
        preprocessing: `"vit"`, `"imagenet"`, `"unit"` or None.
        drop_remainder: bool or None. Defaults to `training`.
        shuffle_buffer: int.
        download: bool. Whether tfds may download and prepare the data.
        seed: int or None. Seed of the file order, the shuffle and the
            augmentation draws: with a seed, training batches repeat from
            run to run (see `make_dataset`); None lets tfds read the files
            in a varying order.

    Returns:
        A tuple `(dataset, info)`: the batched `tf.data.Dataset` of
        `(images, one_hot_labels)` and the `tfds.core.DatasetInfo` (e.g.
        `info.features["label"].num_classes`, `info.splits[split].num_examples`).

    Raises:
        ImportError: tensorflow-datasets is not installed.
        ValueError: unknown dataset name, or no integer `label` feature.
        RuntimeError: the download or preparation failed.
        FileNotFoundError: `download=False` and no prepared copy.
    """
    tfds = _tfds()
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a tfds dataset name. Received: name={name!r}")
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # tfds raises its own DatasetNotFoundError
        summary = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"Unknown tfds dataset `name`={name!r} ({summary}). See "
            "https://www.tensorflow.org/datasets/catalog/overview for the names."
        ) from error
    features = builder.info.features
    label = features["label"] if "label" in features.keys() else None
    num_classes = getattr(label, "num_classes", None)
    if not num_classes:
        raise ValueError(
            f"tfds dataset {name!r} has no integer `label` feature with a class count; "
            "load_tfds handles image classification datasets."
        )
    if download:
        try:
            builder.download_and_prepare()
        except Exception as error:
            raise RuntimeError(
                f"Could not download or prepare the tfds dataset {name!r} into "
                f"{builder.data_dir!r}: {type(error).__name__}: {error}. "
                + _OFFLINE_HELP.format(name=name)
            ) from error
    if training is None:
        training = split.startswith("train")
    training = bool(training)
    # A seeded file shuffle also makes tfds interleave the files in a fixed
    # order; unseeded, tfds lets the order vary from run to run.
    read_config = tfds.ReadConfig(shuffle_seed=seed) if training and seed is not None else None
    try:
        examples = builder.as_dataset(split=split, as_supervised=True, shuffle_files=training, read_config=read_config)
    except AssertionError as error:  # tfds asserts that the data was prepared
        raise FileNotFoundError(
            f"The tfds dataset {name!r} is not prepared in {builder.data_dir!r} "
            f"(download=False). " + _OFFLINE_HELP.format(name=name)
        ) from error
    dataset = make_dataset(
        examples,
        batch_size=batch_size,
        classes=num_classes,
        training=training,
        image_size=image_size,
        augmentation=augmentation,
        mixing=mixing,
        preprocessing=preprocessing,
        drop_remainder=drop_remainder,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
    )
    return dataset, builder.info
