"""The run body calls every graph in pipeline order with the planned buffers and writes a playable mp4."""

import av
import torch

from ltx_trt.core import shapes
from ltx_trt.core.components import COMPONENTS
from ltx_trt.core.plan import profile_graphs
from ltx_trt.core.profiles import Bucket, Memory, Profile
from ltx_trt.model import gemma_synthetic
from ltx_trt.model.ltx23_config import tiny_config
from ltx_trt.model.text_parts import layout_from_folder
from ltx_trt.model.transformer_parts import layout_from_config
from ltx_trt.runtime.pipeline import BucketGraphs, generate, tokenize
from ltx_trt.runtime.progress import Progress

BUCKET = Bucket(name="tiny", width=128, height=64, frames=9, fps=24)
TINY = shapes.ModelDims(video_heads=2, video_head_dim=32, audio_heads=2, audio_head_dim=16, audio_cross_dim=32,
                        gemma_hidden=64, gemma_layers=4, transformer=layout_from_config(tiny_config()),
                        text_encoder=layout_from_folder(gemma_synthetic.gemma3_config(gemma_synthetic.TINY_TEXT_CONFIG, gemma_synthetic.TINY_VISION))[0])


class RecordingExecutor:
    """Plausible outputs for every graph, written into the caller's buffers; remembers the call order."""

    def __init__(self):
        self.calls = []
        self.generator = torch.Generator().manual_seed(0)

    def release(self, graph_keys):
        self.calls.append("release " + " ".join(k.split(".")[0] + (".stage" + k[-1] if "stage" in k else "")
                                                for k in graph_keys))

    def run(self, graph_key, inputs, outputs):
        self.calls.append(graph_key.split(".")[0] + (".stage" + graph_key[-1] if "stage" in graph_key else ""))
        if graph_key.startswith("transformer"):
            for m in ("video", "audio"):
                torch.mul(inputs[f"{m}_tokens"], 0.5, out=outputs[f"{m}_velocity"])
        elif graph_key.startswith("upsampler"):
            (latent,), (out,) = inputs.values(), outputs.values()
            out.copy_(latent.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4))
        else:
            for out in outputs.values():
                out.copy_(torch.rand(out.shape, generator=self.generator) * 1.6 - 0.8)


def test_generate_runs_the_distilled_pipeline_in_order_and_writes_the_clip(tmp_path):
    profile = Profile("tiny", "CPU", ("8.9",), 1.0, "tensorrt_rtx", {c: "bf16" for c in COMPONENTS},
                      Memory(False, 1.0), (BUCKET,))
    graphs = BucketGraphs.select(profile_graphs(profile, TINY), BUCKET)
    tokens = {"input_ids": torch.zeros(1, 1024, dtype=torch.int64),
              "attention_mask": torch.ones(1, 1024, dtype=torch.int64)}
    executor = RecordingExecutor()
    lines = []
    path = generate(tokens, 10, tmp_path / "clip.mp4", graphs=graphs, bucket=BUCKET, config=tiny_config(),
                    executor=executor, device=torch.device("cpu"), progress=Progress(lines.append))
    assert executor.calls == (["text_encoder", "release text_encoder", "connector", "release connector"]
                              + ["transformer.stage1"] * 8 + ["upsampler", "release upsampler"]
                              + ["transformer.stage2"] * 3 + ["release transformer.stage1 transformer.stage2"]
                              + ["video_decoder", "release video_decoder", "audio_decoder", "release audio_decoder"])
    assert [line for line in lines if not line.startswith("  step")] == [
        "text (Gemma-3 encoder + connector) ...", "stage 1 (half size, 8 steps) ...", "upsample (x2 latent upsampler) ...",
        "stage 2 (full size, 3 steps) ...", "video decode ...", "audio decode ...",
        "mp4 (H.264 + AAC, 9 frames at 24 fps) ..."]
    assert sum(line.startswith("  step 3/3 ") for line in lines) == 1
    with av.open(str(path)) as container:
        frames = list(container.decode(container.streams.video[0]))
        assert (len(frames), frames[0].width, frames[0].height) == (9, 128, 64)
        assert container.streams.audio[0].rate == 48_000


def test_prompts_are_tokenized_left_padded_to_1024_like_ltx_core(tmp_path):
    from ltx_trt.model.gemma_synthetic import write_tiny_gemma

    write_tiny_gemma(tmp_path)
    tokens = tokenize(tmp_path, "  a cat plays the piano  ")
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    assert ids.shape == mask.shape == (1, 1024) and ids.dtype == mask.dtype == torch.int64
    valid = int(mask.sum())
    assert mask[0, -valid:].all() and not mask[0, :-valid].any()  # left padding: the prompt is at the end
    assert tokenize(tmp_path, "a cat plays the piano")["input_ids"].equal(ids)  # stripped, as upstream


def test_a_prompt_over_1024_tokens_is_cut_and_the_cut_announced(tmp_path):
    from ltx_trt.model.gemma_synthetic import write_tiny_gemma

    write_tiny_gemma(tmp_path)
    lines = []
    tokens = tokenize(tmp_path, "the camera slowly pans " * 400, lines.append)
    assert int(tokens["attention_mask"].sum()) == 1024
    assert len(lines) == 1 and "only its first 1024 are used" in lines[0]
    tokenize(tmp_path, "the camera slowly pans", lines.append)
    assert len(lines) == 1  # a short prompt says nothing


def test_the_timing_summary_names_every_stage_once_with_its_seconds():
    lines = []
    progress = Progress(lines.append)
    for name in ("load", "stage 1", "stage 1"):
        with progress.stage(name):
            pass
    assert list(progress.seconds) == ["load", "stage 1"]
    summary = progress.summary("out.mp4")
    assert summary.startswith("done in ") and ", stage 1 0.0 s -> out.mp4" in summary
