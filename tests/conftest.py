"""Shared fixtures: the embedded tiny model exported once per profile for the whole session.

`tiny_export("rtx4090")` runs the real `ltx-trt export --model tiny` (the CLI, through click's
runner) into a session folder and returns that artifacts folder; later stages' tests (build, run)
start from it. The tiny weights themselves are generated once into the same folder, and calibrated once
(`ltx-trt calibrate`, one prompt, the first bucket): FP8 profiles run from those activation scales.
"""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ltx_trt.cli import main


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def tiny_export(tiny_artifacts):
    """A function: (profile name, extra export flags) -> artifacts folder holding <tiny>/<profile>/onnx
    (exported once per distinct call; e.g. `tiny_export("rtx4090", "--precision", "transformer=bf16",
    "--component", "transformer")` exports into <tiny>/rtx4090+transformer-bf16/onnx)."""
    done: set = set()

    def export(profile: str, *flags: str) -> Path:
        if (profile, flags) not in done:
            result = CliRunner().invoke(main, ["export", "--gpu", profile, "--model", "tiny",
                                               "--artifacts", str(tiny_artifacts), *flags])
            assert result.exit_code == 0, result.output + repr(result.exception)
            done.add((profile, flags))
        if "calibration" not in done:
            result = CliRunner().invoke(main, ["calibrate", "--gpu", profile, "--model", "tiny", "--artifacts",
                                               str(tiny_artifacts), "--prompt", "a red fox", "--width", "768",
                                               "--height", "512", "--frames", "121"])
            assert result.exit_code == 0, result.output + repr(result.exception)
            done.add("calibration")
        return tiny_artifacts

    return export


@pytest.fixture(scope="session")
def tiny_ltx_files(tmp_path_factory):
    """ModelFiles of the tiny LTX-2.3 checkpoint alone (bf16, as the real file), with a Gemma config
    stub: enough for the transformer, connector and decoders, without generating a Gemma folder."""
    from ltx_trt.model import ltx23_config, synthetic
    from ltx_trt.model.files import ModelFiles
    from ltx_trt.core.source import ModelSource

    folder = tmp_path_factory.mktemp("tiny-ltx")
    synthetic.write_ltx_checkpoint(folder / "ltx.safetensors", ltx23_config.tiny_config(), 64, 4,
                                   model_version=ltx23_config.MODEL_VERSION)
    (folder / "gemma").mkdir()
    (folder / "gemma" / "config.json").write_text(json.dumps({"hidden_size": 64, "num_hidden_layers": 4}))
    return ModelFiles(ModelSource("tiny", folder / "ltx.safetensors", folder / "gemma", folder / "none"))
