"""One plotting style for every figure in the book."""
import matplotlib

matplotlib.rcParams.update({
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "figure.figsize": (7.0, 3.6),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10,
})

COLORS = {"rnn": "#1f77b4", "lstm": "#d62728", "gru": "#2ca02c", "attention": "#9467bd",
          "transformer": "#ff7f0e", "baseline": "#7f7f7f"}

