"""SphericalDataModule: the batch contract, rotation settings, splits, augmentation, errors, CLI typing, Lightning."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn

from sphere_study.data import MissingDataFileError, OnlineSphericalDataset, SphericalDataModule


def small(**kwargs) -> SphericalDataModule:
    """A quick module on the bundled digits."""
    return SphericalDataModule(**{"bandwidth": 8, "progress": False, **kwargs})


def test_default_module_works_offline_on_digits(isolated_cache):
    dm = SphericalDataModule()
    dm.prepare_data()
    dm.setup()
    assert (dm.task, dm.bandwidth, dm.num_classes, dm.in_channels) == ("classification", 30, 10, 1)
    assert dm.test_split_names == ["rotated"] and dm.val_split_name == "rotated"
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (32, 1, 60, 60) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1 and float(x.max()) > 0.9
    assert y.shape == (32,) and y.dtype == torch.int64 and int(y.min()) >= 0 and int(y.max()) <= 9
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_datasets["rotated"])) == (1258, 180, 359)
    assert list((isolated_cache / "sphere_study" / "spheres").glob("digits-classification-*.npz"))


def test_segmentation_batches(isolated_cache):
    dm = small(task="segmentation", digits_per_sphere=3, train_size=64, batch_size=16)
    dm.setup("fit")
    assert dm.num_classes == 11 and dm.class_names[0] == "background"
    x, mask = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 1, 16, 16) and x.dtype == torch.float32
    assert mask.shape == (16, 16, 16) and mask.dtype == torch.int64
    assert int(mask.min()) >= 0 and int(mask.max()) <= 10


def test_rotate_test_both_gives_two_loaders_over_the_same_images():
    dm = small(rotate_test="both", test_size=100)
    dm.setup("test")
    assert dm.test_split_names == ["unrotated", "rotated"]
    loaders = dm.test_dataloader()
    assert isinstance(loaders, list) and len(loaders) == 2
    (x_nr, y_nr), (x_r, y_r) = (next(iter(loader)) for loader in loaders)
    assert torch.equal(y_nr, y_r) and not torch.equal(x_nr, x_r)
    assert dm.test_datasets["unrotated"].rotations is None and dm.test_datasets["rotated"].rotations is not None
    dm.setup("fit")
    assert dm.val_split_name == "rotated" and dm.val_dataset.rotations is not None


@pytest.mark.parametrize(
    ("kwargs", "val_rotated", "names"),
    [
        ({"rotate_test": False}, False, ["unrotated"]),
        ({"rotate_test": True}, True, ["rotated"]),
        ({"rotate_test": True, "rotate_val": False}, False, ["rotated"]),
        ({"rotate_test": False, "rotate_val": True}, True, ["unrotated"]),
    ],
)
def test_validation_is_rotated_like_the_test_set_by_default(kwargs, val_rotated, names):
    dm = small(**kwargs)
    dm.setup()
    assert (dm.val_dataset.rotations is not None) == val_rotated
    assert dm.test_split_names == names and not isinstance(dm.test_dataloader(), list)


def test_unrotated_training(isolated_cache):
    dm = small(rotate_train=False, train_size=50)
    dm.setup("fit")
    assert dm.train_dataset.rotations is None
    # Unrotated digits sit at the north pole: the southern half of the grid is blank.
    assert int(dm.train_dataset.images[:, 8:].max()) == 0


def test_augment_multiplies_the_training_set():
    dm = small(train_size=100, augment=4)
    dm.setup("fit")
    assert len(dm.train_dataset) == 400 and len(dm.train_dataset.plan.layout) == 100
    assert torch.equal(torch.bincount(dm.train_dataset.plan.members[:, 0]).unique(), torch.tensor([0, 4]))


def test_online_augmentation(isolated_cache):
    dm = small(train_size=100, augment="online")
    dm.setup("fit")
    assert isinstance(dm.train_dataset, OnlineSphericalDataset) and len(dm.train_dataset) == 100
    assert not list((isolated_cache / "sphere_study" / "spheres").glob("*train*")), "online training is not cached"
    first = torch.cat([x for x, _ in dm.train_dataloader()])
    second = torch.cat([x for x, _ in dm.train_dataloader()])
    assert first.shape == (100, 1, 16, 16) and not torch.equal(first, second)


def test_same_configuration_gives_identical_bytes_and_cache_files(tmp_path):
    def build(cache):
        dm = small(task="segmentation", digits_per_sphere=2, train_size=80, augment=2, cache_dir=str(cache))
        dm.setup()
        return dm

    a, b = build(tmp_path / "a"), build(tmp_path / "b")
    assert torch.equal(a.train_dataset.images, b.train_dataset.images)
    assert torch.equal(a.test_datasets["rotated"].targets, b.test_datasets["rotated"].targets)
    files_a = sorted((tmp_path / "a").glob("*.npz"))
    files_b = sorted((tmp_path / "b").glob("*.npz"))
    assert [f.name for f in files_a] == [f.name for f in files_b] and len(files_a) == 3
    assert all(fa.read_bytes() == fb.read_bytes() for fa, fb in zip(files_a, files_b, strict=True))
    c = small(task="segmentation", digits_per_sphere=2, train_size=80, augment=2, seed=1, cache_dir=str(tmp_path / "c"))
    c.setup()
    assert not torch.isclose(c.train_dataset.rotations, a.train_dataset.rotations).all(dim=(1, 2)).any()
    # The evaluation data depend on split_seed only: identical across training seeds.
    assert torch.equal(c.test_datasets["rotated"].images, a.test_datasets["rotated"].images)


def _source_indices(dataset) -> set[int]:
    return set(dataset.plan.members.reshape(-1).tolist())


def test_train_val_test_are_disjoint(mnist_dir):
    dm = SphericalDataModule(
        source="mnist",
        root=str(mnist_dir),
        split_test_set=True,
        bandwidth=6,
        progress=False,
        download=False,
        task="segmentation",
        digits_per_sphere=2,
    )
    dm.setup()
    splits = dm._splits
    train = set(splits.train.index[list(_source_indices(dm.train_dataset))].tolist())
    val = set(splits.val.index[list(_source_indices(dm.val_dataset))].tolist())
    test = set(splits.test.index[list(_source_indices(dm.test_datasets["rotated"]))].tolist())
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_datasets["rotated"])) == (7000, 1000, 2000)
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(train) == 7000, "every training image leads a canvas, partners come from the same images"


def test_real_mnist_experiment_configuration(mnist_dir):
    """The lead's run: the 10k real MNIST test images split into train/val/test, at b = 30."""
    dm = SphericalDataModule(
        source="mnist",
        root=str(mnist_dir),
        split_test_set=True,
        bandwidth=30,
        train_size=500,
        val_size=200,
        test_size=300,
        progress=False,
    )
    dm.setup()
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (32, 1, 60, 60) and (len(dm.val_dataset), len(dm.test_datasets["rotated"])) == (200, 300)
    text = dm.describe(file=False)
    assert "official mnist test set" in text and "500 samples" in text


def test_missing_train_files_without_split_test_set(mnist_dir):
    dm = SphericalDataModule(source="mnist", root=str(mnist_dir), download=False, progress=False)
    with pytest.raises(MissingDataFileError, match="train-images-idx3-ubyte.gz.*split_test_set=True"):
        dm.setup()


def test_describe_reports_sizes_balance_and_rotations(capsys):
    dm = small(task="segmentation", digits_per_sphere=3, train_size=120, augment=2, rotate_test="both")
    assert "nothing built yet" in dm.describe(file=False)
    dm.setup()
    text = dm.describe()
    assert text in capsys.readouterr().out
    for expected in (
        "240 samples = 120 distinct images x 2",
        "test/unrotated",
        "test/rotated",
        "background:",
        "3 digit(s) per sphere",
        "augment 2",
        "rotated (Haar",
    ):
        assert expected in text


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"bandwidth": 3}, ("bandwidth", "3")),
        ({"task": "detection"}, ("task", "detection")),
        ({"source": "cifar10"}, ("source", "cifar10")),
        ({"train_size": -5}, ("train_size", "-5")),
        ({"train_size": 0}, ("train_size", "0")),
        ({"val_size": -1}, ("val_size", "-1")),
        ({"test_size": -2}, ("test_size", "-2")),
        ({"augment": 0}, ("augment", "0")),
        ({"augment": "always"}, ("augment", "always")),
        ({"rotate_train": False, "augment": 3}, ("augment=3", "rotate_train=False")),
        ({"rotate_test": "sometimes"}, ("rotate_test", "sometimes")),
        (
            {"task": "segmentation", "digits_per_sphere": 5, "canvas_size": 56},
            ("digits_per_sphere=5", "canvas_size=56"),
        ),
        ({"task": "segmentation", "digits_per_sphere": 0}, ("digits_per_sphere", "0")),
        ({"digits_per_sphere": 2}, ("digits_per_sphere", "2")),
        ({"canvas_size": 56}, ("canvas_size", "56")),
        ({"threshold": 300}, ("threshold", "300")),
        ({"projection": "mercator"}, ("projection", "mercator")),
        ({"image_angular_radius": 200.0}, ("image_angular_radius", "200.0")),
        ({"batch_size": 0}, ("batch_size", "0")),
        ({"num_workers": -1}, ("num_workers", "-1")),
        ({"seed": -1}, ("seed", "-1")),
        ({"split_test_set": True}, ("split_test_set",)),
        ({"download_timeout": 0}, ("download_timeout", "0")),
    ],
)
def test_bad_parameters_are_named(kwargs, names):
    with pytest.raises(ValueError) as info:
        SphericalDataModule(**kwargs)
    for name in names:
        assert name in str(info.value)


def test_sizes_beyond_the_data_are_named():
    with pytest.raises(ValueError, match="train_size=5000 exceeds the 1,258 training images"):
        small(train_size=5000).setup("fit")
    with pytest.raises(ValueError, match="val_size=900 and test_size=900"):
        small(val_size=900, test_size=900).setup("fit")
    with pytest.raises(ValueError, match="digits_per_sphere=3 needs train_size >= 3"):
        small(task="segmentation", digits_per_sphere=3, train_size=2).setup("fit")


def test_constructor_is_typed_for_lightning_cli():
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(SphericalDataModule, "data")
    args = [
        "--data.source",
        "mnist",
        "--data.root",
        "/some/dir",
        "--data.augment",
        "4",
        "--data.rotate_test",
        "both",
        "--data.task",
        "segmentation",
        "--data.digits_per_sphere",
        "3",
        "--data.rotate_val",
        "false",
    ]
    config = parser.parse_args(args)
    assert config.data.augment == 4 and config.data.rotate_test == "both" and config.data.rotate_val is False
    assert parser.parse_args(["--data.augment", "online"]).data.augment == "online"
    dm = parser.instantiate(parser.parse_args(["--data.bandwidth", "8"])).data
    assert isinstance(dm, SphericalDataModule) and dm.bandwidth == 8 and dm.source == "digits"
    with pytest.raises(Exception, match="source"):
        parser.parse_args(["--data.source", "cifar10"])


class _TinyClassifier(L.LightningModule):
    def __init__(self, pixels: int, num_classes: int) -> None:
        super().__init__()
        self.head = nn.Linear(pixels, num_classes)
        self.seen: list[int] = []

    def _loss(self, batch):
        x, y = batch
        return nn.functional.cross_entropy(self.head(x.flatten(1)), y)

    def training_step(self, batch, batch_idx):
        return self._loss(batch)

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self._loss(batch))

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self.seen.append(dataloader_idx)
        self.log("test/loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_trainer_runs_fit_and_both_test_splits(tmp_path):
    dm = small(rotate_test="both", train_size=64, test_size=64, batch_size=16)
    model = _TinyClassifier((2 * dm.bandwidth) ** 2, dm.num_classes)
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        accelerator="cpu",
    )
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, verbose=False)
    assert set(model.seen) == {0, 1}


@pytest.mark.parametrize("augment", [1, "online"])
def test_input_scaling_maps_the_stored_intensities(augment):
    """unit: u/255; byte: u exactly; standardize: the training pixels get mean 0 and std 1, val/test the same map."""
    kwargs = {"train_size": 64, "augment": augment, "rotate_train": True}
    unit, byte, std = (small(input_scaling=s, **kwargs) for s in ("unit", "byte", "standardize"))
    for dm in (unit, byte, std):
        dm.setup("fit")
    u = unit.val_dataset.images.float()
    xu = torch.stack([unit.val_dataset[i][0] for i in range(8)])
    xb = torch.stack([byte.val_dataset[i][0] for i in range(8)])
    xs = torch.stack([std.val_dataset[i][0] for i in range(8)])
    assert torch.equal(xb[:, 0], u[:8]) and torch.allclose(xu[:, 0], u[:8] / 255)
    assert torch.allclose(xs, (xu - std.scaling.mean) / std.scaling.std, atol=1e-6)
    if augment == 1:  # exact statistics of the stored training set
        train = torch.stack([std.train_dataset[i][0] for i in range(len(std.train_dataset))])
        assert abs(float(train.mean())) < 1e-5 and abs(float(train.std()) - 1) < 1e-3
    assert 0.05 < std.scaling.mean < 0.2 and 0.1 < std.scaling.std < 0.4  # digits cover a small part of the sphere


def test_standardize_gives_the_same_statistics_in_a_test_only_stage():
    fit, test = small(train_size=64, input_scaling="standardize"), small(train_size=64, input_scaling="standardize")
    fit.setup("fit")
    test.setup("test")
    assert (fit.scaling.mean, fit.scaling.std) == (test.scaling.mean, test.scaling.std)
    assert "standardize" in test.describe(file=False)


def test_unknown_input_scaling_is_named():
    with pytest.raises(ValueError, match="input_scaling"):
        small(input_scaling="zscore")


@pytest.mark.parametrize("train_size, augment, batch_size", [(33, 1, 8), (11, 3, 16)])
def test_training_never_yields_a_batch_of_one(isolated_cache, train_size, augment, batch_size):
    # train_size x augment = 1 mod batch_size: the last batch would hold one sample, which BatchNorm cannot
    # normalise (the CNN baseline crashed after a full epoch). It is dropped in training, kept in evaluation.
    dm = small(train_size=train_size, augment=augment, batch_size=batch_size, rotate_train=augment > 1)
    dm.setup("fit")
    assert len(dm.train_dataset) % batch_size == 1
    sizes = [len(y) for _, y in dm.train_dataloader()]
    assert min(sizes) > 1 and sum(sizes) == len(dm.train_dataset) - 1
    kept = small(train_size=train_size + 1, augment=1, batch_size=batch_size)  # other remainders keep every sample
    kept.setup("fit")
    assert sum(len(y) for _, y in kept.train_dataloader()) == len(kept.train_dataset)


@pytest.mark.parametrize(
    "num_samples, batch_size, train, expected",
    [(64, 32, True, 2), (65, 32, True, 2), (65, 32, False, 3), (66, 32, True, 3), (1, 32, True, 1), (7, 1, True, 7)],
)
def test_num_batches_states_the_loaders_rule(num_samples, batch_size, train, expected):
    from sphere_study.data import drops_last_batch, num_batches

    assert num_batches(num_samples, batch_size, train) == expected
    assert drops_last_batch(num_samples, batch_size, train) == (train and num_samples % batch_size == 1 < num_samples)


@pytest.mark.parametrize("train_size, augment, batch_size", [(33, 1, 8), (32, 1, 8), (11, 3, 16), (20, "online", 8)])
def test_num_batches_equals_the_loaders_length(isolated_cache, train_size, augment, batch_size):
    # The cost estimate counts steps with num_batches: it must be what the loaders actually yield.
    from sphere_study.data import num_batches
    from sphere_study.results import num_train_samples

    dm = small(train_size=train_size, augment=augment, batch_size=batch_size, rotate_train=augment != 1)
    dm.setup("fit")
    n = num_train_samples(train_size, augment)
    assert len(dm.train_dataset) == n
    assert len(list(dm.train_dataloader())) == num_batches(n, batch_size, train=True)
    assert len(list(dm.val_dataloader())) == num_batches(len(dm.val_dataset), batch_size, train=False)
