"""Landscapes: filter normalisation, common random numbers, the spectral law, the saved Dataset."""

import json

import jax
import numpy as np
import pytest
import xarray as xr

from mollify import evaluate, make_policy, tasks
from mollify.instruments.landscape import (
    LandscapeConfig,
    compute_landscape,
    load_config,
    random_directions,
    save_dataset,
)
from mollify.instruments.landscape_analysis import grid_holder, grid_roughness, spectra


@pytest.fixture(scope="module")
def pendulum():
    task = tasks.make("pendulum")
    policy = make_policy(task)
    theta = np.asarray(policy.init(jax.random.PRNGKey(0)), np.float64)
    return task, policy, theta


def test_layer_normalised_directions_match_each_group_norm(pendulum):
    _, policy, theta = pendulum
    theta = theta + 0.1  # nonzero biases too
    d = random_directions(policy, theta, 3, seed=5)
    groups = policy.layer_index()
    for g in np.unique(groups):
        idx = groups == g
        np.testing.assert_allclose(
            np.linalg.norm(d[:, idx], axis=1), np.linalg.norm(theta[idx]), rtol=1e-10
        )
    assert not np.allclose(d[0], d[1])
    np.testing.assert_array_equal(d, random_directions(policy, theta, 3, seed=5))


def test_filter_normalisation_and_zero_biases(pendulum):
    _, policy, theta = pendulum  # biases are zero at initialisation
    d = random_directions(policy, theta, 1, seed=1, normalization="filter")[0]
    (w0, _), *_ = policy.layers(theta)
    (dw0, db0), *_ = policy.layers(d)
    np.testing.assert_allclose(
        np.linalg.norm(np.asarray(dw0), axis=0), np.linalg.norm(np.asarray(w0), axis=0), rtol=1e-5
    )
    assert np.all(np.asarray(db0) == 0)


@pytest.mark.parametrize("start", ["fixed", "random"])
def test_action_mode_uses_common_random_numbers(pendulum, start):
    task, policy, theta = pendulum
    cfg = LandscapeConfig(
        dims=1, grid=5, extent=0.5, sigmas=(0.0, 0.3), samples=8, seed=3, start=start
    )
    ds = compute_landscape(task, policy, theta, cfg)
    d = random_directions(policy, theta, 1, seed=3)
    for k, alpha in enumerate(ds["alpha"].values):
        ref = evaluate(
            task, policy, theta + alpha * d[0], sigma=0.3, episodes=8, seed=3, start=start
        )
        assert ds["J"].sel(sigma=0.3).values[k] == pytest.approx(ref.discounted.mean(), rel=1e-6)
        halves = ds["J_halves"].sel(sigma=0.3).values[:, k]
        np.testing.assert_allclose(halves, ref.discounted.reshape(2, 4).mean(axis=1), rtol=1e-6)
    assert np.all(ds["J_stderr"].sel(sigma=0.3).values > 0)
    # At a fixed start σ = 0 is deterministic: every sample the same, no standard error.
    assert np.all(ds["J_stderr"].sel(sigma=0.0).values > 0) == (start == "random")
    # Same seed, same numbers.
    again = compute_landscape(task, policy, theta, cfg)
    np.testing.assert_array_equal(ds["J"].values, again["J"].values)


def test_param_mode_spectrum_decays_like_exp_minus_sigma2_xi2(pendulum):
    """In slice units parameter-space smoothing is a convolution: slope of log(P_σ/P_0) is −σ²."""
    task, policy, theta = pendulum
    cfg = LandscapeConfig(
        dims=1, grid=201, extent=2.0, sigmas=(0.0, 0.05, 0.1), mode="param", samples=32, episodes=2
    )
    ds = compute_landscape(task, policy, theta, cfg)
    spec = spectra(ds)
    for s in (0.05, 0.1):
        assert spec["n_fit"].sel(sigma=s) >= 5
        assert float(spec["slope"].sel(sigma=s)) == pytest.approx(-(s**2), rel=0.25)
    # A Gaussian smoothing of the raw slice shrinks its total variation.
    tv = [np.abs(np.diff(ds["J"].sel(sigma=s).values)).sum() for s in cfg.sigmas]
    assert tv[0] > tv[1] > tv[2]


def test_dataset_round_trips_through_netcdf(pendulum, tmp_path):
    task, policy, theta = pendulum
    cfg = LandscapeConfig(dims=2, grid=4, extent=0.2, sigmas=(0.0, 0.5), samples=2, seed=1)
    ds = compute_landscape(task, policy, theta, cfg)
    assert ds["J"].dims == ("sigma", "alpha", "beta")
    assert ds["J"].shape == (2, 4, 4)
    path = save_dataset(ds, tmp_path / "l.nc")
    back = xr.load_dataset(path)
    np.testing.assert_allclose(back["J"].values, ds["J"].values)
    assert load_config(back) == cfg
    assert json.loads(back.attrs["task"])["name"] == "pendulum"
    assert back.attrs["seed"] == 1
    assert not list(tmp_path.glob(".*.tmp*")), "no temp file left behind"


def _as_landscape(values: np.ndarray, spacing=0.01) -> xr.Dataset:
    alpha = np.arange(values.size) * spacing
    return xr.Dataset(
        {"J": (("sigma", "alpha"), values[None])}, coords={"sigma": [0.0], "alpha": alpha}
    )


def test_grid_holder_of_brownian_path_and_smooth_curve():
    rng = np.random.default_rng(0)
    brownian = np.cumsum(rng.standard_normal(20001))
    assert grid_holder(_as_landscape(brownian))[0.0] == pytest.approx(0.5, abs=0.05)
    smooth = np.sin(np.linspace(0, 3, 2001))
    assert grid_holder(_as_landscape(smooth))[0.0] == pytest.approx(1.0, abs=0.05)


def _with_halves(values: np.ndarray, noise: float, seed=0, spacing=0.01) -> xr.Dataset:
    """A 1-D landscape whose two half-sample estimates carry independent noise of std `noise`."""
    rng = np.random.default_rng(seed)
    halves = values[None] + noise * rng.standard_normal((2, values.size))
    ds = _as_landscape(halves.mean(axis=0), spacing)
    ds["J_halves"] = (("half", "sigma", "alpha"), halves[:, None, :])
    return ds


def test_grid_roughness_removes_the_noise_floor_that_the_naive_estimate_reads():
    smooth = np.sin(np.linspace(0, 3, 2001))  # α = 1; steps of 1.5e-3 per grid point
    noisy = _with_halves(smooth, noise=1e-2)
    naive = grid_holder(_as_landscape(noisy["J"].values[0]))[0.0]
    assert naive < 0.7  # the noise floor read as roughness
    g = grid_roughness(noisy)[0.0]
    assert g.alpha == pytest.approx(1.0, abs=0.1) and not g.note
    # The floor is the variance of an increment of the full mean: 2 × (noise² / 2).
    np.testing.assert_allclose(g.noise_floor, (1e-2) ** 2, rtol=0.1)
    assert not g.resolved[0] and g.resolved[-3:].all()


def test_grid_roughness_says_why_when_nothing_is_resolved():
    flat = _with_halves(np.zeros(21), noise=1.0)
    g = grid_roughness(flat)[0.0]
    assert np.isnan(g.alpha) and "--samples" in g.note
    assert np.isnan(grid_holder(flat)[0.0])


def test_spectra_use_the_cross_spectrum_and_explain_a_missing_slope():
    x = np.linspace(-1, 1, 201)
    rng = np.random.default_rng(1)
    base = np.cumsum(rng.standard_normal(x.size)) * 0.1
    ds = xr.Dataset(coords={"sigma": [0.0, 0.05, 5.0], "alpha": x})
    halves = np.stack([np.stack([base, base, base]) + 1e-3 * rng.standard_normal((3, x.size))
                       for _ in range(2)])  # fmt: skip
    ds["J"] = (("sigma", "alpha"), halves.mean(axis=0))
    ds["J_halves"] = (("half", "sigma", "alpha"), halves)
    spec = spectra(ds)
    assert spec["noise_power"].sel(sigma=0.05).values[1:].max() > 0
    assert spec["slope"].sel(sigma=0.05) == pytest.approx(0.0, abs=1e-3)  # same slice: no decay
    note = str(spec["note"].sel(sigma=5.0).values)
    assert np.isnan(spec["slope"].sel(sigma=5.0)) and "--extent" in note and "201 grid" in note


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match=r"^dims"):
        LandscapeConfig(dims=3).validate()
    with pytest.raises(ValueError, match=r"^sigmas"):
        LandscapeConfig(sigmas=(0.0, -1.0)).validate()
    with pytest.raises(ValueError, match=r"^mode"):
        LandscapeConfig(mode="weights").validate()
    with pytest.raises(ValueError, match=r"^kernel"):
        LandscapeConfig(kernel="cauchy").validate()


def test_gymnasium_task_landscape_runs_through_the_same_code():
    task = tasks.make("gym:Pendulum-v1", horizon=20)
    policy = make_policy(task)
    theta = np.asarray(policy.init(jax.random.PRNGKey(0)))
    cfg = LandscapeConfig(dims=1, grid=3, extent=0.5, sigmas=(0.0, 0.2), samples=2)
    ds = compute_landscape(task, policy, theta, cfg)
    assert np.all(np.isfinite(ds["J"].values)) and np.all(ds["J"].values < 0)


def test_same_seed_gives_byte_identical_landscape_files_and_another_seed_differs(
    pendulum, tmp_path
):
    task, policy, theta = pendulum

    def write(seed, name):
        cfg = LandscapeConfig(dims=2, grid=5, extent=0.5, sigmas=(0.0, 0.3), samples=2, seed=seed)
        ds = compute_landscape(task, policy, theta, cfg)
        return save_dataset(ds, tmp_path / name).read_bytes(), ds["J"].values

    first, j_first = write(3, "a.nc")
    again, _ = write(3, "b.nc")
    other, j_other = write(4, "c.nc")
    assert first == again  # the file, not only the numbers
    assert first != other and not np.allclose(j_first, j_other)
