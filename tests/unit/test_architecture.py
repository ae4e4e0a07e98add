"""Export from the architecture alone (model/architecture.py): the configs give the same graphs and the same
architecture fingerprint as the model's own files, another architecture another fingerprint, and every graph
of a profile takes its weights as inputs (nothing in an engine is a model weight)."""

import pytest
from click.testing import CliRunner

from ltx_trt.cli import main
from ltx_trt.core.plan import physical, profile_graphs
from ltx_trt.core.profiles import load_profile
from ltx_trt.core.shapes import WEIGHT_PREFIX
from ltx_trt.core.source import tiny_dir, tiny_source
from ltx_trt.model.architecture import ArchitectureFiles
from ltx_trt.model.files import ModelFiles
from ltx_trt.model.tiny import ensure_tiny_model

PROFILE = load_profile("rtx4090")


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    artifacts = tmp_path_factory.mktemp("artifacts")
    ensure_tiny_model(tiny_dir(artifacts), log=lambda line: None)
    return ModelFiles(tiny_source(artifacts))


def test_the_tiny_architecture_is_the_tiny_models_files(tiny_files, tmp_path):
    arch = ArchitectureFiles("ltx-2.3-tiny", tmp_path / "tiny")
    assert arch.architecture == tiny_files.architecture
    assert profile_graphs(PROFILE, arch.dims) == profile_graphs(PROFILE, tiny_files.dims)
    assert ArchitectureFiles("ltx-2.3-22b", tmp_path / "22b").architecture != tiny_files.architecture


def test_every_graph_takes_its_weights_as_inputs(tiny_files):
    for graph in physical(profile_graphs(PROFILE, tiny_files.dims)):
        weights = [s for s in graph.inputs if s.name.startswith(WEIGHT_PREFIX)]
        assert weights, graph.key
    for component in ("connector", "upsampler", "video_encoder", "video_decoder", "audio_decoder"):
        assert len(tiny_files.dims.whole_weights(component)) > 10, component


def test_export_refuses_an_unknown_architecture_and_model_files_beside_one(tmp_path):
    result = CliRunner().invoke(main, ["export", "--gpu", "rtx4090", "--architecture", "ltx-9", "--artifacts",
                                       str(tmp_path)])
    assert result.exit_code == 2 and "unknown architecture 'ltx-9'" in result.output
    result = CliRunner().invoke(main, ["export", "--gpu", "rtx4090", "--architecture", "ltx-2.3-tiny", "--model", "tiny",
                                       "--artifacts", str(tmp_path)])
    assert result.exit_code == 2 and "takes no model files" in result.output
