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

.PHONY: demo test test-numpy2 test-numpy1 benchmark clean

demo: .venv/.installed
	.venv/bin/mideepseg demo --out demo_output

# The suite runs twice: under numpy 2.x (Slicer >= 5.10) and numpy 1.26 (Slicer 5.8).
test: test-numpy2 test-numpy1

test-numpy2: .venv/.reference
	.venv/bin/python -m pytest -q -ra

test-numpy1: .venv-numpy1/.reference
	.venv-numpy1/bin/python -m pytest -q -ra

benchmark: .venv/.reference
	.venv/bin/python benchmarks/bench_core.py

.venv/.installed: NUMPY = numpy>=2
.venv-numpy1/.installed: NUMPY = numpy==1.26.4
%/.installed: pyproject.toml
	$(PYTHON) -m venv $*
	$*/bin/python -m pip install -q --upgrade pip setuptools wheel
	if [ -z "$(TORCH_INDEX)" ] || $*/bin/python -m pip install -q --dry-run --no-deps --no-index "$(TORCH)" \
	    >/dev/null 2>&1; then \
	  $*/bin/python -m pip install -q "$(TORCH)"; \
	else \
	  $*/bin/python -m pip install -q "$(TORCH)" --index-url "$(TORCH_INDEX)"; \
	fi
	$*/bin/python -m pip install -q "$(NUMPY)"
	$*/bin/python -m pip install -q -e ".[test]" "$(TORCH)" "$(NUMPY)"
	touch $@

%/.reference: %/.installed
	CPPFLAGS="$(REFERENCE_CPPFLAGS)" $*/bin/python -m pip install -q --no-build-isolation GeodisTK==0.1.7 SimpleCRF==0.2.1.1
	touch $@

clean:
	rm -rf .venv .venv-numpy1 demo_output
