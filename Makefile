# Two commands do everything on a fresh machine with Python 3.11:
#   make book   - set up .venv, then build the HTML book into _build/html (every page executed)
#   make test   - set up .venv, then run the whole test suite (the book build included)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Small matrices everywhere: one BLAS/OpenMP thread per process is fastest, and the test
# suite runs two processes side by side on the 2-core CI machine.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: book test install release validate clean grade

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --all -W --keep-going

test: $(STAMP)
	$(BIN)/python -m pytest -ra -n 2 --dist loadfile  # book build and nbgrader round trips side by side

# Regenerate the student release (assignments/) from the masters (solutions/).
release: $(STAMP)
	$(BIN)/python -m autograder.release

# Grade a class with the trusted judge into the nbgrader gradebook (issue 7):
#   make grade A=a01-rnn [JOBS=n]   (default: all cores)
JOBS ?= 0
grade: $(STAMP)
	$(BIN)/python -m autograder.grade $(A) --jobs $(JOBS)

clean:
	rm -rf _build classroom
