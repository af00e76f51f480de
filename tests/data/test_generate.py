"""Sample generation: Haar-uniform independent rotations, reproducibility, augmentation copies, online rotations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.utils.data import DataLoader

from sphere_study.data import (
    OnlineSphericalDataset,
    SphereSetSpec,
    derive_generator,
    plan_sphere_set,
    render_sphere_set,
)
from sphere_study.harmonics import rotation_matrix

# Significance level of every uniformity test (fixed seeds, so the outcome is deterministic).
ALPHA = 0.01
# A sampler that is not Haar must be rejected far more clearly than that: the tests have power.
POWER_P_VALUE = 1e-6


def haar_angle_cdf(theta):
    r"""CDF of the rotation angle of a Haar-random rotation: density :math:`(1 - \cos\theta)/\pi` on [0, π]."""
    return (theta - np.sin(theta)) / np.pi


def rotation_angles(rotations: torch.Tensor) -> np.ndarray:
    trace = rotations.diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.arccos(((trace - 1) / 2).clamp(-1, 1)).numpy()


def uniformity_p_values(rotations: torch.Tensor) -> dict[str, float]:
    """KS p-values of statistics whose law under the Haar measure is known."""
    axis = rotations[:, :, 2].numpy()  # R e_z, uniform on S²
    other = rotations[:, :, 0].numpy()  # R e_x, uniform on S²
    return {
        "rotation angle ~ (1 - cos)/pi": stats.kstest(rotation_angles(rotations), haar_angle_cdf).pvalue,
        "cos of R e_z ~ U[-1, 1]": stats.kstest(axis[:, 2], stats.uniform(-1, 2).cdf).pvalue,
        "azimuth of R e_z ~ U[-pi, pi]": stats.kstest(
            np.arctan2(axis[:, 1], axis[:, 0]), stats.uniform(-np.pi, 2 * np.pi).cdf
        ).pvalue,
        "cos of R e_x ~ U[-1, 1]": stats.kstest(other[:, 1], stats.uniform(-1, 2).cdf).pvalue,
    }


@pytest.fixture(scope="module")
def augmented_plan(digits):
    """Training plan over all 1,797 digits with 12 copies: 21,564 rotations."""
    spec = SphereSetSpec("classification", 8, rotated=True, copies=12, seed=0, stream="train")
    return plan_sphere_set(spec, digits)


def test_rotations_are_haar_uniform(augmented_plan):
    for name, p in uniformity_p_values(augmented_plan.rotations).items():
        assert p > ALPHA, f"{name}: p = {p:.2e}"


def test_rotations_are_independent_across_samples(augmented_plan):
    r"""If R_i, R_j are independent and Haar, so is R_i^T R_j: its rotation angle follows the Haar law too."""
    rotations = augmented_plan.rotations
    n = len(augmented_plan.layout)
    neighbours = rotations[:-1].transpose(1, 2) @ rotations[1:]  # consecutive samples
    copies = rotations[:n].transpose(1, 2) @ rotations[n : 2 * n]  # copy 0 vs copy 1 of the same image
    for name, relative in (("consecutive samples", neighbours), ("copies of one image", copies)):
        p = stats.kstest(rotation_angles(relative), haar_angle_cdf).pvalue
        assert p > ALPHA, f"{name}: p = {p:.2e}"


def test_the_uniformity_tests_reject_a_non_haar_sampler():
    # Euler angles drawn uniformly from their ranges are the classic non-uniform sampler.
    g = torch.Generator().manual_seed(0)
    n = 20_000
    alpha, gamma = (torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi for _ in range(2))
    beta = torch.rand(n, generator=g, dtype=torch.float64) * math.pi
    p_values = uniformity_p_values(rotation_matrix(alpha, beta, gamma))
    assert p_values["rotation angle ~ (1 - cos)/pi"] < POWER_P_VALUE
    assert p_values["cos of R e_z ~ U[-1, 1]"] < POWER_P_VALUE


def test_augment_gives_n_times_a_samples_with_distinct_rotations(digits):
    n, copies = 100, 5
    spec = SphereSetSpec("classification", 8, rotated=True, copies=copies, seed=3)
    plan = plan_sphere_set(spec, digits, torch.arange(n))
    assert len(plan) == n * copies
    assert torch.equal(torch.bincount(plan.canvas), torch.full((n,), copies))
    assert torch.equal(plan.copy, torch.arange(copies).repeat_interleave(n))
    flat = plan.rotations.reshape(len(plan), 9)
    distances = torch.cdist(flat, flat) + torch.eye(len(plan), dtype=flat.dtype) * 10
    assert float(distances.min()) > 1e-3, "two samples share a rotation"
    rendered = render_sphere_set(plan, digits, progress=False)
    assert len(torch.unique(rendered.images.reshape(len(plan), -1), dim=0)) == n * copies


def test_rotations_of_an_image_copy_are_nested_across_n_and_a(digits):
    small = plan_sphere_set(
        SphereSetSpec("classification", 8, rotated=True, copies=2, seed=4), digits, torch.arange(50)
    )
    large = plan_sphere_set(
        SphereSetSpec("classification", 8, rotated=True, copies=3, seed=4), digits, torch.arange(80)
    )
    for a in range(2):
        assert torch.equal(small.rotations[a * 50 : (a + 1) * 50], large.rotations[a * 80 : a * 80 + 50])


def test_same_seed_gives_identical_bytes_and_another_seed_other_rotations(digits):
    def render(seed, task="segmentation"):
        spec = SphereSetSpec(task, 12, rotated=True, copies=2, seed=seed, digits_per_sphere=2, canvas_size=72)
        return render_sphere_set(plan_sphere_set(spec, digits, torch.arange(60)), digits, progress=False)

    first, second, other = render(7), render(7), render(8)
    assert first.images.numpy().tobytes() == second.images.numpy().tobytes()
    assert first.targets.numpy().tobytes() == second.targets.numpy().tobytes()
    assert torch.equal(first.plan.rotations, second.plan.rotations)
    assert not torch.isclose(first.plan.rotations, other.plan.rotations).all(dim=(1, 2)).any()
    assert not torch.equal(first.plan.members, other.plan.members)  # partners and placement come from the seed
    assert not torch.equal(first.images, other.images)


def test_splits_use_independent_random_streams(digits):
    train = plan_sphere_set(SphereSetSpec("classification", 8, rotated=True, seed=0, stream="train"), digits)
    test = plan_sphere_set(SphereSetSpec("classification", 8, rotated=True, seed=0, stream="test"), digits)
    assert not torch.isclose(train.rotations, test.rotations).all(dim=(1, 2)).any()


def test_unrotated_sets_use_the_identity(digits):
    plan = plan_sphere_set(SphereSetSpec("classification", 8, rotated=False), digits)
    assert plan.rotations is None
    with pytest.raises(ValueError, match="augment=3"):
        SphereSetSpec("classification", 8, rotated=False, copies=3)


def online_dataset(digits, seed=0, task="classification"):
    k = 2 if task == "segmentation" else 1
    spec = SphereSetSpec(task, 10, rotated=False, seed=seed, digits_per_sphere=k, canvas_size=72 if k > 1 else 28)
    return OnlineSphericalDataset(plan_sphere_set(spec, digits, torch.arange(40)), digits, seed)


@pytest.mark.parametrize("task", ["classification", "segmentation"])
def test_online_draws_a_new_rotation_on_every_load(digits, task):
    dataset = online_dataset(digits, task=task)
    first = torch.stack([dataset[i][0] for i in range(len(dataset))])
    second = torch.stack(list(next(iter(DataLoader(dataset, batch_size=len(dataset))))[0]))
    assert first.shape == second.shape == (40, 1, 20, 20) and first.dtype == torch.float32
    changed = (first - second).abs().amax(dim=(1, 2, 3)) > 0
    assert bool(changed.all()), "every sample must look different on its second load"
    x, y = dataset[0]
    if task == "segmentation":
        assert y.shape == (20, 20) and y.dtype == torch.int64 and int(y.max()) <= 10
    else:
        assert y.dtype == torch.int64 and y.shape == ()


def test_online_rotations_are_reproducible_from_the_seed(digits):
    a, b, c = online_dataset(digits, 5), online_dataset(digits, 5), online_dataset(digits, 6)
    batch = list(range(16))
    xa = torch.stack([s[0] for s in a.__getitems__(batch)])
    assert torch.equal(xa, torch.stack([s[0] for s in b.__getitems__(batch)]))
    assert not torch.equal(xa, torch.stack([s[0] for s in c.__getitems__(batch)]))


def test_online_workers_draw_different_rotations(digits):
    dataset = online_dataset(digits)
    loader = DataLoader(dataset, batch_size=20, num_workers=2, generator=derive_generator(0, "loader"))
    batches = [x for x, _ in loader]  # worker 0 loads items 0-19, worker 1 items 20-39
    again = [x for x, _ in DataLoader(dataset, batch_size=20, num_workers=2, generator=derive_generator(0, "loader"))]
    for x, y in zip(batches, again, strict=True):
        assert torch.equal(x, y), "a seeded loader reproduces its workers' rotations"
    relative = [torch.stack([s[0] for s in dataset.__getitems__(list(range(20)))])]
    assert not torch.equal(batches[0], relative[0]), "workers use their own streams, not the main process's"


def test_derived_generators_are_pinned():
    # Pinned values: changing how seeds are derived changes every generated set, so it must come with a new
    # FORMAT_VERSION (old cache files would otherwise be taken for the new sets) and an update of these numbers.
    generator = derive_generator(0, "train", "rotation", 0)
    assert torch.randint(0, 1000, (3,), generator=generator).tolist() == [224, 778, 957]
    other = derive_generator(1, "train", "rotation", 0)
    assert torch.randint(0, 1000, (3,), generator=other).tolist() != [224, 778, 957]
