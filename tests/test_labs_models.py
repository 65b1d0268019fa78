"""The models of the Labs part (book/labs/): each checked against a reference computed another
way (torch, in float64, where one exists), plus the data splits the lab pages rely on."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqlab import hopfield as hop


# ---------------------------------------------------------------- Hopfield
def test_hebbian_weights_and_stability():
    rng = np.random.default_rng(0)
    X = hop.sign(rng.standard_normal((3, 120)))
    W = hop.hebbian(X)
    expected = sum(np.outer(x, x) for x in X) / 120
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(W, expected, atol=1e-15)
    assert np.allclose(W, W.T)
    for x in X:   # three random patterns in 120 neurons are fixed points
        np.testing.assert_array_equal(hop.sign(W @ x), x)


def test_recall_lowers_energy_and_restores():
    rng = np.random.default_rng(1)
    X = hop.sign(rng.standard_normal((4, 100)))
    W = hop.hebbian(X)
    s, energies = hop.recall(W, hop.corrupt(X[0], 0.1, rng), rng)
    assert np.all(np.diff(energies) <= 1e-12)
    np.testing.assert_array_equal(s, X[0])


def test_pseudo_inverse_stores_correlated_patterns():
    rng = np.random.default_rng(2)
    base = hop.sign(rng.standard_normal(64))
    X = np.stack([np.where(rng.random(64) < 0.15, -base, base) for _ in range(6)])  # correlated
    W = hop.pseudo_inverse(X)
    for x in X:
        np.testing.assert_array_equal(hop.sign(W @ x), x)


def test_capacity_drops_past_the_rule():
    rng = np.random.default_rng(3)
    assert hop.recall_rate(200, 10, rng) == 1.0
    assert hop.recall_rate(200, 60, rng) < 0.5


def test_modern_hopfield_is_attention():
    rng = np.random.default_rng(4)
    X, xi = rng.standard_normal((7, 16)), rng.standard_normal((5, 16))
    ours = hop.modern_update(X, xi, beta=0.7)
    ref = F.scaled_dot_product_attention(torch.tensor(xi)[None], torch.tensor(X)[None],
                                         torch.tensor(X)[None], scale=0.7)[0].numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------- Elman, ConvLSTM, Transformer
def test_elman_layer_matches_nn_rnn_float64():
    from seqlab.labs.models import ElmanLayer
    torch.manual_seed(0)
    ours = ElmanLayer(5, 7).double()
    ref = torch.nn.RNN(5, 7, batch_first=True).double()
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    a, b = ours(x), ref(x)[0]
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
    (a ** 2).sum().backward(); (b ** 2).sum().backward()
    for p, q in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_convlstm_cell_matches_unfolded_lstmcell(kernel):
    from seqlab.convlstm import ConvLSTMCell, unfold_reference
    torch.manual_seed(kernel)
    cell = ConvLSTMCell(2, 3, kernel).double()
    x = torch.randn(2, 2, 5, 6, dtype=torch.float64)
    h, c = torch.randn(2, 3, 5, 6, dtype=torch.float64), torch.randn(2, 3, 5, 6, dtype=torch.float64)
    for a, b in zip(cell(x, (h, c)), unfold_reference(cell, x, (h, c))):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_convlstm_1x1_is_a_per_pixel_lstm():
    from seqlab.convlstm import ConvLSTMCell
    torch.manual_seed(1)
    cell = ConvLSTMCell(2, 4, 1).double()
    ref = torch.nn.LSTMCell(2, 4).double()
    with torch.no_grad():
        w = cell.conv.weight[:, :, 0, 0]                     # (16, 2 + 4)
        ref.weight_ih.copy_(w[:, :2]); ref.weight_hh.copy_(w[:, 2:])
        ref.bias_ih.copy_(cell.conv.bias); ref.bias_hh.zero_()
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    h, c = cell(x)
    hr, cr = ref(x.permute(0, 2, 3, 1).reshape(9, 2))
    torch.testing.assert_close(h.permute(0, 2, 3, 1).reshape(9, 4), hr, rtol=1e-12, atol=1e-13)


def test_transformer_masks_and_step_interface():
    from seqlab.labs.models import TransformerSeq2Seq
    torch.manual_seed(0)
    m = TransformerSeq2Seq(10, 12, d_model=16, nhead=2, layers=1, ff=32).double().eval()
    src = torch.tensor([[3, 4, 5, 2], [3, 2, 0, 0]])
    tgt = torch.tensor([[1, 5, 6, 7], [1, 7, 0, 0]])
    full = m(src, None, tgt)
    # padding: changing what sits under <pad> in the source changes nothing
    src2 = src.clone(); src2[1, 2:] = 9
    mem2 = m.encoder(m._embed(m.src_embed, src2), src_key_padding_mask=src == 0)
    torch.testing.assert_close(m.decode(tgt, mem2, src)[1, :2], full[1, :2], rtol=1e-10, atol=1e-12)
    # causality: position t does not depend on later target tokens
    tgt2 = tgt.clone(); tgt2[0, 3] = 8
    torch.testing.assert_close(m(src, None, tgt2)[0, :3], full[0, :3], rtol=1e-10, atol=1e-12)
    # the step interface reproduces the teacher-forced logits
    state, memory = m.start(src, None)
    for t in range(3):
        logp, state, _ = m.step(tgt[:, t], state, memory)
        torch.testing.assert_close(logp, torch.log_softmax(full[:, t], -1), rtol=1e-10, atol=1e-12)


def test_sequence_autoencoder_repeats_the_code():
    from seqlab.labs.models import SeqAutoencoder
    torch.manual_seed(0)
    ae = SeqAutoencoder(D=3, latent=4, hidden=5).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    z = ae.encode(x)
    _, (h_n, _) = ae.encoder(x)
    torch.testing.assert_close(z, h_n[0])
    # the decoder sees the same code at every step (RepeatVector): rebuild it by hand
    out, _ = ae.decoder(z[:, None, :].repeat(1, 6, 1))
    torch.testing.assert_close(ae(x), ae.readout(out))
    assert ae(x).shape == x.shape


# ---------------------------------------------------------------- the labs' data
def test_task1_splits_are_in_order_and_metrics_fail_wrong_shapes():
    from seqlab.labs.task1 import load_task1, score, baselines
    temp = load_task1("temperature")
    assert temp.meta["dates_test"][0] > temp.meta["cut_date"]      # test windows after the cut
    np.testing.assert_allclose(score(temp, temp.y_test), 0.0)
    assert baselines(temp)["persistence (4th = 3rd)"] < baselines(temp)["training mean"]
    with pytest.raises(ValueError):
        score(temp, temp.y_test[:-1])
    words = load_task1("words")
    assert words.x_train.shape[1:] == (3, len(words.meta["vocab"]))
    assert (words.y_test != 0).all()                               # never asks for <unk>
    assert score(words, words.y_test) == 1.0


def test_number_pairs_split_disjoint_and_real():
    from seqlab.labs.text import load_numbers
    d = load_numbers("en-ru", numbers=range(1, 400))
    tags = [{p.country for p in getattr(d, k)} for k in ("train", "val", "test")]
    assert not (tags[0] & tags[2]) and not (tags[0] & tags[1])
    p = next(p for p in d.train + d.val + d.test if p.country == "342")
    assert p.src == ("three", "hundred", "and", "forty", "two")
    assert p.tgt == ("триста", "сорок", "два")


def test_titles_split_by_module():
    from seqlab.labs.text import load_titles, TITLES_PATH
    d = load_titles()
    module_of = {}
    for line in TITLES_PATH.read_text(encoding="ascii").splitlines():
        module, qualname = line.split("\t")[:2]
        module_of[qualname] = module
    mods = [{module_of[p.country] for p in getattr(d, k)} for k in ("train", "test")]
    assert len(d.train) > 500 and len(d.test) > 50 and not (mods[0] & mods[1])


def test_chorale_melodies_parse():
    pytest.importorskip("music21", reason="music21 (the corpus of Bach chorales) is not installed")
    from seqlab.labs.music import corpus_files, soprano_tokens
    toks = soprano_tokens(corpus_files()[0])
    assert len(toks) > 16
    pitches = [int(t.split("_")[0]) for t in toks if t[0].isdigit()]
    assert 55 <= min(pitches) and max(pitches) <= 84                # a soprano range
