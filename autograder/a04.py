"""Checks for assignment a04 (attention: additive and scaled dot-product attention in
numpy, the backward pass of masked scaled dot-product attention, a decoder step with
attention in torch, and a trained transliteration model).

Conventions: batch-first, float64; masks are boolean and True where attention is allowed
(for a padding mask over keys: True on real tokens). A fixed seed gives the visible case,
seed=None draws hidden cases at grading time.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .checks import CheckFailure, check_close
from .gradcheck import torch_vjp
from .harness import call, case_seeds, rng_for, unpack, with_seed

CASES_VISIBLE = ("regular",)
CASES_HIDDEN = ("regular", "regular", "single", "large")
SDPA_GRADS = ("dq", "dk", "dv")


def _ok(what, n):
    print(f"{what}: OK ({n} case{'s' if n > 1 else ''})")


def _dims(rng, kind):
    if kind == "single":
        return 1, 1, 1
    return int(rng.integers(1, 4)), int(rng.integers(2, 6)), int(rng.integers(2, 7))


# ---------------------------------------------------------------- additive attention
def additive_reference(q, k, v, W_q, W_k, w_v, key_mask):
    """Bahdanau scores e_ij = w_v . tanh(W_q q_i + W_k k_j); padded keys get weight 0."""
    e = torch.tanh((q @ W_q.T)[:, :, None, :] + (k @ W_k.T)[:, None, :, :]) @ w_v  # (N, Tq, Tk)
    e = e.masked_fill(~key_mask[:, None, :], float("-inf"))
    w = torch.softmax(e, dim=-1)
    return w @ v, w


def check_additive_attention(additive_attention, part, seed=None, case=None):
    """part: "context" or "weights"."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        N, Tq, Tk = _dims(rng, kind)
        dq, dk, dv, A = (int(rng.integers(2, 6)) for _ in range(4))
        scale = 4.0 if kind == "large" else 1.0
        args = {"q": scale * rng.standard_normal((N, Tq, dq)), "k": rng.standard_normal((N, Tk, dk)),
                "v": rng.standard_normal((N, Tk, dv)), "W_q": rng.standard_normal((A, dq)),
                "W_k": rng.standard_normal((A, dk)), "w_v": rng.standard_normal(A)}
        key_mask = rng.random((N, Tk)) < 0.7
        key_mask[:, 0] = True
        if Tk > 1:
            key_mask[0, -1] = False  # always some padding, so an ignored mask is caught
        _, (ctx_ref, w_ref) = torch_vjp(
            lambda **a: additive_reference(**a, key_mask=torch.tensor(key_mask)), args,
            (None, None), wrt=[])
        _, (ctx_nomask, w_nomask) = torch_vjp(
            lambda **a: additive_reference(**a, key_mask=torch.ones(N, Tk, dtype=torch.bool)),
            args, (None, None), wrt=[])
        label = f"{kind} case N={N}, Tq={Tq}, Tk={Tk}, d_q={dq}, d_k={dk}, d_v={dv}, A={A}"
        try:
            out = call("additive_attention", additive_attention, *args.values(), key_mask,
                       arg_names=tuple(args) + ("key_mask",))
            ctx, w = unpack("additive_attention", out, 2)
            if part == "weights":
                check_close("weights", w, w_ref, axes=("N", "query", "key"),
                            known={"the padding mask is ignored": w_nomask})
            else:
                check_close("context", ctx, ctx_ref, axes=("N", "query", "d_v"),
                            known={"the padding mask is ignored": ctx_nomask})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"additive_attention {part}", len(cases))


# ---------------------------------------------------------------- scaled dot-product attention
class _SoftmaxNoJacobian(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s):
        return torch.softmax(s, dim=-1)

    @staticmethod
    def backward(ctx, g):
        return g


def sdpa_reference(q, k, v, mask, mistake=None):
    """softmax(q k^T / sqrt(d_k)) v with masked scores at -inf. q (N, Tq, d_k)."""
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])    # (N, Tq, Tk)
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    w = _SoftmaxNoJacobian.apply(s) if mistake == "no_softmax_jacobian" else torch.softmax(s, -1)
    return w @ v, w


def _sdpa_case(rng, kind, masked=True):
    N, Tq, Tk = _dims(rng, kind)
    d_k, d_v = int(rng.integers(2, 7)), int(rng.integers(2, 7))
    scale = 4.0 if kind == "large" else 1.0
    args = {"q": scale * rng.standard_normal((N, Tq, d_k)), "k": rng.standard_normal((N, Tk, d_k)),
            "v": rng.standard_normal((N, Tk, d_v))}
    mask = None
    if masked:
        mask = rng.random((N, Tq, Tk)) < 0.7
        mask[..., 0] = True
        if Tk > 1:
            mask[0, 0, -1] = False  # always something masked, so an ignored mask is caught
    return args, mask, f"{kind} case N={N}, Tq={Tq}, Tk={Tk}, d_k={d_k}, d_v={d_v}"


def _student_forward(fn, args, mask):
    out = call("sdpa_forward", fn, *args.values(), mask, arg_names=tuple(args) + ("mask",))
    return unpack("sdpa_forward", out, 3)


def check_sdpa_forward(sdpa_forward, part, seed=None, case=None):
    """part: "out", "weights" (with a mask) or "unmasked" (mask=None)."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        args, mask, label = _sdpa_case(rng, kind, masked=part != "unmasked")
        tmask = None if mask is None else torch.tensor(mask)
        _, (o_ref, w_ref) = torch_vjp(lambda **a: sdpa_reference(**a, mask=tmask), args,
                                      (None, None), wrt=[])
        s = args["q"] @ args["k"].transpose(0, 2, 1)
        unscaled = np.exp(s - s.max(-1, keepdims=True)) if mask is None else None
        known = {}
        if unscaled is not None:
            unscaled /= unscaled.sum(-1, keepdims=True)
            known["the scores are not divided by sqrt(d_k)"] = unscaled
        if mask is not None:
            _, (o_nomask, w_nomask) = torch_vjp(lambda **a: sdpa_reference(**a, mask=None),
                                                args, (None, None), wrt=[])
            known["the mask is ignored"] = w_nomask
        try:
            out, w, _ = _student_forward(sdpa_forward, args, mask)
            if part == "out":
                check_close("out", out, o_ref, axes=("N", "query", "d_v"),
                            known={c: v_ @ args["v"] for c, v_ in known.items()})
            else:
                check_close("weights", w, w_ref, axes=("N", "query", "key"), known=known)
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"sdpa_forward {part}", len(cases))


def check_sdpa_backward(sdpa_forward, sdpa_backward, grad, seed=None, case=None):
    """Check one gradient (dq, dk or dv) of the masked attention's backward pass."""
    if grad not in SDPA_GRADS:
        raise ValueError(f"grad must be one of {SDPA_GRADS}")
    name = grad[1:]
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        args, mask, label = _sdpa_case(rng, kind)
        tmask = torch.tensor(mask)
        dout = rng.standard_normal(args["q"].shape[:2] + (args["v"].shape[-1],))
        grads, o_ref = torch_vjp(lambda **a: sdpa_reference(**a, mask=tmask)[0], args, dout)
        nojac, _ = torch_vjp(lambda **a: sdpa_reference(**a, mask=tmask,
                                                        mistake="no_softmax_jacobian")[0], args, dout)
        known = {"the softmax Jacobian is left out (dS = dW instead of W * (dW - sum(W * dW)))":
                 nojac[name]}
        # the same mistake without masking dW: masked scores then receive gradient too
        scale = 1.0 / math.sqrt(args["q"].shape[-1])
        w_ref = sdpa_reference(**{k_: torch.tensor(v_) for k_, v_ in args.items()},
                               mask=tmask)[1].numpy()
        ds = dout @ args["v"].transpose(0, 2, 1)                          # (N, Tq, Tk)
        unmasked = {"q": ds @ args["k"] * scale,
                    "k": ds.transpose(0, 2, 1) @ args["q"] * scale,
                    "v": w_ref.transpose(0, 2, 1) @ dout}[name]
        if name != "v":
            known["the softmax Jacobian is left out (dS = dW instead of W * (dW - sum(W * dW))), "
                  "and masked entries get gradient"] = unmasked
        if name in ("q", "k"):
            known["the 1/sqrt(d_k) factor is left out of the backward pass"] = \
                grads[name] * math.sqrt(args["q"].shape[-1])
        axes = {"q": ("N", "query", "d_k"), "k": ("N", "key", "d_k"), "v": ("N", "key", "d_v")}[name]
        try:
            out, _, cache = _student_forward(sdpa_forward, args, mask)
            check_close("out (from sdpa_forward, needed first)", out, o_ref)
            res = call("sdpa_backward", sdpa_backward, dout, cache, arg_names=("dout", "cache"))
            got = unpack("sdpa_backward", res, 3)[SDPA_GRADS.index(grad)]
            check_close(grad, got, grads[name], axes=axes, known=known)
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"sdpa_backward {grad}", len(cases))


# ---------------------------------------------------------------- decoder step (torch)
def decoder_step_reference(m, y_prev, s_prev, enc, src_mask, mistake=None):
    """Bahdanau decoder step with the parameters of the student's module `m`."""
    e = m.w_v(torch.tanh(m.W_q(s_prev)[:, None, :] + m.W_k(enc)))[..., 0]  # (N, S)
    if mistake != "no_mask":
        e = e.masked_fill(~src_mask, float("-inf"))
    w = torch.softmax(e, dim=-1)                                        # (N, S)
    c = (w[:, :, None] * enc).sum(1)                                    # (N, enc_dim)
    s = m.cell(torch.cat([m.embed(y_prev), c], dim=-1), s_prev)         # (N, H)
    logits = m.out(torch.cat([s, c], dim=-1))                           # (N, V)
    return logits, s, w


def check_decoder_step(AttentionDecoderStep, part, seed=None, case=None):
    """part: "logits", "state" or "weights"."""
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        gen = torch.Generator().manual_seed(int(seed))
        N, S = (1, 1) if kind == "single" else (int(rng.integers(1, 5)), int(rng.integers(2, 8)))
        V, E, enc_dim, H, A = (int(rng.integers(3, 9)) for _ in range(5))
        label = f"{kind} case N={N}, S={S}, vocab={V}, emb={E}, enc_dim={enc_dim}, H={H}, A={A}"
        try:
            m = call("AttentionDecoderStep(...)", AttentionDecoderStep, V, E, enc_dim, H, A).double()
            with torch.no_grad():
                for p in m.parameters():
                    p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) /
                            math.sqrt(max(p.shape[-1], 1)))
            y_prev = torch.randint(0, V, (N,), generator=gen)
            scale = 3.0 if kind == "large" else 1.0
            s_prev = scale * torch.randn(N, H, generator=gen, dtype=torch.float64)
            enc = torch.randn(N, S, enc_dim, generator=gen, dtype=torch.float64)
            src_mask = torch.rand(N, S, generator=gen) < 0.7
            src_mask[:, 0] = True
            if S > 1:
                src_mask[0, -1] = False
            with torch.no_grad():
                ref = decoder_step_reference(m, y_prev, s_prev, enc, src_mask)
                variants = {
                    "the padding mask is ignored": decoder_step_reference(
                        m, y_prev, s_prev, enc, src_mask, "no_mask")}
                out = call("AttentionDecoderStep.forward", m, y_prev.clone(), s_prev.clone(),
                           enc.clone(), src_mask.clone(),
                           arg_names=("y_prev", "s_prev", "enc", "src_mask"))
            got = unpack("AttentionDecoderStep.forward", out, 3)
            i = ("logits", "state", "weights").index(part)
            value = got[i]
            if not isinstance(value, torch.Tensor):
                raise CheckFailure(f"{part} must be a torch tensor, got {type(value).__name__}.")
            if value.dtype != torch.float64:
                raise CheckFailure(f"{part} has dtype {value.dtype}; keep the inputs' float64.")
            axes = {"logits": ("N", "vocab"), "state": ("N", "H"), "weights": ("N", "source")}[part]
            check_close(part, value.detach().numpy(), ref[i].numpy(), axes=axes,
                        known={c: v[i].numpy() for c, v in variants.items() if v is not None})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok(f"AttentionDecoderStep {part}", len(cases))


# ---------------------------------------------------------------- training the decoder
def check_decoder_training(AttentionDecoderStep, seed=None, case=None):
    """What training the decoder needs, without training it: the gradient of a teacher-forced
    loss over several decoding steps, with respect to every parameter, the encoder outputs
    and the initial state, equals the one of the reference decoder step with the same
    parameters. A decoder whose forward is right (check_decoder_step) and whose gradients are
    right takes exactly the reference's optimisation steps, so this replaces training the
    model for 17 s and measuring its accuracy. It catches what only training would show: a
    state or context detached from the graph, a layer created inside forward (never
    trained), a computation done outside torch.
    """
    cases = case_seeds(seed, case, CASES_VISIBLE, CASES_HIDDEN)
    for kind, rng, seed in cases:
        gen = torch.Generator().manual_seed(int(seed))
        N, S, T = (1, 1, 1) if kind == "single" else \
            (int(rng.integers(1, 5)), int(rng.integers(2, 8)), int(rng.integers(2, 5)))
        V, E, enc_dim, H, A = (int(rng.integers(3, 9)) for _ in range(5))
        label = f"{kind} case N={N}, S={S}, T={T}, vocab={V}, emb={E}, enc_dim={enc_dim}, " \
                f"H={H}, A={A}"
        try:
            m = call("AttentionDecoderStep(...)", AttentionDecoderStep, V, E, enc_dim, H, A).double()
            with torch.no_grad():
                for p in m.parameters():
                    p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) /
                            math.sqrt(max(p.shape[-1], 1)))
            scale = 3.0 if kind == "large" else 1.0
            y_in = torch.randint(0, V, (N, T), generator=gen)
            y_out = torch.randint(0, V, (N, T), generator=gen)
            s0 = (scale * torch.randn(N, H, generator=gen, dtype=torch.float64)).requires_grad_()
            enc = torch.randn(N, S, enc_dim, generator=gen, dtype=torch.float64).requires_grad_()
            src_mask = torch.rand(N, S, generator=gen) < 0.7
            src_mask[:, 0] = True
            named = list(m.named_parameters())
            leaves = [p for _, p in named] + [enc, s0]
            names = [n for n, _ in named] + ["enc (the encoder outputs)", "s_prev (initial state)"]

            def loss_of(step, detach_state=False):
                s, total = s0, 0.0
                for t in range(T):
                    logits, s, _ = step(y_in[:, t], s, enc, src_mask)
                    s = s.detach() if detach_state else s
                    total = total + torch.nn.functional.cross_entropy(
                        logits, y_out[:, t], reduction="sum") / N
                return total

            def reference(*a):
                return decoder_step_reference(m, *a)

            def student(*a):
                out = call("AttentionDecoderStep.forward", m, *a,
                           arg_names=("y_prev", "s_prev", "enc", "src_mask"))
                return unpack("AttentionDecoderStep.forward", out, 3)

            ref_grads = torch.autograd.grad(loss_of(reference), leaves, allow_unused=True)
            detached = torch.autograd.grad(loss_of(reference, True), leaves, allow_unused=True)
            loss = loss_of(student)
            if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
                raise CheckFailure("the loss computed from your decoder's logits does not depend "
                                   "on its parameters: is the forward pass detached, run under "
                                   "torch.no_grad(), or computed outside torch?")
            try:
                got = torch.autograd.grad(loss, leaves, allow_unused=True)
            except RuntimeError as exc:
                raise CheckFailure(f"backpropagating through your decoder failed: {exc}") from None
            for name, g, r, d in zip(names, got, ref_grads, detached):
                r = torch.zeros_like(leaves[names.index(name)]) if r is None else r
                if g is None:
                    raise CheckFailure(f"the loss does not depend on {name}: is it created inside "
                                       "forward, or detached from the graph?")
                d = None if d is None else d.numpy()
                check_close(f"the gradient of the loss with respect to {name}", g.numpy(),
                            r.numpy(), known={"the decoder state is detached between steps "
                                              "(gradients do not flow back through time)": d})
        except CheckFailure as e:
            raise CheckFailure(with_seed(str(e), seed, label, kind)) from None
    _ok("AttentionDecoderStep training gradients", len(cases))


# ---------------------------------------------------------------- the trained model
def check_trained_model(translate, data, minimum_accuracy, n=None, seed=None, case=None):
    """Exact-match accuracy of `translate(list_of_latin_names) -> list_of_cyrillic` on the
    test split (a random sample of n names at grading time)."""
    pairs = data.test
    if seed is not None or n is not None:
        rng, _ = rng_for(seed)
        idx = rng.choice(len(pairs), size=min(n or len(pairs), len(pairs)), replace=False)
        pairs = [pairs[i] for i in idx]
    got = call("translate", translate, [p.src for p in pairs])
    if not isinstance(got, (list, tuple)) or len(got) != len(pairs):
        raise CheckFailure(f"translate must return a list of {len(pairs)} strings.")
    correct = sum(g == p.tgt for g, p in zip(got, pairs))
    acc = correct / len(pairs)
    if acc < minimum_accuracy:
        wrong = [(p.src, g, p.tgt) for g, p in zip(got, pairs) if g != p.tgt][:3]
        examples = "; ".join(f"{s!r} -> {g!r} (expected {t!r})" for s, g, t in wrong)
        raise CheckFailure(f"exact-match accuracy {acc:.1%} on {len(pairs)} test names is below "
                           f"the required {minimum_accuracy:.0%}. For example: {examples}")
    print(f"trained model: exact-match accuracy {acc:.1%} on {len(pairs)} test names: OK")
