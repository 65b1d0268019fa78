"""Functions defined on book pages work for every size a student may try.

The pages are executed only in the (slow) book build, and there on the sizes the page uses.
Here the page's own definition is extracted from the Markdown source (the function only, not
the rest of its cell) and run on all small sizes, odd widths included, against the definition
written out entry by entry.
"""
import ast
import math
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
CELL = re.compile(r"```\{code-cell\}[^\n]*\n(.*?)```", re.S)


def page_function(page: str, name: str):
    """The function `name` as defined in a code cell of book/<page>.md."""
    text = (ROOT / "book" / f"{page}.md").read_text()
    for cell in CELL.findall(text):
        if f"def {name}(" not in cell:
            continue
        code = "\n".join(line for line in cell.splitlines() if not line.startswith(":"))
        tree = ast.parse(code)
        fn = next(node for node in tree.body
                  if isinstance(node, ast.FunctionDef) and node.name == name)
        namespace = {"np": np}
        try:
            import torch
            namespace["torch"] = torch
        except ImportError:  # pragma: no cover
            pass
        exec(compile(ast.Module([fn], type_ignores=[]), f"{page}.md", "exec"), namespace)
        return namespace[name]
    raise AssertionError(f"book/{page}.md defines no {name}()")


def pe_by_definition(T, D):
    """Vaswani et al. (2017), entry by entry: PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos."""
    pe = np.zeros((T, D))
    for p in range(T):
        for j in range(D):
            angle = p / 10000 ** ((j - j % 2) / D)
            pe[p, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return pe


@pytest.mark.parametrize("page", ["transformers/self-attention", "transformers/transformer"])
def test_sinusoidal_pe_for_every_width(page):
    sinusoidal_pe = page_function(page, "sinusoidal_pe")
    for D in range(1, 18):          # a05 allows odd d_model
        for T in (1, 2, 9):
            got = np.asarray(sinusoidal_pe(T, D), dtype=np.float64)
            assert got.shape == (T, D), (page, T, D)
            np.testing.assert_allclose(got, pe_by_definition(T, D), atol=1e-6,
                                       err_msg=f"{page}: T={T}, D={D}")


def test_concatenated_layout_is_a_permutation_for_every_width():
    interleaved = page_function("transformers/self-attention", "sinusoidal_pe")
    concat = page_function("transformers/self-attention", "sinusoidal_pe_concat")
    for D in range(1, 18):
        perm = np.concatenate([np.arange(0, D, 2), np.arange(1, D, 2)])
        np.testing.assert_array_equal(interleaved(7, D)[:, perm], concat(7, D))
