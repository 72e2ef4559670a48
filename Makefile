# Everything a fresh machine needs: `make demo` and `make test` create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint pytest study-quick notebooks wheel-check bench study lab generate readme clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch lies on disk; an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,notebooks,ray,flower]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf runs/demo runs/tie
	$(BIN)/fedquant validate --out runs/demo
	$(BIN)/fedquant validate --preset tie --out runs/tie

test: lint pytest study-quick notebooks wheel-check

lint: $(STAMP)
	$(BIN)/ruff check .

pytest: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/pytest -q tests

# the quick study (two cells, two seeds; about a minute): its folder is what notebooks/study.ipynb loads
study-quick: $(STAMP)
	rm -rf runs/study-quick
	$(BIN)/fedquant study --quick --out runs/study-quick --no-progress
	$(BIN)/python tests/study_check.py runs/study-quick

notebooks: $(STAMP)
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then OMP_NUM_THREADS=1 $(BIN)/pytest -q --nbmake notebooks; fi

wheel-check: $(STAMP)
	$(BIN)/python tests/wheel_check.py

# the whole study (about 40 minutes on 2 cores): rewrites docs/results.md and docs/results/
study: $(STAMP)
	$(BIN)/fedquant study --out runs/study $(if $(wildcard runs/study/study.json),--resume,)

# JupyterLab on notebooks/, from the project's environment (the notebooks extra)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)
	$(BIN)/fedquant bench all

# after editing theory/: rewrite theory/generated.py, the numeric module shipped in the package
generate: $(STAMP)
	$(BIN)/python -m fedquant.theory.numeric --write

# rerun every command of the README's tour and rewrite its output blocks (about 4 minutes on 2 cores)
readme: $(STAMP)
	$(BIN)/python docs/tour.py --write

clean:
	rm -rf $(VENV) build dist *.egg-info
