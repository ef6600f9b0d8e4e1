"""
A numerically stable ``log I_v(x)`` (modified Bessel function of the first kind)
with an exact gradient, for the von Mises-Fisher normaliser at large ``v`` and
large ``x``.

``I_v(x)`` overflows float64 for ``x`` around 700 and underflows for large ``v``
at small ``x``; ``scipy.special.ive`` removes the first problem but not the
second (``ive(511, 1.0) == 0``).  For ``v >= _DEBYE_MIN_ORDER`` we therefore use
Debye's uniform asymptotic expansion, which is accurate to ~1e-10 relative there
for every ``x > 0``; for smaller orders scipy's scaled Bessel function is exact
and cannot underflow in the range we clamp ``x`` to.  The gradient uses the
identity ``d/dx log I_v(x) = I_{v+1}(x) / I_v(x) + v / x``.

Precision and devices: the functions below compute in float64 whatever their
input, with autocast turned off (so a float16 or bfloat16 autocast region, such as
AllenNLP's `use_amp`, changes nothing), and return at least float32.  Debye's
expansion (orders >= 20, i.e. von Mises-Fisher dimensions >= 44, such as 300-d
targets) runs on the input's device with no host synchronisation; smaller orders
go through scipy on the host, which copies `x` to the CPU and back (a
synchronisation on a GPU).
"""
import math

import numpy
import scipy.special
import torch
from torch.autograd.function import once_differentiable

_DEBYE_MIN_ORDER = 20.0
_MIN_X = 1e-10

# Coefficients of Debye's polynomials u_1..u_4 in t, lowest power first.
_DEBYE_POLYNOMIALS = [
    ([0.0, 3.0, 0.0, -5.0], 24.0),
    ([0.0, 0.0, 81.0, 0.0, -462.0, 0.0, 385.0], 1152.0),
    ([0.0, 0.0, 0.0, 30375.0, 0.0, -369603.0, 0.0, 765765.0, 0.0, -425425.0], 414720.0),
    (
        [0.0, 0.0, 0.0, 0.0, 4465125.0, 0.0, -94121676.0, 0.0, 349922430.0, 0.0,
         -446185740.0, 0.0, 185910725.0],
        39813120.0,
    ),
]


def _polynomial(coefficients, t: torch.Tensor) -> torch.Tensor:
    result = torch.zeros_like(t)
    for coefficient in reversed(coefficients):
        result = result * t + coefficient
    return result


def _log_bessel_debye(order: float, x: torch.Tensor) -> torch.Tensor:
    z = x / order
    root = torch.sqrt(1.0 + z * z)
    t = 1.0 / root
    eta = root + torch.log(z / (1.0 + root))
    series = torch.ones_like(x)
    for k, (coefficients, denominator) in enumerate(_DEBYE_POLYNOMIALS, start=1):
        series = series + _polynomial(coefficients, t) / denominator / order**k
    return (
        order * eta
        - 0.5 * math.log(2.0 * math.pi * order)
        - 0.5 * torch.log(root)
        + torch.log(series)
    )


def _log_bessel_scipy(order: float, x: torch.Tensor) -> torch.Tensor:
    values = x.detach().cpu().numpy()
    log_ive = numpy.log(scipy.special.ive(order, values))
    return torch.from_numpy(log_ive).to(x.device) + x


def _log_bessel_value(order: float, x: torch.Tensor) -> torch.Tensor:
    if order >= _DEBYE_MIN_ORDER:
        return _log_bessel_debye(order, x)
    return _log_bessel_scipy(order, x)


def _bessel_ratio(order: float, x: torch.Tensor, log_bessel: torch.Tensor) -> torch.Tensor:
    """``I_{order+1}(x) / I_order(x)``, given ``log I_order(x)``."""
    return torch.exp(_log_bessel_value(order + 1.0, x) - log_bessel)


def _clamped(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float64, clamped to ``>= _MIN_X``; the clamp is a constant below it (zero gradient)."""
    return x.double().clamp(min=_MIN_X)


# The backward passes compute their derivatives with scipy in float64, outside
# autograd: the functions are differentiable once.
class _LogBessel(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, order: float) -> torch.Tensor:
        x64 = _clamped(x)
        log_bessel = _log_bessel_value(order, x64)
        ctx.save_for_backward(x64, log_bessel, x.double() < _MIN_X)
        ctx.order = order
        return log_bessel.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        x64, log_bessel, clamped = ctx.saved_tensors
        derivative = (_bessel_ratio(ctx.order, x64, log_bessel) + ctx.order / x64).masked_fill(clamped, 0.0)
        return (grad_output.double() * derivative).to(grad_output.dtype), None


def log_bessel_iv(order: float, x: torch.Tensor) -> torch.Tensor:
    """
    ``log I_order(x)``, elementwise, stable for orders up to thousands and ``x`` up
    to at least 1e5, differentiable (once) in ``x``.  ``x`` is clamped to ``>= 1e-10``,
    where the gradient is then 0.

    # Parameters

    order : `float`
        The (non-negative) order ``v`` of the Bessel function.
    x : `torch.Tensor`
        Positive arguments, any shape.  float16 and bfloat16 are computed (and
        returned) as float32.
    """
    if order < 0:
        raise ValueError(f"log_bessel_iv needs a non-negative order, got {order}")
    with torch.autocast(device_type=x.device.type, enabled=False):
        return _LogBessel.apply(_at_least_float32(x), float(order))


class _LogVmfNormaliser(torch.autograd.Function):
    # A Function of its own, not log_bessel_iv composed with log: the two terms'
    # gradients (v / kappa and -(I_{v+1}/I_v + v / kappa)) cancel, which loses
    # all precision at small kappa unless the cancellation is done analytically.
    @staticmethod
    def forward(ctx, kappa: torch.Tensor, dimension: int) -> torch.Tensor:
        order = dimension / 2.0 - 1.0
        kappa64 = _clamped(kappa)
        log_bessel = _log_bessel_value(order, kappa64)
        ctx.save_for_backward(kappa64, log_bessel, kappa.double() < _MIN_X)
        ctx.order = order
        log_normaliser = (
            order * torch.log(kappa64) - (dimension / 2.0) * math.log(2.0 * math.pi) - log_bessel
        )
        return log_normaliser.to(kappa.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        kappa64, log_bessel, clamped = ctx.saved_tensors
        ratio = _bessel_ratio(ctx.order, kappa64, log_bessel).masked_fill(clamped, 0.0)
        return (-grad_output.double() * ratio).to(grad_output.dtype), None


def log_vmf_normaliser(dimension: int, kappa: torch.Tensor) -> torch.Tensor:
    """
    ``log C_m(kappa)`` of the von Mises-Fisher distribution on the unit sphere in
    ``m = dimension`` dimensions:
    ``(m/2 - 1) log kappa - (m/2) log(2 pi) - log I_{m/2-1}(kappa)``,
    with gradient ``-I_{m/2}(kappa) / I_{m/2-1}(kappa)`` (once differentiable).
    ``kappa`` is clamped to ``>= 1e-10``, where the gradient is then 0.  The result is
    float32 for a float16 or bfloat16 ``kappa`` (see the module docstring).
    """
    if dimension < 2:
        raise ValueError(f"a von Mises-Fisher distribution needs dimension >= 2, got {dimension}")
    with torch.autocast(device_type=kappa.device.type, enabled=False):
        return _LogVmfNormaliser.apply(_at_least_float32(kappa), int(dimension))


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """float16 and bfloat16 (e.g. from an autocast region) become float32; float32 and float64 stay."""
    return x.float() if x.element_size() < 4 else x
