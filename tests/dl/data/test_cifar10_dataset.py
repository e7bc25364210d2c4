"""dl.data.CIFAR10 and cifar10_loaders: the torch view of the CIFAR-10 files, seeded loaders, smoke mode."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from dl.data import (
    CIFAR10, CIFAR10_MEAN, CIFAR10_STD, REGISTRY, cifar10_loaders, cifar10_test_arrays, cifar10_transform,
    load_cifar10, write_cifar10_archive, write_cifar10_fixture,
)
from dl.data.cifar10 import CLASSES
from dl.data.download import file_md5
from dl.data.transforms import RandomHorizontalFlip, ToTensor


def standardised(images_uint8: np.ndarray) -> torch.Tensor:
    """Hand-written cifar10_transform of images (N, 32, 32, 3): channels first, /255, per-channel standardised."""
    x = torch.tensor(images_uint8, dtype=torch.float64).permute(0, 3, 1, 2) / 255
    mean, std = torch.tensor(CIFAR10_MEAN, dtype=torch.float64), torch.tensor(CIFAR10_STD, dtype=torch.float64)
    return ((x - mean.view(3, 1, 1)) / std.view(3, 1, 1)).float()


def test_dataset_holds_the_split_as_stored(cifar_fixture_shared):
    X_train, y_train, X_test, y_test = load_cifar10(cifar_fixture_shared)
    train, test = CIFAR10(cifar_fixture_shared), CIFAR10(cifar_fixture_shared, train=False)
    assert isinstance(train, torch.utils.data.Dataset) and train.train and not test.train
    assert train.data.dtype == np.uint8 and train.data.shape == (600, 32, 32, 3) and len(train) == 600
    assert test.data.shape == (200, 32, 32, 3) and len(test) == 200
    np.testing.assert_array_equal(train.data, X_train)
    np.testing.assert_array_equal(test.data, X_test)
    assert type(train.targets) is list and all(type(t) is int for t in train.targets)
    assert train.targets == y_train.tolist() and test.targets == y_test.tolist()
    assert train.classes == list(CLASSES) and train.root == cifar_fixture_shared


def test_items_are_pil_images_or_transformed(cifar_fixture_shared):
    plain = CIFAR10(cifar_fixture_shared, train=False)
    image, label = plain[7]
    assert isinstance(image, Image.Image) and image.size == (32, 32) and image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), plain.data[7])
    assert label == plain.targets[7]
    normalised = CIFAR10(cifar_fixture_shared, train=False, transform=cifar10_transform())
    x, label = normalised[7]
    assert x.dtype == torch.float32 and x.shape == (3, 32, 32) and label == plain.targets[7]
    torch.testing.assert_close(x, standardised(plain.data[7:8])[0])


def test_with_transform_shares_the_arrays(cifar_fixture_shared):
    data = CIFAR10(cifar_fixture_shared, transform=ToTensor())
    flipped = data.with_transform(RandomHorizontalFlip(p=1.0))
    assert flipped.data is data.data and flipped.targets is data.targets and data.transform is not flipped.transform
    assert torch.equal(flipped[3][0], torch.from_numpy(data.data[3]).permute(2, 0, 1).flip(-1))
    assert "600 training images" in repr(data)


def test_loaders_split_the_training_set_and_keep_the_test_set(cifar_fixture_shared):
    loader_train, loader_val, loader_test = cifar10_loaders(batch_size=64, num_train=450, root=cifar_fixture_shared)
    assert sorted(loader_train.sampler) == list(range(450))
    assert list(loader_val.sampler) == list(range(450, 600))
    assert loader_val.dataset.train and not loader_test.dataset.train
    assert len(loader_train) == 8 and len(loader_val) == 3 and len(loader_test) == 4  # ceil(450/64), ...

    images, labels = next(iter(loader_val))
    assert images.shape == (64, 3, 32, 32) and images.dtype == torch.float32 and labels.dtype == torch.int64
    train = loader_val.dataset
    torch.testing.assert_close(images, standardised(train.data[450:514]))
    assert labels.tolist() == train.targets[450:514]
    test_labels = torch.cat([y for _, y in loader_test])
    assert test_labels.tolist() == loader_test.dataset.targets


def test_training_order_is_seeded(cifar_fixture_shared):
    def orders(seed: int) -> list[list[int]]:
        sampler = cifar10_loaders(num_train=500, seed=seed, root=cifar_fixture_shared)[0].sampler
        return [list(sampler) for _ in range(2)]  # two epochs

    first, again, other = orders(0), orders(0), orders(1)
    assert first == again  # the same seed repeats every epoch's order
    assert first[0] != first[1] and first[0] != other[0]  # a new order each epoch; another seed differs
    assert sorted(first[0]) == sorted(other[0]) == list(range(500))

    loader = cifar10_loaders(batch_size=100, num_train=500, seed=0, root=cifar_fixture_shared)[0]
    torch.manual_seed(99)  # the global generator does not matter
    labels = torch.cat([y for _, y in loader]).tolist()
    assert labels == [loader.dataset.targets[i] for i in first[0]]


def test_train_transform_applies_to_the_training_loader_only(cifar_fixture_shared):
    flip_then_tensor = lambda image: ToTensor()(RandomHorizontalFlip(p=1.0)(image))  # noqa: E731
    loader_train, loader_val, _ = cifar10_loaders(num_train=500, transform=ToTensor(), root=cifar_fixture_shared,
                                                  train_transform=flip_then_tensor)
    index = next(iter(cifar10_loaders(num_train=500, root=cifar_fixture_shared)[0].sampler))  # same seed, same order
    images, _ = next(iter(loader_train))
    raw = torch.from_numpy(loader_train.dataset.data[index]).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(images[0], raw.flip(-1))
    val_images, _ = next(iter(loader_val))
    torch.testing.assert_close(val_images[0], torch.from_numpy(loader_val.dataset.data[500]).permute(2, 0, 1).float() / 255)


def test_impossible_num_train_is_an_error(cifar_fixture_shared):
    for bad in (0, 600, 49000):
        with pytest.raises(ValueError, match="num_train"):
            cifar10_loaders(num_train=bad, root=cifar_fixture_shared)


def test_smoke_mode_uses_the_fixture_through_the_same_loaders(isolated_data_dir, monkeypatch):
    monkeypatch.setenv("DL_SMOKE", "1")
    loader_train, loader_val, loader_test = cifar10_loaders()
    assert len(loader_train.sampler) == 500 and len(list(loader_val.sampler)) == 100
    assert len(loader_test.dataset) == 200
    assert loader_train.dataset.root == isolated_data_dir / "fixtures" / "cifar-10-batches-py"
    assert len(CIFAR10()) == 600


def test_missing_real_data_names_the_command(isolated_data_dir):
    with pytest.raises(FileNotFoundError, match="python -m dl.data.download cifar10"):
        CIFAR10()
    assert not isolated_data_dir.exists()


def test_download_fetches_missing_files(tmp_path, monkeypatch):
    """download=True runs the downloader; the archive was placed by hand, so no network is used."""
    archive = write_cifar10_archive(tmp_path / "data", n_train=20, n_test=10)
    same = write_cifar10_fixture(tmp_path / "same", n_train=20, n_test=10)  # byte-identical members
    members = {name: file_md5(same / name) for name in REGISTRY["cifar10"].members}
    pinned = replace(REGISTRY["cifar10"], size=archive.stat().st_size, md5=file_md5(archive), members=members,
                     url="http://127.0.0.1:9/unused")
    monkeypatch.setitem(REGISTRY, "cifar10", pinned)
    assert len(CIFAR10(tmp_path / "data" / "cifar-10-batches-py", download=True)) == 20
    with pytest.raises(ValueError, match="ending in cifar-10-batches-py"):
        CIFAR10(tmp_path / "elsewhere", download=True)


def test_held_out_test_arrays_are_what_the_loaders_give(isolated_data_dir, monkeypatch):
    arrays = cifar10_test_arrays(smoke=True)
    assert arrays["X_test"].dtype == np.float32 and arrays["X_test"].shape == (200, 3, 32, 32)
    assert arrays["y_test"].dtype == np.int64 and arrays["y_test"].shape == (200,)
    monkeypatch.setenv("DL_SMOKE", "1")
    _, _, loader_test = cifar10_loaders()
    images, labels = map(torch.cat, zip(*loader_test))
    np.testing.assert_array_equal(arrays["X_test"], images.numpy())
    np.testing.assert_array_equal(arrays["y_test"], labels.numpy())
