import math

import numpy
import pytest
import scipy.special
import torch

from allennlp.common import Params

from elmo_c.modules.continuous_losses import ContinuousLoss, CosineLoss, VonMisesFisherLoss


def test_cosine_loss_is_one_minus_cosine_and_ignores_scale():
    predictions = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    targets = torch.tensor([[3.0, 0.0], [0.0, -1.0], [1.0, 0.0]])
    losses = CosineLoss()(predictions, targets)
    assert losses.tolist() == pytest.approx([0.0, 2.0, 1 - 1 / math.sqrt(2)], abs=1e-6)


def test_vmf_loss_matches_a_direct_scipy_computation():
    generator = torch.Generator().manual_seed(0)
    dimension = 300
    predictions = torch.randn(8, dimension, generator=generator, dtype=torch.float64) * 3
    targets = torch.randn(8, dimension, generator=generator, dtype=torch.float64)
    lambda_1, lambda_2 = 0.5, 0.1
    ours = VonMisesFisherLoss(lambda_1, lambda_2)(predictions, targets).numpy()

    y, e = predictions.numpy(), targets.numpy()
    kappa = numpy.linalg.norm(y, axis=1)
    e_hat = e / numpy.linalg.norm(e, axis=1, keepdims=True)
    order = dimension / 2 - 1
    log_bessel = numpy.log(scipy.special.ive(order, kappa)) + kappa
    log_c = order * numpy.log(kappa) - dimension / 2 * numpy.log(2 * numpy.pi) - log_bessel
    expected = -log_c - lambda_1 * (y * e_hat).sum(axis=1) + lambda_2 * kappa
    numpy.testing.assert_allclose(ours, expected, rtol=1e-9)


def test_vmf_loss_gradient_pulls_prediction_towards_target():
    target = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    prediction = torch.tensor([[0.0, 2.0, 0.0, 0.0]], requires_grad=True)
    VonMisesFisherLoss()(prediction, target).sum().backward()
    assert prediction.grad[0, 0] < 0  # a descent step increases the target component


def test_losses_are_built_from_params():
    assert isinstance(ContinuousLoss.from_params(Params({})), CosineLoss)
    loss = ContinuousLoss.from_params(Params({"type": "vmf", "lambda_2": 0.3}))
    assert isinstance(loss, VonMisesFisherLoss) and loss.lambda_2 == 0.3


@pytest.mark.parametrize("loss", [CosineLoss(), VonMisesFisherLoss(lambda_1=0.9, lambda_2=0.05)])
def test_loss_and_cosine_give_the_loss_and_a_detached_cosine(loss):
    predictions = torch.randn(6, 8, requires_grad=True)
    targets = torch.randn(6, 8)
    losses, cosines = loss.loss_and_cosine(predictions, targets)
    assert torch.allclose(losses, loss(predictions, targets), atol=1e-6)
    expected = torch.nn.functional.cosine_similarity(predictions, targets, dim=-1)
    assert torch.allclose(cosines, expected.detach(), atol=1e-6)
    assert not cosines.requires_grad and losses.requires_grad


# -- mixed precision -------------------------------------------------------------------------


@pytest.mark.parametrize("loss", [CosineLoss(), VonMisesFisherLoss(lambda_1=0.9, lambda_2=0.05)])
def test_under_bfloat16_autocast_the_loss_of_float32_inputs_is_the_float32_loss(loss):
    generator = torch.Generator().manual_seed(0)
    predictions = torch.randn(32, 300, generator=generator) * 5
    targets = torch.randn(32, 300, generator=generator)
    expected, expected_cosines = loss.loss_and_cosine(predictions, targets)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        called = loss(predictions, targets)
        losses, cosines = loss.loss_and_cosine(predictions, targets)
    assert called.dtype == losses.dtype == cosines.dtype == torch.float32
    torch.testing.assert_close(called, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(losses, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(cosines, expected_cosines, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("loss", [CosineLoss(), VonMisesFisherLoss(lambda_1=0.9, lambda_2=0.05)])
def test_bfloat16_predictions_get_a_float32_loss_and_finite_gradients(loss):
    """What a projection under autocast gives the loss: bfloat16 predictions."""
    generator = torch.Generator().manual_seed(0)
    predictions = (torch.randn(32, 300, generator=generator) * 5).bfloat16().requires_grad_()
    targets = torch.randn(32, 300, generator=generator)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses, _ = loss.loss_and_cosine(predictions, targets)
    assert losses.dtype == torch.float32
    # Exactly the float32 loss of the same (rounded) values: nothing is computed in bfloat16.
    torch.testing.assert_close(losses, loss(predictions.detach().float(), targets), rtol=1e-6, atol=1e-6)
    losses.sum().backward()
    assert predictions.grad.dtype == torch.bfloat16 and torch.isfinite(predictions.grad).all()
