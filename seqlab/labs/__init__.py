"""Plumbing for the Labs part of the book (book/labs/): data splits, metrics and baselines.

- `task1`: the three data sets of Task 1 (4th word, 4th animation frame, 4th temperature from
  the three before), with one fixed split and one metric each, shared with the graded work;
- `images`: the digit images (scikit-learn's bundled `load_digits`), their animations, test-time
  filters and moving-digit clips;
- `text`: word-level pairs for the seq2seq labs (docstring titles, number phrases EN/RU),
  Bach chorale melodies read from the `music21` package;
- `models`: models built from parts for Task 3 (Elman classifier, sequence autoencoder,
  encoder-decoder Transformer).
"""
