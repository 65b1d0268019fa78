"""Plumbing for the book's pages: seeding, data loading, plotting style.

The idea a page teaches stays on the page; only repeated plumbing lives here.
"""
import os
import random

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(REPO_ROOT, "data")


def n_params(module) -> int:
    """Number of scalars in a module's parameters (a tied matrix counts once)."""
    return sum(p.numel() for p in module.parameters())


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python, numpy and torch; return a fresh numpy Generator."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # torch is optional for numpy-only pages
        pass
    return np.random.default_rng(seed)
