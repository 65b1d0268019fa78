"""Checks for assignment a04 (attention: additive and scaled dot-product attention in
numpy, the backward pass of masked scaled dot-product attention and a decoder step with
attention in torch, whose training is checked through its gradients).

Conventions: batch-first, float64; masks are boolean and True where attention is allowed
(for a padding mask over keys: True on real tokens). Same replay API as every assignment
(harness.run_cases): seed=0 is the visible case, seed=None draws hidden cases.
"""
from __future__ import annotations

import math
from functools import partial

import torch

from . import reference as ref
from .harness import (CheckFailure, Mistakes, call, check_close, distinct_sizes,
                      forward_then_backward, grad_mistakes, run_cases, student, terms_scale,
                      torch_vjp, unpack, value_mistakes)

CASES_HIDDEN = ("regular", "regular", "single", "large")
SDPA_GRADS = ("dq", "dk", "dv")
SDPA_AXES = {"q": ("N", "query", "d_k"), "k": ("N", "key", "d_k"), "v": ("N", "key", "d_v")}
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
                    known=value_mistakes(MASK_MISTAKES, forward, args, i))
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
                    known=value_mistakes(SCALE if mask is None else {**MASK_MISTAKES, **SCALE},
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
        grads, (o_ref, _) = torch_vjp(forward, args, (dout, None))
        got = forward_then_backward(
            "sdpa_forward", sdpa_forward, {**args, "mask": mask}, 3,
            lambda outs: check_close("out", outs[0], o_ref, axes=("N", "query", "d_v"),
                                     known=value_mistakes({**MASK_MISTAKES, **SCALE}, forward,
                                                          args, 0)),
            "sdpa_backward", sdpa_backward, {"dout": dout}, 3)[SDPA_GRADS.index(grad)]
        check_close(grad, got, grads[name], axes=SDPA_AXES[name],
                    scale=terms_scale(forward, args, (dout, None), name,
                                      {"no_softmax_sum_term"}, grads[name]),
                    known=grad_mistakes(BACKWARD_MISTAKES, forward, args, (dout, None), name))
    run_cases(f"sdpa_backward {grad}", seed, case, body, CASES_HIDDEN)


# ---------------------------------------------------------------- decoder step (torch)
def _decoder(c, AttentionDecoderStep, *ranges):
    """The student's module with random float64 parameters, a torch generator for the
    inputs, and the sizes drawn from `ranges` (N, S[, T]; all 1 in a single case) followed
    by the vocabulary size, the encoder's width and the state size."""
    dims = [(3, 11)] * 5                               # vocabulary, emb, enc_dim, H, A
    sizes = [1] * len(ranges) + distinct_sizes(c.rng, *dims) if c.kind == "single" \
        else distinct_sizes(c.rng, *ranges, *dims)
    V, E, enc_dim, H, A = sizes[-5:]
    names = ("N", "S", "T")[:len(ranges)] + ("vocab", "emb", "enc_dim", "H", "A")
    c.label = f"{c.kind} case " + ", ".join(f"{k}={v}" for k, v in zip(names, sizes))
    m = call("AttentionDecoderStep(...)", AttentionDecoderStep, V, E, enc_dim, H, A).double()
    gen = c.torch_generator()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) /
                    math.sqrt(max(p.shape[-1], 1)))
    return m, gen, (*sizes[:len(ranges)], V, enc_dim, H)


def check_decoder_step(AttentionDecoderStep, part, seed=None, case=None):
    """part: "logits", "state" or "weights"."""
    def body(c):
        m, gen, (N, S, V, enc_dim, H) = _decoder(c, AttentionDecoderStep, (1, 5), (2, 8))
        y_prev = torch.randint(0, V, (N,), generator=gen)
        s_prev = (3.0 if c.kind == "large" else 1.0) * torch.randn(N, H, generator=gen,
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
        m, gen, (N, S, T, V, enc_dim, H) = _decoder(c, AttentionDecoderStep, (1, 5), (2, 8),
                                                    (2, 5))
        scale = 3.0 if c.kind == "large" else 1.0
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

        def student_step(*a):
            out = call("AttentionDecoderStep.forward", m, *a,
                       arg_names=("y_prev", "s_prev", "enc", "src_mask"))
            return unpack("AttentionDecoderStep.forward", out, 3)

        reference = partial(ref.decoder_step, m)
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
