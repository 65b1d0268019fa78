"""A convolutional LSTM (Shi et al. 2015) assembled from torch parts.

The LSTM equations with every matrix product replaced by a 2-D convolution, so that the state
keeps its image layout (channels x height x width):

    [i, f, g, o] = conv2d([x_t ; h_{t-1}], W) + b       (one conv produces all four gates)
    i, f, o = sigmoid(.), g = tanh(.)
    c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)

Keras ships this as `keras.layers.ConvLSTM2D`; torch does not, hence the parts. Gate order
i, f, g, o as in `torch.nn.LSTM`. `unfold_reference` computes the same cell another way (an
`nn.LSTMCell` applied to the unfolded k x k neighbourhood of every pixel) for the checks.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvLSTMCell(nn.Module):
    def __init__(self, in_ch: int, hid_ch: int, kernel: int = 3):
        super().__init__()
        self.hid_ch, self.kernel = hid_ch, kernel
        self.conv = nn.Conv2d(in_ch + hid_ch, 4 * hid_ch, kernel, padding=kernel // 2)

    def forward(self, x, state=None):
        """x (N, C_in, H, W), state (h, c) each (N, C_hid, H, W) -> (h, c)."""
        N, _, Hh, Ww = x.shape
        if state is None:
            z = x.new_zeros(N, self.hid_ch, Hh, Ww)
            state = (z, z)
        h, c = state
        gates = self.conv(torch.cat([x, h], dim=1))               # (N, 4 C_hid, H, W)
        i, f, g, o = gates.chunk(4, dim=1)                        # each (N, C_hid, H, W)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTMPredictor(nn.Module):
    """Frames x_1..x_t -> prediction of x_{t+1} at every step: a ConvLSTM layer and a 1x1
    convolution read-out of the *change* to the last frame, x_hat_{t+1} = x_t + tanh(read-out)
    (so an untrained model starts near the frame-copy baseline and learns the motion)."""
    def __init__(self, hid_ch: int = 16, kernel: int = 3):
        super().__init__()
        self.cell = ConvLSTMCell(1, hid_ch, kernel)
        self.readout = nn.Conv2d(hid_ch, 1, 1)

    def forward(self, frames):
        """frames (N, T, H, W) -> predictions (N, T, H, W) of frames 2..T+1."""
        state, out = None, []
        for t in range(frames.shape[1]):
            state = self.cell(frames[:, t:t + 1], state)
            out.append(frames[:, t] + torch.tanh(self.readout(state[0]))[:, 0])
        return torch.stack(out, dim=1)


def unfold_reference(cell: ConvLSTMCell, x, state):
    """The same step computed another way: every pixel's k x k neighbourhood of [x; h] is
    unfolded into a vector, and a plain `nn.LSTMCell` (whose input-to-hidden weight is the
    flattened kernel) runs on all pixels as a batch. Returns (h, c) like the cell."""
    h, c = state
    N, C_in, Hh, Ww = x.shape
    k, C = cell.kernel, cell.hid_ch
    patches = F.unfold(torch.cat([x, h], dim=1), k, padding=k // 2)   # (N, (C_in+C) k k, H W)
    patches = patches.transpose(1, 2).reshape(N * Hh * Ww, -1)       # (N H W, (C_in+C) k k)
    ref = nn.LSTMCell(patches.shape[1], C, bias=True).to(x.dtype)
    with torch.no_grad():
        ref.weight_ih.copy_(cell.conv.weight.reshape(4 * C, -1))     # (4C, (C_in+C) k k)
        ref.weight_hh.zero_()                                        # h already in the patches
        ref.bias_ih.copy_(cell.conv.bias)
        ref.bias_hh.zero_()
    c_flat = c.permute(0, 2, 3, 1).reshape(N * Hh * Ww, C)           # (N H W, C)
    h_new, c_new = ref(patches, (torch.zeros_like(c_flat), c_flat))
    back = lambda t: t.reshape(N, Hh, Ww, C).permute(0, 3, 1, 2)     # -> (N, C, H, W)
    return back(h_new), back(c_new)
