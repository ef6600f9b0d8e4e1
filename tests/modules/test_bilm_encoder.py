import pytest
import torch

from elmo_c.modules.bilm_encoder import BidirectionalLmEncoder, ProjectedLstm, reverse_padded


def _encoder(**kwargs):
    torch.manual_seed(0)
    defaults = dict(input_dim=6, num_layers=2, cell_size=10, projection_dim=4, dropout=0.0)
    return BidirectionalLmEncoder(**{**defaults, **kwargs}).eval()


def test_reverse_padded_reverses_within_each_length():
    sequences = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]).unsqueeze(-1)
    reversed_ = reverse_padded(sequences, torch.tensor([3, 2]))
    assert reversed_.squeeze(-1).tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]


def test_padding_never_changes_real_positions():
    encoder = _encoder()
    inputs = torch.randn(2, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    batched = encoder(inputs, mask)
    alone = encoder(inputs[1:, :3], mask[1:, :3])
    for layer_batched, layer_alone in zip(batched, alone):
        torch.testing.assert_close(layer_batched[1, :3], layer_alone[0], rtol=1e-5, atol=1e-6)
        assert layer_batched[1, 3:].abs().sum() == 0


def test_forward_states_see_only_the_past_and_backward_only_the_future():
    encoder = _encoder()
    inputs = torch.randn(1, 6, 6)
    mask = torch.ones(1, 6, dtype=torch.bool)
    changed = inputs.clone()
    changed[0, 3] += 1.0
    before, after = encoder(inputs, mask)[-1], encoder(changed, mask)[-1]
    forward_half, backward_half = slice(0, 4), slice(4, 8)
    assert torch.equal(before[0, :3, forward_half], after[0, :3, forward_half])
    assert not torch.allclose(before[0, 3:, forward_half], after[0, 3:, forward_half])
    assert torch.equal(before[0, 4:, backward_half], after[0, 4:, backward_half])
    assert not torch.allclose(before[0, :4, backward_half], after[0, :4, backward_half])


def test_returns_every_layer_with_both_directions():
    outputs = _encoder(num_layers=3)(torch.randn(2, 4, 6), torch.ones(2, 4, dtype=torch.bool))
    assert [tuple(output.shape) for output in outputs] == [(2, 4, 8)] * 3


def test_clipped_lstm_equals_the_fused_one_when_clipping_never_binds():
    torch.manual_seed(0)
    fused = ProjectedLstm(6, 10, 4)
    clipped = ProjectedLstm(6, 10, 4, cell_clip=1e6, projection_clip=1e6)
    clipped.load_state_dict(fused.state_dict())
    inputs = torch.randn(3, 7, 6)
    torch.testing.assert_close(clipped(inputs), fused(inputs), rtol=1e-5, atol=1e-6)


def test_clipping_bounds_the_states():
    torch.manual_seed(0)
    lstm = ProjectedLstm(6, 10, 4, cell_clip=0.5, projection_clip=0.1)
    with torch.no_grad():
        for parameter in lstm.parameters():
            parameter.mul_(20)
    assert lstm(torch.randn(2, 9, 6)).abs().max() <= 0.1 + 1e-6


def test_forget_gate_bias_starts_at_one():
    encoder = _encoder(forget_bias=1.0)
    bias = encoder.forward_layers[0].bias_ih_l0 + encoder.forward_layers[0].bias_hh_l0
    assert torch.all(bias[10:20] == 1.0) and torch.all(bias[:10] == 0.0)


def test_bad_sizes_are_rejected():
    from allennlp.common.checks import ConfigurationError

    with pytest.raises(ConfigurationError):
        BidirectionalLmEncoder(input_dim=4, cell_size=8, projection_dim=16)


def test_layer_norm_normalises_each_layers_output_and_keeps_padding_zero():
    torch.manual_seed(0)
    encoder = BidirectionalLmEncoder(input_dim=6, num_layers=2, cell_size=12, projection_dim=8, residual=False,
                                     layer_norm=True)
    inputs = torch.randn(2, 5, 6)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    for layer in encoder(inputs, mask):
        real = layer[mask].view(-1, 2, 8)  # each direction separately
        assert torch.allclose(real.mean(-1), torch.zeros(real.shape[:2]), atol=1e-5)
        assert torch.allclose(real.std(-1, unbiased=False), torch.ones(real.shape[:2]), atol=2e-2)  # LayerNorm eps
        assert torch.equal(layer[~mask], torch.zeros_like(layer[~mask]))
    assert any(name.startswith("backward_norms.1.") for name, _ in encoder.named_parameters())
