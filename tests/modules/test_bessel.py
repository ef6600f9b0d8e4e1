import math

import mpmath
import pytest
import scipy.special
import torch

from elmo_c.modules.bessel import log_bessel_iv, log_vmf_normaliser

DIMENSIONS = [2, 3, 10, 41, 42, 100, 300, 512, 1024]
KAPPAS = [1e-4, 1e-2, 0.5, 1.0, 10.0, 100.0, 700.0, 1000.0, 5000.0, 1e4]


def _scipy_log_iv(order: float, x: float) -> float:
    return math.log(scipy.special.ive(order, x)) + x


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_log_bessel_matches_scipy_where_scipy_is_finite(dimension):
    order = dimension / 2 - 1
    x = torch.tensor(KAPPAS, dtype=torch.float64)
    ours = log_bessel_iv(order, x).numpy()
    for value, kappa in zip(ours, KAPPAS):
        scaled = scipy.special.ive(order, kappa)
        if scaled > 1e-290:  # scipy underflows to 0 for large orders at small kappa
            assert value == pytest.approx(_scipy_log_iv(order, kappa), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("dimension", [300, 1024])
def test_log_bessel_is_finite_and_exact_where_scipy_underflows(dimension):
    order = dimension / 2 - 1
    assert scipy.special.ive(order, 1e-2) == 0.0  # the case this module exists for
    mpmath.mp.dps = 40
    for kappa in [1e-4, 1e-2, 1.0]:
        exact = float(mpmath.log(mpmath.besseli(order, kappa)))
        ours = log_bessel_iv(order, torch.tensor([kappa], dtype=torch.float64)).item()
        assert ours == pytest.approx(exact, rel=1e-10)


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_log_bessel_gradient_is_the_bessel_ratio(dimension):
    order = dimension / 2 - 1
    x = torch.tensor(KAPPAS, dtype=torch.float64, requires_grad=True)
    log_bessel_iv(order, x).sum().backward()
    mpmath.mp.dps = 40
    for gradient, kappa in zip(x.grad.tolist(), KAPPAS):
        expected = float(mpmath.besseli(order + 1, kappa) / mpmath.besseli(order, kappa) + order / kappa)
        assert gradient == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("dimension", [3, 50, 300, 1024])
def test_vmf_normaliser_value_and_gradient(dimension):
    kappa = torch.tensor(KAPPAS, dtype=torch.float64, requires_grad=True)
    log_normaliser = log_vmf_normaliser(dimension, kappa)
    log_normaliser.sum().backward()
    order = dimension / 2 - 1
    mpmath.mp.dps = 40
    for value, gradient, k in zip(log_normaliser.tolist(), kappa.grad.tolist(), KAPPAS):
        bessel = mpmath.besseli(order, k)
        expected = float(order * mpmath.log(k) - dimension / 2 * mpmath.log(2 * mpmath.pi) - mpmath.log(bessel))
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-9)
        assert gradient == pytest.approx(-float(mpmath.besseli(order + 1, k) / bessel), rel=1e-8, abs=1e-12)


def test_float32_inputs_stay_finite_at_extremes():
    kappa = torch.tensor([1e-8, 1e4, 2e4], dtype=torch.float32, requires_grad=True)
    value = log_vmf_normaliser(1024, kappa)
    value.sum().backward()
    assert value.dtype == torch.float32
    assert torch.isfinite(value).all() and torch.isfinite(kappa.grad).all()


def test_bad_orders_and_dimensions_are_rejected():
    with pytest.raises(ValueError):
        log_bessel_iv(-1.0, torch.ones(1))
    with pytest.raises(ValueError):
        log_vmf_normaliser(1, torch.ones(1))


@pytest.mark.parametrize("function", [lambda x: log_bessel_iv(3.0, x), lambda x: log_vmf_normaliser(300, x)])
def test_clamped_inputs_have_zero_gradient_and_a_second_derivative_is_refused(function):
    x = torch.tensor([0.0, 1e-12, 0.5], dtype=torch.float64, requires_grad=True)
    (gradient,) = torch.autograd.grad(function(x).sum(), x, create_graph=True)
    assert gradient[:2].tolist() == [0.0, 0.0] and gradient[2] != 0
    with pytest.raises(RuntimeError):
        torch.autograd.grad(gradient.sum(), x)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs_are_computed_and_returned_in_float32(dtype):
    kappa = torch.tensor([0.5, 3.0, 40.0, 900.0]).to(dtype).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        normaliser = log_vmf_normaliser(300, kappa)
        bessel = log_bessel_iv(149.0, kappa)
    assert normaliser.dtype == bessel.dtype == torch.float32
    torch.testing.assert_close(normaliser, log_vmf_normaliser(300, kappa.detach().float()))
    torch.testing.assert_close(bessel, log_bessel_iv(149.0, kappa.detach().float()))
    (normaliser.sum() + bessel.sum()).backward()
    assert kappa.grad.dtype == dtype and torch.isfinite(kappa.grad).all()
