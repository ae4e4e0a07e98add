"""The VAE-side graphs (x2 upsampler, video encoder, video decoder, audio decoder + vocoder): ONNX Runtime in fp32 ==
the unmodified ltx-core path loaded by ltx-core's own builder; planned shapes at real widths; loading refuses
configs ltx-core would silently complete; TensorRT-RTX builds the fp32 audio and bf16 video decoders."""

import json

import onnx
import onnxruntime
import pytest
import torch
from ltx_core.loader.single_gpu_model_builder import SingleGPUModelBuilder
from ltx_core.model.upsampler import LatentUpsamplerConfigurator, upsample_video
from ltx_core.model.video_vae import decode_video
from ltx_core.model.video_vae.model_configurator import (
    VAE_DECODER_COMFY_KEYS_FILTER,
    VAE_ENCODER_COMFY_KEYS_FILTER,
    VideoDecoderConfigurator,
    VideoEncoderConfigurator,
)
from ltx_core.model.video_vae.ops import PerChannelStatistics

from ltx_trt.core import shapes
from ltx_trt.core.errors import UserError
from ltx_trt.core.plan import bucket_graphs
from ltx_trt.core.profiles import Bucket, available_profiles, load_profile
from ltx_trt.core.source import ModelSource
from ltx_trt.export import onnx_export
from ltx_trt.export.checks import check_graph
from ltx_trt.model import components, decoder_graphs, ltx23_config, synthetic
from ltx_trt.model.files import ModelFiles
from ltx_trt.model.transformer_parts import layout_from_config
from tests.reference import relative_l2
from tests.reference import RELATIVE_L2

from ltx_core.model.audio_vae import (  # noqa: E402, I001  (ltx_trt.model installed the torchaudio placeholder)
    AUDIO_VAE_DECODER_COMFY_KEYS_FILTER,
    VOCODER_COMFY_KEYS_FILTER,
    AudioDecoderConfigurator,
    VocoderConfigurator,
    decode_audio,
)

SMALL = Bucket("small", width=128, height=64, frames=17, fps=24)  # stage 2: 3x2x4 latent, 18 audio tokens
COMPONENTS = ("upsampler", "video_encoder", "video_decoder", "audio_decoder")
DIMS = shapes.ModelDims(video_heads=2, video_head_dim=32, audio_heads=2, audio_head_dim=16, audio_cross_dim=32,
                        gemma_hidden=64, gemma_layers=4,  # only the transformer's specs read them
                        transformer=layout_from_config(ltx23_config.tiny_config()))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The tiny model in float32, so that fp32 weights are zero-copy views of the files."""
    folder = tmp_path_factory.mktemp("tiny")
    synthetic.write_ltx_checkpoint(folder / "ltx.safetensors", ltx23_config.tiny_config(), 64, 4,
                                   dtype=torch.float32, model_version=ltx23_config.MODEL_VERSION)
    synthetic.write_upsampler_checkpoint(folder / "upsampler.safetensors", ltx23_config.TINY_UPSAMPLER_CONFIG,
                                         dtype=torch.float32)
    (folder / "gemma").mkdir()
    (folder / "gemma" / "config.json").write_text(json.dumps({"hidden_size": 64, "num_hidden_layers": 4}))
    return ModelFiles(ModelSource("tiny", folder / "ltx.safetensors", folder / "gemma",
                                  folder / "upsampler.safetensors"))


def small_graph(component: str, precision: str):
    precision = {c: precision for c in ("text_encoder", "connector", "transformer", *COMPONENTS)}
    return next(g for g in bucket_graphs(SMALL, DIMS, precision) if g.component == component)


def export(files, component: str, precision: str, folder):
    """Build, wrap, trace and save one graph; check it against the plan. Returns (graph, module, data files)."""
    graph = small_graph(component, precision)
    model = decoder_graphs.COMPONENTS[component]
    module = model.build(files, {"fp32": torch.float32, "bf16": torch.bfloat16}[precision])
    wrapper = model.wrap(module, graph)
    ir_model = onnx_export.trace(wrapper, model.example_inputs(module, graph, seed=0), graph, model.export_overrides)
    data_files = onnx_export.save(ir_model, wrapper, folder, graph.key, files.origin_of)
    check_graph(onnx.load(folder / f"{graph.key}.onnx", load_external_data=False), graph)
    return graph, module, data_files


@pytest.fixture(scope="module")
def fp32_exports(files, tmp_path_factory):
    """One fp32 export per component, made on first use and shared by the tests below."""
    folder = tmp_path_factory.mktemp("onnx")
    made = {}

    def get(component: str):
        if component not in made:
            made[component] = export(files, component, "fp32", folder)
        return made[component]

    get.folder = folder
    return get


def ltx_core_build(configurator, path, sd_ops=None):
    """The module exactly as ltx-pipelines' ModelLedger loads it, on the CPU in fp32."""
    builder = SingleGPUModelBuilder(model_class_configurator=configurator, model_path=str(path), model_sd_ops=sd_ops)
    return builder.build(device=torch.device("cpu"), dtype=torch.float32).eval()


def ltx_core_reference(files, component: str, latent: torch.Tensor) -> torch.Tensor:
    """What the distilled pipeline computes from this latent, with ltx-core's own loading and functions."""
    checkpoint = files.source.checkpoint
    with torch.no_grad():
        if component == "upsampler":
            encoder = ltx_core_build(VideoEncoderConfigurator, checkpoint, VAE_ENCODER_COMFY_KEYS_FILTER)
            upsampler = ltx_core_build(LatentUpsamplerConfigurator, files.source.upsampler)
            return upsample_video(latent, video_encoder=encoder, upsampler=upsampler)
        if component == "video_encoder":  # what combined_image_conditionings calls on the loaded image
            return ltx_core_build(VideoEncoderConfigurator, checkpoint, VAE_ENCODER_COMFY_KEYS_FILTER)(latent)
        if component == "video_decoder":
            return ltx_core_build(VideoDecoderConfigurator, checkpoint, VAE_DECODER_COMFY_KEYS_FILTER)(latent)
        decoder = ltx_core_build(AudioDecoderConfigurator, checkpoint, AUDIO_VAE_DECODER_COMFY_KEYS_FILTER)
        vocoder = ltx_core_build(VocoderConfigurator, checkpoint, VOCODER_COMFY_KEYS_FILTER)
        return decode_audio(latent, decoder, vocoder).waveform.unsqueeze(0)


def run_onnx(folder, graph, inputs):
    session = onnxruntime.InferenceSession(str(folder / f"{graph.key}.onnx"))
    return session.run(None, {s.name: t.numpy() for s, t in zip(graph.inputs, inputs)})


@pytest.mark.parametrize("component", [
    "upsampler", "video_encoder", "video_decoder", pytest.param("audio_decoder", marks=pytest.mark.slow)])  # audio: ~1 min export
def test_fp32_onnx_matches_the_unmodified_ltx_core_path(files, fp32_exports, component):
    graph, module, _ = fp32_exports(component)
    fresh = decoder_graphs.COMPONENTS[component].example_inputs(module, graph, seed=11)
    (actual,) = run_onnx(fp32_exports.folder, graph, fresh)
    expected = ltx_core_reference(files, component, fresh[0])
    assert actual.shape == graph.outputs[0].shape
    assert relative_l2(actual, expected.numpy()) <= RELATIVE_L2["fp32"]


def test_video_pixels_map_to_decode_videos_uint8_frames(files, fp32_exports):
    graph, module, _ = fp32_exports("video_decoder")
    fresh = decoder_graphs.COMPONENTS["video_decoder"].example_inputs(module, graph, seed=12)
    (pixels,) = run_onnx(fp32_exports.folder, graph, fresh)
    host = ((torch.from_numpy(pixels)[0] + 1.0) / 2.0).clamp(0.0, 1.0).mul(255.0).to(torch.uint8).permute(1, 2, 3, 0)
    with torch.no_grad():
        (frames,) = list(decode_video(fresh[0], module))  # untiled: one chunk (F, H, W, 3) uint8
    assert host.shape == frames.shape
    assert (host.int() - frames.int()).abs().max() <= 1  # truncation may differ by one level at rounding edges


def test_upsampler_reads_its_file_and_the_checkpoints_latent_statistics(files, fp32_exports):
    _, module, data_files = fp32_exports("upsampler")
    assert {p.name for p in data_files} == {"weights.ltx.safetensors", "weights.upsampler.safetensors"}
    for name in ("mean-of-means", "std-of-means"):
        stored = files.checkpoint.tensor(f"vae.per_channel_statistics.{name}")
        assert torch.equal(module.per_channel_statistics.get_buffer(name), stored)


@pytest.fixture(scope="module")
def real_width_modules():
    """The four components at real widths on the meta device: shapes only, no memory, no compute."""
    config = ltx23_config.full_config()
    with torch.device("meta"):
        return {"upsampler": decoder_graphs.UpsamplerWithStatistics(
                    components.upsampler(ltx23_config.FULL_UPSAMPLER_CONFIG), PerChannelStatistics(128)),
                "video_encoder": components.video_encoder(config),
                "video_decoder": components.video_decoder(config),
                "audio_decoder": components.audio_decoder(config)}


@pytest.mark.parametrize("profile", available_profiles())
def test_wrappers_give_the_planned_shapes_at_real_widths(real_width_modules, profile):
    loaded = load_profile(profile)
    for bucket in loaded.buckets:
        for graph in bucket_graphs(bucket, DIMS, loaded.precision):
            if graph.component not in real_width_modules:
                continue
            wrapper = decoder_graphs.COMPONENTS[graph.component].wrap(real_width_modules[graph.component], graph)
            with torch.no_grad():
                outputs = wrapper(*[torch.empty(s.shape, device="meta") for s in graph.inputs])
            assert [tuple(o.shape) for o in outputs] == [s.shape for s in graph.outputs], graph.key


def test_video_decoder_refuses_a_config_without_timestep_conditioning(tmp_path):
    vae = {k: v for k, v in ltx23_config.full_config()["vae"].items() if k != "timestep_conditioning"}
    with pytest.raises(UserError, match="timestep_conditioning"):
        decoder_graphs.check_video_decoder_config(vae, tmp_path / "model.safetensors")


def test_video_decoder_refuses_decode_noise(tmp_path):
    vae = {**ltx23_config.full_config()["vae"], "timestep_conditioning": True}
    with pytest.raises(UserError, match="timestep-conditioned"):
        decoder_graphs.check_video_decoder_config(vae, tmp_path / "model.safetensors")


def test_upsampler_refuses_a_temporal_upsampler(tmp_path):
    config = {**ltx23_config.FULL_UPSAMPLER_CONFIG, "temporal_upsample": True}
    with pytest.raises(UserError, match="x2 spatial"):
        decoder_graphs.check_upsampler_config(config, tmp_path / "upsampler.safetensors")


def tensorrt_rtx_build(path) -> list[str]:
    """Parse and build CPU-only for SM89 with TensorRT-RTX; the errors (empty when the engine was built)."""
    trt = pytest.importorskip("tensorrt_rtx", reason="tensorrt_rtx is not installed")

    class Logger(trt.ILogger):  # build failures are reported only through the logger
        def __init__(self):
            trt.ILogger.__init__(self)
            self.errors = []

        def log(self, severity, message):
            if severity <= trt.ILogger.Severity.ERROR:
                self.errors.append(message)

    logger = Logger()
    builder = trt.Builder(logger)
    network = builder.create_network()
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(path)):
        return [str(parser.get_error(i)) for i in range(parser.num_errors)]
    config = builder.create_builder_config()
    config.num_compute_capabilities = 1
    config.set_compute_capability(trt.ComputeCapability.SM89, 0)
    engine = builder.build_serialized_network(network, config)
    return [] if engine is not None else logger.errors or ["build returned no engine"]


@pytest.mark.slow  # the audio graph's export (~1 min) and build (~15 s)
def test_tensorrt_rtx_builds_the_fp32_audio_and_bf16_video_decoders(files, fp32_exports, tmp_path):
    graph, _, _ = fp32_exports("audio_decoder")
    assert tensorrt_rtx_build(fp32_exports.folder / f"{graph.key}.onnx") == []
    graph, _, _ = export(files, "video_decoder", "bf16", tmp_path)
    assert tensorrt_rtx_build(tmp_path / f"{graph.key}.onnx") == []
