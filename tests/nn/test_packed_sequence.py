"""Packed sequences (nn.utils.rnn) and RNN/LSTM/GRU on them, against torch: the packing, the
outputs, h_n/c_n and the gradients, from the same weights."""
import numpy as np
import pytest
import torch

import arrayneedle as an
from arrayneedle.nn.utils import rnn as anrnn

R = np.random.default_rng(3)


@pytest.mark.parametrize("enforce_sorted, lengths", [(True, [4, 3, 1]), (False, [2, 4, 3])])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_and_pad_match_torch(enforce_sorted, lengths, batch_first):
    x = R.standard_normal((3, 4, 2) if batch_first else (4, 3, 2))
    a = anrnn.pack_padded_sequence(an.tensor(x), lengths, batch_first, enforce_sorted)
    t = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), lengths, batch_first,
                                                enforce_sorted)
    np.testing.assert_array_equal(a.data.numpy(), t.data.numpy())
    np.testing.assert_array_equal(a.batch_sizes.numpy(), t.batch_sizes.numpy())
    if enforce_sorted:
        assert a.sorted_indices is None and t.sorted_indices is None
    else:
        np.testing.assert_array_equal(a.sorted_indices.numpy(), t.sorted_indices.numpy())
        np.testing.assert_array_equal(a.unsorted_indices.numpy(), t.unsorted_indices.numpy())
    pa, la = anrnn.pad_packed_sequence(a, batch_first, -1.0, total_length=5)
    pt, lt = torch.nn.utils.rnn.pad_packed_sequence(t, batch_first, -1.0, total_length=5)
    np.testing.assert_array_equal(pa.numpy(), pt.numpy())
    np.testing.assert_array_equal(la.numpy(), lt.numpy())
    ps = anrnn.pack_sequence([an.tensor(x[:, i] if not batch_first else x[i])[:n]
                              for i, n in enumerate(lengths)], enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(ps.data.numpy(), a.data.numpy())


def test_pack_errors_as_torch():
    with pytest.raises(RuntimeError, match="decreasing"):
        anrnn.pack_padded_sequence(an.zeros(3, 2, 1), [1, 3])
    with pytest.raises(RuntimeError):
        torch.nn.utils.rnn.pack_padded_sequence(torch.zeros(3, 2, 1), [1, 3])


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_rnns_on_packed_sequences_match_torch(kind, bidirectional):
    lengths = [3, 5, 2]
    x = R.standard_normal((5, 3, 4))
    ours = getattr(an.nn, kind)(4, 3, num_layers=2, bidirectional=bidirectional).double()
    theirs = getattr(torch.nn, kind)(4, 3, num_layers=2, bidirectional=bidirectional).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    xa = an.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    D = 2 if bidirectional else 1
    h0 = R.standard_normal((2 * D, 3, 3))
    hx_a = (an.tensor(h0), an.tensor(h0 * 0.5)) if kind == "LSTM" else an.tensor(h0)
    hx_t = (torch.tensor(h0), torch.tensor(h0 * 0.5)) if kind == "LSTM" else torch.tensor(h0)
    out_a, h_a = ours(anrnn.pack_padded_sequence(xa, lengths, enforce_sorted=False), hx_a)
    out_t, h_t = theirs(torch.nn.utils.rnn.pack_padded_sequence(xt, lengths,
                                                                enforce_sorted=False), hx_t)
    assert isinstance(out_a, anrnn.PackedSequence)
    np.testing.assert_allclose(out_a.data.detach().numpy(), out_t.data.detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    ha, ht = (h_a, h_t) if kind == "LSTM" else ((h_a,), (h_t,))
    for a, t in zip(ha, ht):
        np.testing.assert_allclose(a.detach().numpy(), t.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
    pa, _ = anrnn.pad_packed_sequence(out_a)
    pt, _ = torch.nn.utils.rnn.pad_packed_sequence(out_t)
    w = R.standard_normal(tuple(pt.shape))
    ((pa * an.tensor(w)).sum() + sum(h.sum() for h in ha)).backward()
    ((pt * torch.tensor(w)).sum() + sum(h.sum() for h in ht)).backward()
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (n, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=n)
