"""Digit images for the labs: scikit-learn's bundled `load_digits` (no download).

Source: the UCI "Optical Recognition of Handwritten Digits" test set as bundled in scikit-learn
(1797 images, 8x8, 17 grey levels 0..16, about 180 per class, written by 13 people);
CC BY 4.0 (UCI), scikit-learn BSD-3-Clause. The order of the bundle is kept, so that a split
"first part / last part" keeps writers mostly apart.
"""
from __future__ import annotations

import numpy as np


def load_digit_images():
    """images (1797, 8, 8) float64 in [0, 1], labels (1797,) int64."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float64) / 16.0, d.target.astype(np.int64)


def split_index(n: int, test_fraction: float = 0.25):
    """First (1 - test_fraction) of the bundle for training, the rest for testing (in order)."""
    cut = int(round(n * (1 - test_fraction)))
    return np.arange(cut), np.arange(cut, n)


VELOCITIES = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)])


def animate(images, n_frames: int = 4, canvas: int = 12, rng=None):
    """Each 8x8 image moves one pixel per frame on a blank canvas, in one of 8 directions.

    images (N, 8, 8) -> frames (N, n_frames, canvas, canvas), velocities (N, 2) as (dy, dx).
    The start is drawn so that every frame stays inside the canvas (no wrap-around).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    N, s = images.shape[0], images.shape[1]
    room = canvas - s                                       # free positions per axis: 0..room
    vel = VELOCITIES[rng.integers(0, len(VELOCITIES), N)]   # (N, 2)
    out = np.zeros((N, n_frames, canvas, canvas))
    steps = n_frames - 1
    for n in range(N):
        start = []
        for v in vel[n]:
            lo, hi = (0, room - steps) if v > 0 else ((steps, room) if v < 0 else (0, room))
            start.append(rng.integers(lo, hi + 1))
        for t in range(n_frames):
            y, x = start[0] + t * vel[n][0], start[1] + t * vel[n][1]
            out[n, t, y:y + s, x:x + s] = images[n]
    return out, vel


def bouncing_clips(images, n_frames: int = 8, canvas: int = 16, rng=None):
    """'Moving digits': each image drifts with a random velocity (1 pixel/frame per axis, or 0
    on one axis) and bounces off the canvas walls. -> (N, n_frames, canvas, canvas)."""
    rng = np.random.default_rng(0) if rng is None else rng
    N, s = images.shape[0], images.shape[1]
    room = canvas - s
    out = np.zeros((N, n_frames, canvas, canvas))
    for n in range(N):
        pos = rng.integers(0, room + 1, 2)
        vel = VELOCITIES[rng.integers(0, len(VELOCITIES))].copy()
        for t in range(n_frames):
            out[n, t, pos[0]:pos[0] + s, pos[1]:pos[1] + s] = images[n]
            for a in range(2):                              # bounce: reverse at a wall
                if not 0 <= pos[a] + vel[a] <= room:
                    vel[a] = -vel[a]
                pos[a] += vel[a]
    return out


def blur(images, sigma: float = 0.8):
    """Gaussian blur of each image (scipy.ndimage), images (N, h, w)."""
    from scipy.ndimage import gaussian_filter

    return np.stack([gaussian_filter(im, sigma, mode="constant") for im in images])


def noise(images, std: float = 0.3, rng=None):
    """Additive Gaussian noise, clipped to [0, 1]."""
    rng = np.random.default_rng(1) if rng is None else rng
    return np.clip(images + std * rng.standard_normal(images.shape), 0.0, 1.0)


def occlude(images, rows: int = 2, rng=None):
    """Blank `rows` consecutive random rows of each image (a horizontal bar)."""
    rng = np.random.default_rng(2) if rng is None else rng
    out = images.copy()
    for n in range(len(out)):
        r = rng.integers(0, out.shape[1] - rows + 1)
        out[n, r:r + rows] = 0.0
    return out
