"""Checks for assignment a04 (attention: additive and scaled dot-product attention in
numpy, the backward pass of masked scaled dot-product attention, a decoder step with
attention in torch, and a trained transliteration model).

Conventions: batch-first, float64; masks are boolean and True where attention is allowed
(for a padding mask over keys: True on real tokens). Same replay API as every assignment
(harness.run_cases): seed=0 is the visible case, seed=None draws hidden cases.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch

from . import reference as ref
from .harness import (CheckFailure, Mistakes, call, check_close, distinct_sizes, needed_first,
                      run_cases,
                      student, torch_vjp, unpack)

CASES_HIDDEN = ("regular", "regular", "single", "large")
SDPA_GRADS = ("dq", "dk", "dv")
MASK_MISTAKES = {"no_mask": "the mask is ignored",
                 "mask_after_softmax": "the mask is applied after the softmax (masked weights "
                                       "set to 0 without renormalising the row)"}
SCALE = {"no_scale": "the scores are not divided by sqrt(d_k)"}
BACKWARD_MISTAKES = {
    "no_softmax_jacobian": "the softmax Jacobian is left out (dS = dW instead of "
                           "W * (dW - sum(W * dW)))",
    "no_softmax_sum_term": "the softmax backward lacks the sum term (dS = W * dW instead of "
                           "W * (dW - sum(W * dW)))",
    "grad_to_masked": "masked entries get gradient",
    "no_scale_backward": "the 1/sqrt(d_k) factor is left out of the backward pass"}


def _dims(rng, kind, *more):
    """N, T_q, T_k and one size from each extra [low, high) range, all distinct in a
    regular case (a single case has N = T_q = T_k = 1)."""
    if kind == "single":
        return [1, 1, 1] + distinct_sizes(rng, *more)
    return distinct_sizes(rng, (1, 4), (2, 6), (2, 7), *more)


def _value_mistakes(messages, forward, args, pick):
    return Mistakes(messages, lambda ms: torch_vjp(partial(forward, mistakes=ms), args,
                                                   (None, None), wrt=[])[1][pick])


# ---------------------------------------------------------------- additive attention
def check_additive_attention(additive_attention, part, seed=None, case=None):
    """part: "context" or "weights"."""
    def body(c):
        rng, kind = c.rng, c.kind
        N, Tq, Tk, dq, dk, dv, A = _dims(rng, kind, (2, 9), (2, 9), (2, 9), (2, 9))
        scale = 4.0 if kind == "large" else 1.0
        args = {"q": scale * rng.standard_normal((N, Tq, dq)),
                "k": rng.standard_normal((N, Tk, dk)), "v": rng.standard_normal((N, Tk, dv)),
                "W_q": rng.standard_normal((A, dq)), "W_k": rng.standard_normal((A, dk)),
                "w_v": rng.standard_normal(A)}
        key_mask = rng.random((N, Tk)) < 0.7
        key_mask[:, 0] = True
        if Tk > 1:
            key_mask[0, -1] = False  # always some padding, so an ignored mask is caught
        c.label = f"{kind} case N={N}, Tq={Tq}, Tk={Tk}, d_q={dq}, d_k={dk}, d_v={dv}, A={A}"
        forward = partial(ref.additive_attention, key_mask=torch.tensor(key_mask))
        ctx_ref, w_ref = torch_vjp(forward, args, (None, None), wrt=[])[1]
        out = call("additive_attention", additive_attention, *args.values(), key_mask,
                   arg_names=tuple(args) + ("key_mask",))
        ctx, w = unpack("additive_attention", out, 2)
        i = ("context", "weights").index(part)
        check_close(part, (ctx, w)[i], (ctx_ref, w_ref)[i],
                    axes=(("N", "query", "d_v"), ("N", "query", "key"))[i],
                    known=_value_mistakes(MASK_MISTAKES, forward, args, i))
    run_cases(f"additive_attention {part}", seed, case, body, CASES_HIDDEN)


# ---------------------------------------------------------------- scaled dot-product attention
def _sdpa_case(c, masked=True):
    rng, kind = c.rng, c.kind
    N, Tq, Tk, d_k, d_v = _dims(rng, kind, (2, 8), (2, 8))
    scale = 4.0 if kind == "large" else 1.0
    args = {"q": scale * rng.standard_normal((N, Tq, d_k)),
            "k": rng.standard_normal((N, Tk, d_k)), "v": rng.standard_normal((N, Tk, d_v))}
    mask = None
    if masked:
        mask = rng.random((N, Tq, Tk)) < 0.7
        mask[..., 0] = True
        if Tk > 1:
            mask[0, 0, -1] = False  # always something masked, so an ignored mask is caught
    c.label = f"{kind} case N={N}, Tq={Tq}, Tk={Tk}, d_k={d_k}, d_v={d_v}"
    return args, mask


def check_sdpa_forward(sdpa_forward, part, seed=None, case=None):
    """part: "out", "weights" (with a mask) or "unmasked" (mask=None: the weights)."""
    def body(c):
        args, mask = _sdpa_case(c, masked=part != "unmasked")
        forward = partial(ref.sdpa, mask=None if mask is None else torch.tensor(mask))
        o_ref, w_ref = torch_vjp(forward, args, (None, None), wrt=[])[1]
        out, w, _ = student("sdpa_forward", sdpa_forward, {**args, "mask": mask}, 3)
        i = 0 if part == "out" else 1
        check_close("out" if i == 0 else "weights", (out, w)[i], (o_ref, w_ref)[i],
                    axes=(("N", "query", "d_v"), ("N", "query", "key"))[i],
                    known=_value_mistakes(SCALE if mask is None else {**MASK_MISTAKES, **SCALE},
                                          forward, args, i))
    run_cases(f"sdpa_forward {part}", seed, case, body, CASES_HIDDEN)


def check_sdpa_backward(sdpa_forward, sdpa_backward, grad, seed=None, case=None):
    """Check one gradient (dq, dk or dv) of the masked attention's backward pass."""
    if grad not in SDPA_GRADS:
        raise ValueError(f"grad must be one of {SDPA_GRADS}")
    name = grad[1:]

    def body(c):
        args, mask = _sdpa_case(c)
        forward = partial(ref.sdpa, mask=torch.tensor(mask))
        dout = c.rng.standard_normal(args["q"].shape[:2] + (args["v"].shape[-1],))
        grads, (o_ref, w) = torch_vjp(forward, args, (dout, None))
        # Rounding errors scale with the terms summed, not with the result: the softmax
        # Jacobian cancels W * dW against W * sum(W * dW), so with saturated weights dq and
        # dk are far smaller than their terms. The same products on absolute values bound them.
        q, k, v = (np.abs(args[n]) for n in "qkv")
        terms = np.abs(w) * (np.abs(dout) @ v.transpose(0, 2, 1))          # (N, Tq, Tk)
        scale = float(np.max({"q": terms @ k, "k": terms.transpose(0, 2, 1) @ q,
                              "v": np.abs(w).transpose(0, 2, 1) @ np.abs(dout)}[name]))
        scale *= 1.0 if name == "v" else 1.0 / math.sqrt(q.shape[-1])
        out, _, cache = student("sdpa_forward", sdpa_forward, {**args, "mask": mask}, 3)
        needed_first("sdpa_forward", lambda: check_close(
            "out", out, o_ref, axes=("N", "query", "d_v"),
            known=_value_mistakes({**MASK_MISTAKES, **SCALE}, forward, args, 0)))
        res = call("sdpa_backward", sdpa_backward, dout, cache, arg_names=("dout", "cache"))
        got = unpack("sdpa_backward", res, 3)[SDPA_GRADS.index(grad)]
        check_close(grad, got, grads[name], scale=scale,
                    axes={"q": ("N", "query", "d_k"), "k": ("N", "key", "d_k"),
                          "v": ("N", "key", "d_v")}[name],
                    known=Mistakes(BACKWARD_MISTAKES, lambda ms: torch_vjp(
                        partial(forward, mistakes=ms), args, (dout, None))[0][name]))
    run_cases(f"sdpa_backward {grad}", seed, case, body, CASES_HIDDEN)


# ---------------------------------------------------------------- decoder step (torch)
def check_decoder_step(AttentionDecoderStep, part, seed=None, case=None):
    """part: "logits", "state" or "weights"."""
    def body(c):
        rng, kind, gen = c.rng, c.kind, c.torch_generator()
        dims = [(3, 11)] * 5                           # vocabulary, emb, enc_dim, H, A
        N, S, V, E, enc_dim, H, A = [1, 1] + distinct_sizes(rng, *dims) if kind == "single" \
            else distinct_sizes(rng, (1, 5), (2, 8), *dims)
        c.label = f"{kind} case N={N}, S={S}, vocab={V}, emb={E}, enc_dim={enc_dim}, H={H}, A={A}"
        m = call("AttentionDecoderStep(...)", AttentionDecoderStep, V, E, enc_dim, H, A).double()
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) /
                        math.sqrt(max(p.shape[-1], 1)))
        y_prev = torch.randint(0, V, (N,), generator=gen)
        s_prev = (3.0 if kind == "large" else 1.0) * torch.randn(N, H, generator=gen,
                                                                dtype=torch.float64)
        enc = torch.randn(N, S, enc_dim, generator=gen, dtype=torch.float64)
        src_mask = torch.rand(N, S, generator=gen) < 0.7
        src_mask[:, 0] = True
        if S > 1:
            src_mask[0, -1] = False
        i = ("logits", "state", "weights").index(part)

        def reference(ms=None):
            with torch.no_grad():
                return ref.decoder_step(m, y_prev, s_prev, enc, src_mask, ms)[i].numpy()
        expected = reference()
        with torch.no_grad():
            out = call("AttentionDecoderStep.forward", m, y_prev, s_prev, enc, src_mask,
                       arg_names=("y_prev", "s_prev", "enc", "src_mask"))
        value = unpack("AttentionDecoderStep.forward", out, 3)[i]
        if not isinstance(value, torch.Tensor):
            raise CheckFailure(f"{part} must be a torch tensor, got {type(value).__name__}.",
                               ["not_a_tensor"])
        if value.dtype != torch.float64:
            raise CheckFailure(f"{part} has dtype {value.dtype}; keep the inputs' float64.",
                               ["wrong_dtype"])
        check_close(part, value.detach().numpy(), expected,
                    axes={"logits": ("N", "vocab"), "state": ("N", "H"),
                          "weights": ("N", "source")}[part],
                    known=Mistakes(MASK_MISTAKES, reference))
    run_cases(f"AttentionDecoderStep {part}", seed, case, body, CASES_HIDDEN)


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
    def body(c):
        rng, kind, gen = c.rng, c.kind, c.torch_generator()
        dims = [(3, 11)] * 5                           # vocabulary, emb, enc_dim, H, A
        N, S, T, V, E, enc_dim, H, A = [1, 1, 1] + distinct_sizes(rng, *dims) \
            if kind == "single" else distinct_sizes(rng, (1, 5), (2, 8), (2, 5), *dims)
        c.label = f"{kind} case N={N}, S={S}, T={T}, vocab={V}, emb={E}, enc_dim={enc_dim}, " \
                  f"H={H}, A={A}"
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
            return ref.decoder_step(m, *a)

        def student_step(*a):
            out = call("AttentionDecoderStep.forward", m, *a,
                       arg_names=("y_prev", "s_prev", "enc", "src_mask"))
            return unpack("AttentionDecoderStep.forward", out, 3)

        ref_grads = torch.autograd.grad(loss_of(reference), leaves, allow_unused=True)
        loss = loss_of(student_step)
        if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
            raise CheckFailure("the loss computed from your decoder's logits does not depend "
                               "on its parameters: is the forward pass detached, run under "
                               "torch.no_grad(), or computed outside torch?", ["detached"])
        try:
            got = torch.autograd.grad(loss, leaves, allow_unused=True)
        except RuntimeError as exc:
            raise CheckFailure(f"backpropagating through your decoder failed: {exc}",
                               ["exception"]) from None

        def detached(i):
            g = torch.autograd.grad(loss_of(reference, True), leaves, allow_unused=True)[i]
            return torch.zeros_like(leaves[i]).numpy() if g is None else g.numpy()
        for i, (name, g, r) in enumerate(zip(names, got, ref_grads)):
            r = torch.zeros_like(leaves[i]) if r is None else r
            if g is None:
                raise CheckFailure(f"the loss does not depend on {name}: is it created inside "
                                   "forward, or detached from the graph?", ["detached"])
            check_close(f"the gradient of the loss with respect to {name}", g.numpy(),
                        r.numpy(), known=Mistakes.of({"detached_state": (
                            "the decoder state is detached between steps (gradients do not "
                            "flow back through time)", lambda i=i: detached(i))}))
    run_cases("AttentionDecoderStep training gradients", seed, case, body, CASES_HIDDEN)


# ---------------------------------------------------------------- the trained model
def check_trained_model(translate, data, minimum_accuracy, n=None, seed=None, case=None):
    """Exact-match accuracy of `translate(list_of_latin_names) -> list_of_cyrillic` on the
    test split (a random sample of n names at grading time)."""
    pairs = data.test
    if seed is not None or n is not None:
        rng = np.random.default_rng(seed)
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
