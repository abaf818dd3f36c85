# The two commands (see README):  make demo   |   make test
# Everything is set up on first use (Python >= 3.10: the pinned torch needs it):
# a virtual environment with the CPU build of torch, MIDeepSegLib in editable
# mode with the demo extra (matplotlib), and for the tests the reference
# libraries GeodisTK and SimpleCRF built from source.

PYTHON ?= python3
TORCH  ?= torch==2.13.0
# torch comes from PyTorch's CPU-only index (183 MB wheel) unless pip finds a
# local wheel of $(TORCH) (a --find-links folder). On Linux, PyPI's torch is
# the CUDA build with its NVIDIA libraries (several GB); `make TORCH_INDEX=`
# leaves the choice to pip's own configuration.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# GeodisTK and SimpleCRF use NPY_IN_ARRAY, removed in numpy 2; this maps it to
# its numpy >= 1.7 name so that they compile against numpy 1.26 and 2.x alike.
REFERENCE_CPPFLAGS = -DNPY_IN_ARRAY=NPY_ARRAY_IN_ARRAY

# The slicer-core tests (Testing/slicercore): the module's logic, its self-test and point placement in an
# off-screen slice view, on Slicer's own MRML and module logics (the slicer-core wheel, Slicer 5.13; no Qt).
# The wheel needs Python >= 3.10: without such an interpreter the target says so and the rest still runs.
SLICER_PYTHON ?= python3.11
SLICER_CORE   ?= slicer-core==5.13.31053.0

.PHONY: demo test test-numpy2 test-numpy1 test-slicer test-slicer-5.12 benchmark clean

demo: .venv/.installed
	.venv/bin/mideepseg demo --out demo_output

# The suite runs twice: under numpy 2.x (Slicer >= 5.10) and numpy 1.26 (Slicer 5.8).
test: test-numpy2 test-numpy1 test-slicer

test-numpy2: .venv/.reference
	.venv/bin/python -m pytest -q -ra

test-numpy1: .venv-numpy1/.reference
	.venv-numpy1/bin/python -m pytest -q -ra

# $(1): the venv of one slicer-core release
define slicer-tests
	@if command -v $(SLICER_PYTHON) >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(1)/.installed && \
		$(1)/bin/python -m pytest -q -ra Testing/slicercore Testing/test_slicer_module_static.py; \
	else \
		echo "$@: $(SLICER_PYTHON) not found; the slicer-core tests need Python >= 3.10 (SLICER_PYTHON=...)"; \
	fi
endef

test-slicer:
	$(call slicer-tests,.venv-slicer)

# The same tests on slicer-core 5.12.4.0, Slicer's 5.12 release line (the module supports 5.8-5.12);
# not part of `make test` (another venv: about 2 min more).
test-slicer-5.12:
	$(call slicer-tests,.venv-slicer512)

benchmark: .venv/.reference
	.venv/bin/python benchmarks/bench_core.py

.venv/.installed: NUMPY = numpy>=2
.venv-numpy1/.installed: NUMPY = numpy==1.26.4
.venv-slicer/.installed: NUMPY = numpy>=2
.venv-slicer/.installed: PYTHON = $(SLICER_PYTHON)
.venv-slicer/.installed: EXTRA = $(SLICER_CORE)
.venv-slicer512/.installed: NUMPY = numpy>=2
.venv-slicer512/.installed: PYTHON = $(SLICER_PYTHON)
.venv-slicer512/.installed: EXTRA = slicer-core==5.12.4.0
%/.installed: pyproject.toml
	$(PYTHON) -m venv $*
	$*/bin/python -m pip install -q --upgrade pip setuptools wheel
	if [ -z "$(TORCH_INDEX)" ] || $*/bin/python -m pip install -q --dry-run --no-deps --no-index "$(TORCH)" \
	    >/dev/null 2>&1; then \
	  $*/bin/python -m pip install -q "$(TORCH)"; \
	else \
	  $*/bin/python -m pip install -q "$(TORCH)" --index-url "$(TORCH_INDEX)"; \
	fi
	$*/bin/python -m pip install -q "$(NUMPY)" $(EXTRA)
	$*/bin/python -m pip install -q -e ".[test]" "$(TORCH)" "$(NUMPY)"
	touch $@

%/.reference: %/.installed
	CPPFLAGS="$(REFERENCE_CPPFLAGS)" $*/bin/python -m pip install -q --no-build-isolation GeodisTK==0.1.7 SimpleCRF==0.2.1.1
	touch $@

clean:
	rm -rf .venv .venv-numpy1 .venv-slicer .venv-slicer512 demo_output
