"""The body of `ltx-trt run`: encode text, denoise, upsample, denoise, decode, mux.

Mirrors ltx-pipelines' DistilledPipeline for text-to-video: one generator seeded with the seed, stage 1
at half size (8 steps), x2 latent upsampling, stage 2 at full size (3 steps) from the upsampled video
and the stage-1 audio, then the video and audio decoders and an mp4. With `Guidance`, stage 1 is that
of TI2VidTwoStagesPipeline instead: the prompt and the negative prompt encoded, LTX2Scheduler's sigmas,
every guidance pass of a step in one batched call (runtime/guided.py); its stage 2 is the distilled
one on the stage-2 weights (the executor's chain binds them). With the res2s sampler (hq), both stages run
ltx-pipelines' own res_2s loop over the same steps (runtime/hq.py). The executor holds the math; the
denoising buffers are allocated before the first step. Imports torch, ltx-core's tokenizer and
patchifiers, and runtime only.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
from ltx_core.types import AudioLatentShape, VideoLatentShape

from ltx_trt.core import shapes
from ltx_trt.core.conditioning import ImageCondition
from ltx_trt.core.dtypes import torch_dtype
from ltx_trt.core.plan import Graph, keyframe_variant
from ltx_trt.core.profiles import Bucket
from ltx_trt.runtime import conditioning, media, rope, sampling
from ltx_trt.runtime.capture import Captures
from ltx_trt.runtime.guided import GuidedStep, Guiders
from ltx_trt.runtime.hq import res2s_denoise
from ltx_trt.runtime.executors import Executor, allocate
from ltx_trt.runtime.loop import denoise
from ltx_trt.runtime.progress import Progress
from ltx_trt.runtime.step import Step


@dataclass(frozen=True)
class BucketGraphs:
    """The graphs one generation runs, picked from core.plan by component and variant."""

    text_encoder: Graph
    connector: Graph
    stage1: Graph
    stage2: Graph
    upsampler: Graph
    video_decoder: Graph
    audio_decoder: Graph
    guided: Graph | None = None  # the dev pipelines' stage 1 (batched guidance passes), in place of stage1
    encoders: tuple[Graph, Graph] | None = None  # the video encoder at each stage's size (image conditioning)

    @classmethod
    def select(cls, graphs: list[Graph], bucket: Bucket, guided_batch: int | None = None,
               images: bool = False, keyframes: int = 0) -> "BucketGraphs":
        """`keyframes`: the transformer graphs for that many appended keyframe latent frames (core/plan.py)."""
        by_key = {g.key: g for g in graphs}
        name, kf = bucket.name, keyframe_variant(bucket.name, keyframes)
        guided = None if guided_batch is None else by_key[f"transformer.{kf}.guided{guided_batch}"]
        encoders = tuple(by_key[f"video_encoder.{name}.{s}"] for s in ("stage1", "stage2")) if images else None
        return cls(by_key["text_encoder"], by_key["connector"], by_key[f"transformer.{kf}.stage1"],
                   by_key[f"transformer.{kf}.stage2"], by_key[f"upsampler.{name}"],
                   by_key[f"video_decoder.{name}"], by_key[f"audio_decoder.{name}"], guided, encoders)

    @property
    def first(self) -> Graph:
        """The stage-1 transformer graph the run denoises with."""
        return self.guided or self.stage1

    def all(self) -> list[Graph]:
        """Every graph of the run, in pipeline order."""
        return [self.text_encoder, self.connector, self.first, self.stage2, self.upsampler, *(self.encoders or ()),
                self.video_decoder, self.audio_decoder]


@dataclass(frozen=True)
class Guidance:
    """Stage 1 of the dev pipelines: its guiders, the negative prompt's tokens, its sigmas (LTX2Scheduler's
    for the asked number of steps) and the sampler of both stages (hq: ltx-pipelines' res_2s, runtime/hq.py)."""

    guiders: Guiders
    negative_tokens: dict[str, torch.Tensor]
    sigmas: tuple[float, ...]
    sampler: str = "euler"  # "euler" (TI2VidTwoStagesPipeline) or "res2s" (TI2VidTwoStagesHQPipeline, both stages)


def tokenize(gemma_dir: Path, prompt: str, log: Callable[[str], None] = print) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask, (1, 1024) int64, left-padded, as ltx-core's LTXVGemmaTokenizer.

    A longer prompt is cut to its first 1024 tokens, as upstream does; the cut is announced.
    """
    from ltx_core.text_encoders.gemma.tokenizer import LTXVGemmaTokenizer

    tokenizer = LTXVGemmaTokenizer(str(gemma_dir), max_length=shapes.CONTEXT_TOKENS)
    count = len(tokenizer.tokenizer(prompt.strip(), truncation=False, verbose=False)["input_ids"])
    if count > shapes.CONTEXT_TOKENS:
        log(f"the prompt is {count} tokens long: only its first {shapes.CONTEXT_TOKENS} are used "
            f"(the text encoder's context)")
    ids, mask = zip(*tokenizer.tokenize_with_weights(prompt)["gemma"])
    return {"input_ids": torch.tensor([ids], dtype=torch.int64),
            "attention_mask": torch.tensor([mask], dtype=torch.int64)}


def run_graph(executor: Executor, graph: Graph, inputs: dict[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    """Run a once-per-generation graph: its inputs copied into fresh buffers, its outputs returned."""
    buffers = allocate(graph.activations, device)  # weight inputs are bound by the executor's weight store
    for name, tensor in inputs.items():
        buffers[name].copy_(tensor)
    outputs = allocate(graph.outputs, device)
    executor.run(graph.key, buffers, outputs)
    return outputs


def generate(tokens: dict[str, torch.Tensor], seed: int, output: Path, *, graphs: BucketGraphs, bucket: Bucket,
             config: dict, executor: Executor, device: torch.device, cuda_graphs: bool = False,
             progress: Progress | None = None, release: bool = True, guidance: Guidance | None = None,
             images: tuple[ImageCondition, ...] = ()) -> Path:
    """Text tokens -> mp4 at `output`. `config` is the checkpoint's architecture config (RoPE settings).

    With `release`, each graph is released from the executor once the run is done with it (text graphs
    after encoding, the transformer and its weights after stage 2, ...), so that later stages have the
    memory; pass False to keep everything for another call. With `cuda_graphs` (an executor whose calls
    can be captured, on CUDA), a stage's steps after the first run as a CUDA graph where that repays
    (runtime/capture.py). `guidance`: the dev pipelines' stage 1 and sampler (None: the distilled pipeline).
    `images`: the conditioning images (graphs.encoders encode them at each stage's size).
    """
    done = executor.release if release else (lambda keys: None)
    progress = progress or Progress(device=device)
    full = denoised_latents(tokens, seed, graphs=graphs, bucket=bucket, config=config, executor=executor,
                            device=device, cuda_graphs=cuda_graphs, progress=progress, done=done, guidance=guidance,
                            images=images)
    with progress.stage("video decode"):
        frames = _decode_video(executor, graphs.video_decoder, full["video"], device)
    done([graphs.video_decoder.key])
    with progress.stage("audio decode"):
        waveform = _decode_audio(executor, graphs.audio_decoder, full["audio"], device)
    done([graphs.audio_decoder.key])
    with progress.stage("mp4", f"H.264 + AAC, {bucket.frames} frames at {bucket.fps} fps"):
        # The causal audio decoder's waveform is ~1,500 samples shorter than the clip (121 / 24 s):
        # end it with silence so both streams last frames / fps.
        clip_samples = round(bucket.frames / bucket.fps * shapes.OUTPUT_SAMPLE_RATE)
        waveform = media.pad_to(waveform, clip_samples)
        return media.write_mp4(output, frames, bucket.fps, waveform, shapes.OUTPUT_SAMPLE_RATE)


def denoised_latents(tokens: dict[str, torch.Tensor], seed: int, *, graphs: BucketGraphs, bucket: Bucket, config: dict,
                     executor: Executor, device: torch.device, cuda_graphs: bool, progress: Progress,
                     done: Callable[[list[str]], None], guidance: Guidance | None = None,
                     images: tuple[ImageCondition, ...] = ()) -> dict[str, torch.Tensor]:
    """Text tokens -> the final (1, N, 128) video and audio latents: encode, stage 1, upsample, stage 2; each
    stage conditioned on `images` (encoded at its size) as ltx-pipelines' pipelines do. Each image file is
    read, checked and made upright once for both stages (runtime/conditioning.py `upright`)."""
    with conditioning.upright(images) as upright:
        return _denoised(tokens, seed, graphs=graphs, bucket=bucket, config=config, executor=executor, device=device,
                         cuda_graphs=cuda_graphs, progress=progress, done=done, guidance=guidance, images=upright)


def _denoised(tokens: dict[str, torch.Tensor], seed: int, *, graphs: BucketGraphs, bucket: Bucket, config: dict,
              executor: Executor, device: torch.device, cuda_graphs: bool, progress: Progress,
              done: Callable[[list[str]], None], guidance: Guidance | None,
              images: tuple[ImageCondition, ...]) -> dict[str, torch.Tensor]:
    prompts = [tokens] if guidance is None else [tokens, guidance.negative_tokens]
    with progress.stage("text", "Gemma-3 encoder + connector" + ("" if guidance is None else ", prompt and negative")):
        text, *negative = encode_text(executor, graphs, prompts, device, done)
    first, second = _stages(graphs, executor, device, guidance)
    for step in (first, second):
        _set_inputs(step, text, config, bucket.fps)
    if guidance is not None:
        first.set_contexts(text, negative[0])
    res2s = guidance is not None and guidance.sampler == "res2s"
    capture = Captures(device, progress.log) if cuda_graphs and not res2s else None  # hq: host-side control flow
    generator = sampling.new_generator(seed, device)

    def stage(step, clean, number):
        items = _conditionings(executor, graphs, number, images, device, progress, done)
        if res2s:
            positions = (lambda p: _set_rope(step, config, bucket.fps, p)) if step.grid.keyframes else None
            return _cleared(res2s_denoise(step, generator, clean, fps=bucket.fps, conditionings=items,
                                          progress=progress.step, positions=positions,
                                          multiplier=config["transformer"].get("timestep_scale_multiplier", 1000)),
                            step.grid)  # upstream's denoise_audio_video has cleared them already: a no-op
        start = _conditioned(step, items, clean, bucket.fps, config)
        return _cleared(denoise(step, generator, start, progress.step, capture), step.grid)

    with progress.stage("stage 1", _stage_detail("half size", first, res2s)):
        low = stage(first, {"video": None, "audio": None}, 0)
    first.drop_graph()  # its activations' pool goes back before stage 2 allocates
    if guidance is not None:
        done([graphs.first.key])  # the stage-1 weights leave before stage 2's (the distilled LoRA's) are packed
    with progress.stage("upsample", "x2 latent upsampler"):
        upsampled = _upsample(executor, graphs.upsampler, low["video"], device)
    done([graphs.upsampler.key])
    with progress.stage("stage 2", _stage_detail("full size", second, res2s)):
        full = stage(second, {"video": upsampled, "audio": low["audio"]}, 1)
    done([graphs.stage2.key] if guidance is not None else [graphs.first.key, graphs.stage2.key])
    return full


def encode_text(executor: Executor, graphs: BucketGraphs, prompts: list[dict[str, torch.Tensor]], device,
                done: Callable[[list[str]], None]) -> list[dict[str, torch.Tensor]]:
    """Each prompt's tokens -> its video and audio contexts: Gemma for all, then the connector for all."""
    hidden = [run_graph(executor, graphs.text_encoder, t, device) for t in prompts]
    done([graphs.text_encoder.key])  # Gemma's weights leave before the connector's engine loads
    contexts = [run_graph(executor, graphs.connector, {**h, "attention_mask": t["attention_mask"]}, device)
                for h, t in zip(hidden, prompts)]
    done([graphs.connector.key])  # and all text weights before the transformer's are packed
    return contexts


def _conditionings(executor: Executor, graphs: BucketGraphs, stage: int, images, device, progress: Progress,
                   done: Callable[[list[str]], None]) -> list:
    """ltx-core's conditioning items of stage `stage` (0, 1): each image encoded by that stage's encoder graph."""
    if not images:
        return []
    graph = graphs.encoders[stage]
    (spec,), (out_spec,) = graph.activations, graph.outputs  # its weights are bound by the executor
    encode = lambda image: run_graph(executor, graph, {spec.name: image}, device)[out_spec.name]  # noqa: E731
    size = f"{spec.shape[-1]}x{spec.shape[-2]}"
    # the stage's transformer has room for every image appended (the keyframes pipeline, core.conditioning's
    # appended_keyframes) or for those past frame 0; with no image at frame 0 the two placements are the same
    append_all = (graphs.first, graphs.stage2)[stage].grid.keyframes == len(images)
    with progress.stage("image", f"{len(images)} image(s) through the video encoder at {size}"):
        items = conditioning.conditionings(list(images), graph.grid, encode, torch_dtype(spec.dtype), device,
                                           append_all)
    done([graph.key])
    return items


def _conditioned(step: Step, items: list, clean: dict[str, torch.Tensor | None], fps: int, config: dict) -> dict:
    """The stage's starting latents with the conditioning applied (the step then keeps the mask and clean
    latent: timesteps x mask, x0 blended), as ltx-pipelines' create_noised_state builds them. Keyframes append
    tokens with positions of their own: the video RoPE tables are then the state's."""
    if not items:
        return clean
    state = conditioning.conditioned_state(items, step.grid, fps, clean["video"], step.latent("video").dtype,
                                           step.device)
    if state.latent.shape != step.latent("video").shape:  # the graph is picked for the keyframe count
        raise ValueError(f"conditioned latent {tuple(state.latent.shape)} does not fit graph {step.graph_key}")
    step.condition("video", state.denoise_mask, state.clean_latent)
    if step.grid.keyframes:
        _set_rope(step, config, fps, state.positions)
    return {**clean, "video": state.latent}


def _cleared(latents: dict[str, torch.Tensor], grid) -> dict[str, torch.Tensor]:
    """The stage's latents without the appended keyframe tokens, as ltx-core's clear_conditioning leaves them."""
    return {**latents, "video": latents["video"][:, :grid.video_tokens]}


def _stages(graphs: BucketGraphs, executor: Executor, device, guidance: Guidance | None) -> tuple[Step, Step]:
    """The steps of both stages: distilled sigmas, or the guided stage 1 with the scheduler's."""
    low, high = sampling.distilled_sigma_values()
    second = Step(graphs.stage2, executor, high, device)
    if guidance is None:
        return Step(graphs.stage1, executor, low, device), second
    return GuidedStep(graphs.guided, executor, guidance.sigmas, device, guidance.guiders), second


def _stage_detail(size: str, step: Step, res2s: bool = False) -> str:
    steps = f"{step.num_steps} {'res_2s ' if res2s else ''}steps"
    if not isinstance(step, GuidedStep):
        return f"{size}, {steps}"
    batch = step.inputs["video_tokens"].shape[0]
    return f"{size}, {steps}, passes {' + '.join(step.rows)} in one batch of {batch}"


def _set_inputs(step: Step, text: dict[str, torch.Tensor], config: dict, fps: int) -> None:
    """Contexts and RoPE tables: fixed for the whole stage, written once before its first step."""
    step.inputs["video_context"].copy_(text["video_context"])
    step.inputs["audio_context"].copy_(text["audio_context"])
    if not step.grid.keyframes:  # else the conditioned state's positions decide them (_conditioned)
        _set_rope(step, config, fps)


def _set_rope(step: Step, config: dict, fps: int, video_positions: torch.Tensor | None = None) -> None:
    """The RoPE table inputs of a step, from the grid's video positions or those given (1, 3, N, 2)."""
    dtype = step.inputs["video_rope_cos"].dtype
    tables = rope.rope_tables(rope.RopeConfig.from_config(config), step.grid, fps, dtype, step.device,
                              video_positions)
    for name, table in tables.items():
        step.inputs[name].copy_(table)


def _video_shape(latent_5d: tuple[int, ...]) -> VideoLatentShape:
    return VideoLatentShape.from_torch_shape(torch.Size(latent_5d))


def _upsample(executor: Executor, graph: Graph, tokens: torch.Tensor, device) -> torch.Tensor:
    """Stage-1 tokens (1, N, 128) -> (1, 128, F, H, W) -> x2 upsampler -> stage-2 tokens (1, 4N, 128)."""
    (spec,), (out_spec,) = graph.activations, graph.outputs
    latent = VideoLatentPatchifier(patch_size=1).unpatchify(tokens, output_shape=_video_shape(spec.shape))
    upsampled = run_graph(executor, graph, {spec.name: latent}, device)[out_spec.name]
    return VideoLatentPatchifier(patch_size=1).patchify(upsampled)


def _decode_video(executor: Executor, graph: Graph, tokens: torch.Tensor, device) -> torch.Tensor:
    """(1, N, 128) tokens -> (F, H, W, 3) uint8, converted as ltx-core's decode_video does."""
    (spec,), (out_spec,) = graph.activations, graph.outputs
    latent = VideoLatentPatchifier(patch_size=1).unpatchify(tokens, output_shape=_video_shape(spec.shape))
    pixels = run_graph(executor, graph, {spec.name: latent}, device)[out_spec.name]  # (1, 3, F, H, W) in [-1, 1]
    # in the decoder's dtype, as upstream: bf16 arithmetic for bf16 decoders
    return (((pixels + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0).to(torch.uint8)[0].permute(1, 2, 3, 0)


def _decode_audio(executor: Executor, graph: Graph, tokens: torch.Tensor, device) -> torch.Tensor:
    """(1, Na, 128) tokens -> (1, 8, Na, 16) latent -> (2, samples) float32 waveform at 48 kHz."""
    (spec,), (out_spec,) = graph.activations, graph.outputs
    shape = AudioLatentShape.from_torch_shape(torch.Size(spec.shape))
    latent = AudioPatchifier(patch_size=1).unpatchify(tokens, output_shape=shape)
    return run_graph(executor, graph, {spec.name: latent}, device)[out_spec.name][0].float()
