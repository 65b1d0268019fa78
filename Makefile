# Two commands do everything on a fresh machine with Python 3.11:
#   make book   - set up .venv, then build the HTML book into _build/html (every page executed)
#   make test   - set up .venv, then run the whole test suite (the book build included)
#   make lab    - JupyterLab in the course environment (chapters open as notebooks)
#   make student-edition DEST=<dir> - write the tree students get (no solutions, no grading code)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch's CPU wheels (on Linux, PyPI's torch is the multi-GB CUDA build): scripts/install_torch.py
# installs the pinned torch from here first and refuses a CUDA build. Empty: pip's default index.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# The student edition's public address: the book's repository button and launch links.
EDITION_URL ?=

# Small matrices everywhere: one BLAS/OpenMP thread per process is fastest, and the test
# suite runs two processes side by side on the 2-core CI machine.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: book test lint install release validate clean system report grade lab student-edition

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python scripts/install_torch.py --index-url "$(TORCH_INDEX)"
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

# Incremental: only pages whose source or imported seqlab code changed run again (the cache
# is _build/.jupyter_cache); `make clean book` builds everything from scratch.
book: $(STAMP)
	$(BIN)/jupyter-book build . -W --keep-going

# Debian packages the tests need (PostgreSQL, chromium, bubblewrap): installed when root and
# missing, otherwise listed as skipped; the tests that need one skip with a reason.
system:
	sh scripts/setup_system.sh

# pyflakes rules only (unused imports and names, undefined names): see [tool.ruff] in pyproject.toml
lint: $(STAMP)
	$(BIN)/ruff check autograder seqlab scripts tests

test: system $(STAMP) lint
	$(BIN)/python -m pytest -ra -n 2 --dist loadfile  # book build and nbgrader round trips side by side

# Regenerate the student release (assignments/) from the masters (solutions/).
release: $(STAMP)
	$(BIN)/python -m autograder.release

# Grade a class with the trusted judge into the nbgrader gradebook (issue 7):
#   make grade A=a01-rnn [JOBS=n]   (default: all cores)
JOBS ?= 0
grade: $(STAMP)
	$(BIN)/python -m autograder.grade $(A) --jobs $(JOBS)

# The class report of one assignment from the judge's results:
#   make report A=a01-rnn  ->  classroom/reports/a01-rnn/index.html (+ PNG figures, CSV)
report: $(STAMP)
	$(BIN)/python -m autograder.report $(A)

# JupyterLab with the project's settings: a chapter .md opens as a notebook on double-click.
# (the instructor's lab keeps nbgrader's formgrader; the student edition's Makefile turns it off)
$(VENV)/.lab: $(STAMP) jupyterlab/overrides.json
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp jupyterlab/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

lab: $(VENV)/.lab
	$(BIN)/jupyter lab

# The tree students get; see README.md (two repositories). DEST must not be inside this one.
student-edition:
	@test -n "$(DEST)" || { echo "usage: make student-edition DEST=<dir> [EDITION_URL=<url>]"; exit 2; }
	$(PYTHON) scripts/student_edition.py "$(DEST)" $(if $(EDITION_URL),--url "$(EDITION_URL)")

clean:
	rm -rf _build classroom
