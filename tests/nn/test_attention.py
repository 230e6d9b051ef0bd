"""Attention and the transformer encoder: hand-computed values, NumPy references, float64
gradient checks, and PyTorch's outputs, gradients and state_dict keys where it is installed."""
import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.nn.functional as F
from arrayneedle import nn
from arrayneedle.testing import gradcheck
from op_table import make_inputs
from op_table_rnn import ROWS, sdpa_ref

SDPA_ROWS = [r for r in ROWS if r[0].startswith("sdpa")]


@pytest.mark.parametrize("name,fn,ref,shapes,tr", SDPA_ROWS, ids=[r[0] for r in SDPA_ROWS])
def test_sdpa_rows_reference_and_gradcheck(name, fn, ref, shapes, tr):
    xs = make_inputs(shapes, tr, seed=5)
    np.testing.assert_allclose(fn(*[an.Tensor(x) for x in xs]).detach().numpy(), ref(*xs), rtol=1e-10)
    gradcheck(fn, *xs)


def test_sdpa_by_hand_masks_and_scale():
    q = an.Tensor(np.array([[1.0, 0.0]]))
    k = an.Tensor(np.array([[1.0, 0.0], [0.0, 1.0]]))
    v = an.Tensor(np.array([[10.0], [20.0]]))
    # scores 1/sqrt(2) and 0; with scale=ln 3 the weights are 3/4 and 1/4
    out = F.scaled_dot_product_attention(q, k, v, scale=float(np.log(3.0)))
    assert out.item() == pytest.approx(12.5)
    # a float mask is added; a bool mask keeps where True
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=an.Tensor([[0.0, np.log(3.0)]]),
                                         scale=float(np.log(3.0)))
    assert out.item() == pytest.approx(15.0)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=an.Tensor(np.array([[False, True]])))
    assert out.item() == pytest.approx(20.0)
    # a query with every key masked gives zeros (and finite gradients), as PyTorch
    qq = an.Tensor(np.ones((2, 2)), requires_grad=True)
    out = F.scaled_dot_product_attention(qq, k, v, attn_mask=np.array([[True, True],
                                                                       [False, False]]))
    assert out.detach().numpy()[1].tolist() == [0.0]
    out.sum().backward()
    assert np.isfinite(qq.grad.detach().numpy()).all()
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((1, 2), bool), is_causal=True)


def test_mha_parameters_and_errors():
    m = nn.MultiheadAttention(8, 2)
    assert list(m.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                    "out_proj.bias"]
    assert m.in_proj_weight.shape == (24, 8) and not m.in_proj_bias.detach().numpy().any()
    kv = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False)
    assert {k: v.shape for k, v in kv.state_dict().items()} == {
        "q_proj_weight": (8, 8), "k_proj_weight": (8, 3), "v_proj_weight": (8, 5),
        "out_proj.weight": (8, 8)}
    with pytest.raises(ValueError, match="multiple of num_heads"):
        nn.MultiheadAttention(8, 3)
    with pytest.raises(ValueError, match="add_bias_kv"):
        nn.MultiheadAttention(8, 2, add_bias_kv=True)
    with pytest.raises(ValueError, match="needs attn_mask"):
        m(an.randn(3, 1, 8), an.randn(3, 1, 8), an.randn(3, 1, 8), is_causal=True)


def test_mha_one_head_by_hand():
    # identity projections, zero biases: plain softmax(q k^T / sqrt(E)) v
    m = nn.MultiheadAttention(2, 1, dtype="float64")
    m.in_proj_weight.array = np.concatenate([np.eye(2)] * 3)
    m.out_proj.weight.array = np.eye(2)
    q = np.array([[[1.0, 0.0]], [[0.0, 2.0]]])  # (L=2, N=1, E=2)
    k = np.array([[[1.0, 1.0]], [[0.0, -1.0]], [[3.0, 0.0]]])
    out, w = m(an.Tensor(q), an.Tensor(k), an.Tensor(k))
    ref = sdpa_ref(q[:, 0], k[:, 0], k[:, 0])
    np.testing.assert_allclose(out.detach().numpy()[:, 0], ref)
    s = q[:, 0] @ k[:, 0].T / np.sqrt(2)
    np.testing.assert_allclose(w.detach().numpy()[0], np.exp(s) / np.exp(s).sum(1, keepdims=True))
    # key_padding_mask True drops a key (here the last one)
    out, w = m(an.Tensor(q), an.Tensor(k), an.Tensor(k),
               key_padding_mask=np.array([[False, False, True]]))
    assert w.detach().numpy()[0, :, 2].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(out.detach().numpy()[:, 0], sdpa_ref(q[:, 0], k[:2, 0], k[:2, 0]))


def _load(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_matches_pytorch(batch_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first).double()
    am = nn.MultiheadAttention(8, 2, batch_first=batch_first, dtype="float64")
    assert list(am.state_dict()) == list(tm.state_dict())
    _load(am, tm)
    rng = np.random.default_rng(0)
    shape_q, shape_k = ((2, 4, 8), (2, 5, 8)) if batch_first else ((4, 2, 8), (5, 2, 8))
    q, k = rng.standard_normal(shape_q), rng.standard_normal(shape_k)
    # float masks for both (PyTorch deprecates mixing a bool and a float mask)
    kpm = np.where(np.array([[False] * 4 + [True], [False] * 5]), -np.inf, 0.0)
    mask = rng.standard_normal((4, 5))
    tq, tk = torch.tensor(q, requires_grad=True), torch.tensor(k, requires_grad=True)
    aq, ak = an.Tensor(q, requires_grad=True), an.Tensor(k, requires_grad=True)
    to, tw = tm(tq, tk, tk, key_padding_mask=torch.tensor(kpm), attn_mask=torch.tensor(mask),
                average_attn_weights=False)
    ao, aw = am(aq, ak, ak, key_padding_mask=kpm, attn_mask=an.Tensor(mask),
                average_attn_weights=False)
    np.testing.assert_allclose(ao.detach().numpy(), to.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(aw.detach().numpy(), tw.detach().numpy(), atol=1e-12)
    (to.sum() + (tw * tw).sum()).backward()
    (ao.sum() + (aw * aw).sum()).backward()
    np.testing.assert_allclose(aq.grad.detach().numpy(), tq.grad.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(ak.grad.detach().numpy(), tk.grad.detach().numpy(), atol=1e-10)
    tgrads = dict(tm.named_parameters())
    for name, p in am.named_parameters():
        np.testing.assert_allclose(p.grad.detach().numpy(), tgrads[name].grad.detach().numpy(), atol=1e-10,
                                   err_msg=name)
    # self-attention (one fused projection), unbatched, causal bool mask, kdim/vdim
    causal = np.triu(np.ones((4, 4), bool), 1)
    x = q[0] if batch_first else q[:, 0]
    to, tw = tm(torch.tensor(x), torch.tensor(x), torch.tensor(x),
                attn_mask=torch.tensor(causal), is_causal=True)
    xa = an.Tensor(x)
    ao, aw = am(xa, xa, xa, attn_mask=causal, is_causal=True)
    np.testing.assert_allclose(ao.detach().numpy(), to.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(aw.detach().numpy(), tw.detach().numpy(), atol=1e-12)
    tkv = torch.nn.MultiheadAttention(8, 2, kdim=3, vdim=5).double()
    akv = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, dtype="float64")
    _load(akv, tkv)
    kk, vv = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 5))
    qq = rng.standard_normal((4, 2, 8))
    t_out = tkv(torch.tensor(qq), torch.tensor(kk), torch.tensor(vv), need_weights=False)
    a_out = akv(an.Tensor(qq), an.Tensor(kk), an.Tensor(vv), need_weights=False)
    assert a_out[1] is None and t_out[1] is None
    np.testing.assert_allclose(a_out[0].detach().numpy(), t_out[0].detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("norm_first,activation,bias", [(False, "relu", True),
                                                        (True, "relu", False),
                                                        (False, "gelu", True)])
def test_transformer_encoder_matches_pytorch(norm_first, activation, bias):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    kw = dict(dim_feedforward=16, dropout=0.1, activation=activation, batch_first=True,
              norm_first=norm_first, bias=bias)
    tl = torch.nn.TransformerEncoderLayer(8, 2, **kw).double()
    tenc = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(8).double(),
                                       enable_nested_tensor=False).eval()
    aenc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, dtype="float64", **kw), 2,
                                 norm=nn.LayerNorm(8, dtype="float64")).eval()
    assert list(aenc.state_dict()) == list(tenc.state_dict())
    _load(aenc, tenc)
    x = np.random.default_rng(0).standard_normal((2, 5, 8))
    kpm = np.array([[False] * 5, [False] * 3 + [True] * 2])
    tx = torch.tensor(x, requires_grad=True)
    ax = an.Tensor(x, requires_grad=True)
    ref = tenc(tx, src_key_padding_mask=torch.tensor(kpm))
    out = aenc(ax, src_key_padding_mask=kpm)
    # the GELU case follows PyTorch's exact GELU to within the tanh approximation's error
    tol = 1e-10
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=tol)
    ref.sum().backward()
    out.sum().backward()
    np.testing.assert_allclose(ax.grad.detach().numpy(), tx.grad.detach().numpy(), atol=tol)


def test_encoder_layer_dropout_and_copies():
    an.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.5)
    enc = nn.TransformerEncoder(layer, 2)
    assert enc.layers[0] is not enc.layers[1]
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    np.testing.assert_array_equal(enc.layers[0].linear1.weight.detach().numpy(),
                                  enc.layers[1].linear1.weight.detach().numpy())
    x = an.randn(5, 2, 8)
    enc.eval()
    np.testing.assert_array_equal(enc(x).detach().numpy(), enc(x).detach().numpy())
    enc.train()
    assert not np.allclose(enc(x).detach().numpy(), enc(x).detach().numpy())
    with pytest.raises(ValueError, match="activation must be"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")
