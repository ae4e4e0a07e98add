# Two commands do all the set-up on a fresh machine:
#   make demo   installs into .venv and runs the main job on the embedded tiny model
#   make test   installs into .venv and runs the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
LTX := $(VENV)/bin/ltx-trt
GPU ?= rtx4090
# `make packs`: every RTX profile's engine pack of ARCHITECTURE, from its configs alone (no checkpoint), into
# packs/ (CI: .github/workflows/packs.yml). ARCHITECTURE=ltx-2.3-tiny builds the tiny model's in a few minutes.
# The exports run one after another, each reusing the graphs exported before it (export cache, docs/DESIGN.md
# #11); each profile's build-engines and pack run beside the next export, PACK_JOBS steps at a time.
ARCHITECTURE ?= ltx-2.3-22b
RTX_PROFILES ?= rtx3060 rtx4090 rtx5090
PACK_ARTIFACTS ?= artifacts
PACK_JOBS ?= 2

.PHONY: install demo test bench clean packs

$(VENV)/.installed: requirements/cpu.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-deps -r requirements/cpu.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

install: $(VENV)/.installed

# export + build-engines + calibrate + run on the tiny model, ending in out.mp4. TensorRT-RTX builds without a
# GPU; without one, `run --executor auto` runs the exported ONNX through onnxruntime (and says so). The
# profile's FP8 transformer takes its activation scales from `calibrate` (one prompt, one bucket here).
demo: install
	$(LTX) export --gpu $(GPU) --model tiny
	$(LTX) build-engines --gpu $(GPU) --model tiny
	$(LTX) calibrate --gpu $(GPU) --model tiny --prompt "a red fox runs through fresh snow" --width 768 --height 512 --frames 121
	$(LTX) run --gpu $(GPU) --model tiny --prompt "a red fox runs through fresh snow, birdsong"

packs: install
	$(MAKE) --no-print-directory -j$(PACK_JOBS) $(addprefix pack-,$(RTX_PROFILES))

# export-P waits for the export of the profile before it in RTX_PROFILES; build-P and pack-P only for export-P.
define pack_steps
export-$(1): $(if $(2),export-$(2))
	$$(LTX) export --gpu $(1) --architecture $$(ARCHITECTURE) --artifacts $$(PACK_ARTIFACTS)
build-$(1): export-$(1)
	$$(LTX) build-engines --gpu $(1) --architecture $$(ARCHITECTURE) --artifacts $$(PACK_ARTIFACTS)
pack-$(1): build-$(1)
	$$(LTX) pack --gpu $(1) --architecture $$(ARCHITECTURE) --artifacts $$(PACK_ARTIFACTS) --output packs
.PHONY: export-$(1) build-$(1) pack-$(1)
endef
pack_chain = $(if $(2),$(eval $(call pack_steps,$(firstword $(2)),$(1)))$(call pack_chain,$(firstword $(2)),$(wordlist 2,99,$(2))))
$(call pack_chain,,$(RTX_PROFILES))

test: install
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) artifacts
