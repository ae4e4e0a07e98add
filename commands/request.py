"""What a `run` asks for, checked before any model work: profile, bucket, output path, GPU budget, and the
pipeline with its guidance, steps and LoRAs.

Everything the user can get wrong here (a number out of range, frames, size, bucket, output path, a
profile no GPU fits, a pipeline the checkpoint is not for, guidance that would have no effect, a missing
LoRA) is a one-line UserError whose hint names valid values. Defaults of the guided pipelines are read from
ltx-pipelines (its LTX_2_3_PARAMS / LTX_2_3_HQ_PARAMS and CLI) when needed, which imports torch. Imports
core, runtime.devices and runtime.output.
"""

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ltx_trt.core.checkpoint import read_header
from ltx_trt.core.conditioning import MAX_CRF, MAX_KEYFRAMES, ImageCondition
from ltx_trt.core.errors import UserError
from ltx_trt.core.pipelines import (DISTILLED_LORA_FILE, GUIDED, LoraSpec, choose_pipeline, detect_checkpoint,
                                    detect_header, transformer_blocks)
from ltx_trt.core.profiles import Bucket, Profile, available_profiles, load_profile
from ltx_trt.core.source import ModelSource
from ltx_trt.runtime import devices, output

if TYPE_CHECKING:
    from ltx_core.components.guiders import MultiModalGuiderParams

EXECUTORS = ("auto", "tensorrt", "onnxruntime", "torch")
DEFAULT_SEED = 10  # ltx_pipelines.utils.constants.PipelineParams.seed (a test keeps them equal)
# torch.Generator.manual_seed takes -2**63 .. 2**64 - 1 and maps a negative seed s to 2**64 + s: these
# are all the distinct seeds, each with one name (anything else raises in manual_seed, after loading).
SEEDS = (0, 2**64 - 1)

# The guidance flags of ltx-pipelines' two-stage and hq CLIs (ltx_pipelines/utils/args.py), by their argparse
# dest (the `run` option of the same name): the guider they set and its MultiModalGuiderParams field.
GUIDER_FLAGS = {
    "video_cfg_guidance_scale": ("video", "cfg_scale"), "audio_cfg_guidance_scale": ("audio", "cfg_scale"),
    "video_stg_guidance_scale": ("video", "stg_scale"), "audio_stg_guidance_scale": ("audio", "stg_scale"),
    "video_stg_blocks": ("video", "stg_blocks"), "audio_stg_blocks": ("audio", "stg_blocks"),
    "video_rescale_scale": ("video", "rescale_scale"), "audio_rescale_scale": ("audio", "rescale_scale"),
    "a2v_guidance_scale": ("video", "modality_scale"), "v2a_guidance_scale": ("audio", "modality_scale"),
    "video_skip_step": ("video", "skip_step"), "audio_skip_step": ("audio", "skip_step"),
}
# flags that only the guided pipelines use: refused with --pipeline distilled, where they would do nothing
GUIDED_ONLY = ("negative_prompt", "num_inference_steps", *GUIDER_FLAGS, "distilled_lora")
MAX_STEPS = 100  # a sane bound for stage 1's steps (ltx-pipelines' defaults are well below it)
# What each guider parameter does (ltx_core/components/guiders.py MultiModalGuider.calculate): the
# meaningful range, inclusive, and the hint. CFG and modality scales below 1 would steer toward the
# negative prompt / away from the other modality; STG below 0 toward the perturbed model; a rescale
# beyond 0..1 extrapolates the prediction's spread instead of blending it.
GUIDER_RANGES = {
    "cfg_scale": (1.0, 20.0, "use 1 to 20 (1 turns classifier-free guidance off; higher follows the prompt more)"),
    "stg_scale": (0.0, 10.0, "use 0 to 10 (0 turns STG off)"),
    "modality_scale": (1.0, 20.0, "use 1 to 20 (1 turns modality guidance off)"),
    "rescale_scale": (0.0, 1.0, "use 0 to 1 (0 keeps the guided prediction, 1 rescales it to the conditional "
                                "prediction's spread)"),
    "skip_step": (0, MAX_STEPS - 1, f"use 0 to {MAX_STEPS - 1} (0 guides every step; N guides every N+1-th)"),
}
GUIDANCE_RANGES = {
    "--num-inference-steps": (1, MAX_STEPS, f"use 1 to {MAX_STEPS} denoising steps for stage 1"),
    **{f"--{dest.replace('_', '-')}": GUIDER_RANGES[field] for dest, (_, field) in GUIDER_FLAGS.items()
       if field != "stg_blocks"},
}
LORA_STRENGTHS = (-10.0, 10.0)  # beyond these a LoRA overwhelms the weights it is added to
SERVE_RANGES = {"--port": (1, 65535, "use a TCP port from 1 to 65535 (default 8000)"),  # `serve`'s numbers
                "--queue": (1, 1000, "use 1 to 1000 waiting jobs (default 8)")}


@dataclass(frozen=True)
class RunRequest:
    prompt: str
    profile: Profile
    source: ModelSource
    artifacts: Path
    bucket: Bucket
    seed: int
    executor: str  # one of EXECUTORS
    output: Path
    compile: str = "auto"  # torch executor on CUDA: torch.compile the block graphs ("auto": the quantized ones)
    pipeline: str = "distilled"  # a core.pipelines.PIPELINES name
    # the guided pipelines' (GUIDED) stage 1: its negative prompt, steps and guider parameters, the official
    # values where no flag was given; None for the distilled pipeline
    negative_prompt: str | None = None
    steps: int | None = None
    video_guider: "MultiModalGuiderParams | None" = None
    audio_guider: "MultiModalGuiderParams | None" = None
    loras: tuple[LoraSpec, ...] = ()  # merged into the transformer for every stage
    distilled_lora: Path | None = None  # the guided pipelines' distilled LoRA (None for the distilled pipeline)
    # its strength in (stage 1, stage 2), ltx-pipelines' own: None in stage 1 = not merged there (two-stage)
    distilled_lora_strengths: tuple[float | None, float] | None = None
    images: tuple[ImageCondition, ...] = ()  # --image: conditioning images (each stage encodes them at its size)
    engines: Path | None = None  # `--engines PACK`: an engine pack archive (commands/pack.py)
    pack: Path | None = None  # where run installed it (its onnx/ and engines/), set by run


def select_profile(name: str | None) -> Profile:
    """The named profile, or the one that fits this machine's GPU (compute capability and VRAM)."""
    if name is not None:
        return load_profile(name)
    gpu = devices.cuda_gpu()
    fitting = devices.fitting_profiles(gpu, [load_profile(n) for n in available_profiles()])
    if not fitting:
        found = f"{gpu.name}, compute capability {gpu.compute_capability}" if gpu else "no CUDA GPU"
        raise UserError(f"no --gpu given and no profile fits this machine ({found})",
                        f"pass --gpu PROFILE, one of: {', '.join(available_profiles())}")
    return max(fitting, key=lambda p: p.vram_gib)


def numeric_ranges(profile: Profile) -> dict[str, tuple[float, float, str]]:
    """Every numeric flag of `run`, `calibrate` and `serve`: (lowest, highest, hint), inclusive, for this profile."""
    ranges = {}
    for name in ("width", "height", "frames"):
        values = sorted({getattr(b, name) for b in profile.buckets})
        ranges[f"--{name}"] = (values[0], values[-1], _one_of(profile, values))
    vram = f"{profile.vram_gib:g}"
    return {**ranges,
            "--seed": (*SEEDS, f"use a seed from {SEEDS[0]} to {SEEDS[1]} (64 bits)"),
            "--resident-gib": (1.0, profile.vram_gib, f"use 1 to {vram} (GiB; the {profile.gpu} has {vram})"),
            "--keyframes": (0, MAX_KEYFRAMES, f"use 0 (none) to {MAX_KEYFRAMES} appended keyframes"),
            "--image-crf": (0, MAX_CRF, f"use 0 (no H.264 round trip) to {MAX_CRF}; the default is ltx-pipelines' "
                                        "DEFAULT_IMAGE_CRF"),
            **GUIDANCE_RANGES, **SERVE_RANGES}


def check_numbers(profile: Profile, given: dict[str, float | None]) -> None:
    """Refuse a numeric flag out of its range (zero, negative, NaN, infinite, too large) before any loading."""
    _check_ranges(numeric_ranges(profile), given)


def _check_ranges(ranges: dict[str, tuple[float, float, str]], given: dict[str, float | None]) -> None:
    for flag, value in given.items():
        lowest, highest, hint = ranges[flag]
        if value is not None and not lowest <= value <= highest:  # NaN compares False: refused too
            raise UserError(f"{flag} {value} is out of range ({lowest} to {highest})", hint)


def select_bucket(profile: Profile, width: int | None, height: int | None, frames: int | None) -> Bucket:
    """The profile's bucket for the asked size; what is not given comes from the profile's first bucket."""
    first = profile.buckets[0]
    width, height, frames = (first.width if width is None else width, first.height if height is None else height,
                             first.frames if frames is None else frames)
    check_numbers(profile, {"--width": width, "--height": height, "--frames": frames})
    hints = {flag: hint for flag, (_, _, hint) in numeric_ranges(profile).items()}
    if frames % 8 != 1:
        raise UserError(f"--frames {frames} is not 8k+1 (the video VAE compresses time by 8, plus the first frame)",
                        hints["--frames"])
    for flag, value in (("--width", width), ("--height", height)):
        if value % 64:
            raise UserError(f"{flag} {value} is not a multiple of 64 (stage 1 runs at half size on 32-pixel latents)",
                            hints[flag])
    return profile.bucket(width, height, frames)


def _one_of(profile: Profile, values: list[int]) -> str:
    listed = ", ".join(map(str, values))
    return f"use {listed} (profile {profile.name!r})" if len(values) == 1 else \
        f"use one of: {listed} (profile {profile.name!r})"


def with_resident_gib(profile: Profile, resident_gib: float | None) -> Profile:
    """The profile with another GPU memory budget for the run (None: the profile's own)."""
    if resident_gib is None:
        return profile
    return dataclasses.replace(profile, memory=dataclasses.replace(profile.memory, resident_gib=resident_gib))


def check_output(path: Path) -> None:
    """Refuse an output path that cannot be written, before any work (the file appears only when complete):
    a folder, FIFO, device or socket (or a symlink to one) is never replaced."""
    path = Path(path)
    hint = output.HINT
    output.refuse_special(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: folder {folder} does not exist", hint)
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"cannot write {path}: permission denied", hint)


def pipeline_fields(source: ModelSource, asked: str | None, force: bool, loras: tuple[str, ...],
                    flags: dict[str, object]) -> tuple[dict, list[str]]:
    """The RunRequest fields of the pipeline to run (official values where no flag was given, every value
    checked) and the log lines saying which pipeline and why and what guidance it runs with. `flags`: `run`'s
    values of GUIDED_ONLY by name (None: not given), `loras`: its FILE[:STRENGTH] values. The checkpoint's
    header, where its file exists (the tiny model may not be generated yet), decides the default pipeline and
    bounds the STG block numbers given, so nothing is left to check once the files are opened."""
    header = read_header(source.checkpoint) if Path(source.checkpoint).is_file() else None
    detected = detect_header(header) if header is not None else detect_checkpoint(source.checkpoint)
    pipeline, why = choose_pipeline(asked, force, detected)
    given = given_flags(flags)
    fields = guidance_fields(pipeline, given, source.distilled_lora, source_generated=header is not None)
    if header is not None:
        check_stg_blocks(given, transformer_blocks(header))
    fields = {"pipeline": pipeline, **fields, "loras": parse_loras(loras)}
    return fields, [f"pipeline: {pipeline} ({why})", *describe(fields)]


def describe(fields: dict) -> list[str]:
    """The values a guided pipeline runs with and the LoRAs, one log line each ([] for none)."""
    lines = []
    if fields.get("video_guider") is not None:
        guiders = "; ".join(f"{m} cfg {g.cfg_scale:g}, {_stg(g)}, rescale {g.rescale_scale:g}, modality "
                            f"{g.modality_scale:g}, skip step {g.skip_step}"
                            for m, g in (("video", fields["video_guider"]), ("audio", fields["audio_guider"])))
        lines.append(f"stage 1: {fields['steps']} steps; {guiders}")
        first, second = fields["distilled_lora_strengths"]
        stages = f"stage 2 at {second:g}" if first is None else f"stage 1 at {first:g}, stage 2 at {second:g}"
        lines.append(f"distilled LoRA: {fields['distilled_lora']} ({stages})")
    lines += [f"LoRA: {lora.path} at {lora.strength:g}" for lora in fields.get("loras", ())]
    return lines


def _stg(params) -> str:
    if math.isclose(params.stg_scale, 0.0):
        return "stg off"
    return f"stg {params.stg_scale:g} on blocks {params.stg_blocks}"


def given_flags(flags: dict[str, object]) -> dict[str, object]:
    """The flags given (not None), numbers range-checked and STG block lists parsed into tuples."""
    given = {name: value for name, value in flags.items() if value is not None}
    _check_ranges(GUIDANCE_RANGES, {_flag(n): v for n, v in given.items() if _flag(n) in GUIDANCE_RANGES})
    return {n: parse_blocks(_flag(n), v) if n.endswith("_stg_blocks") else v for n, v in given.items()}


def guidance_fields(pipeline: str, given: dict[str, object], source_lora: Path | None = None,
                    source_generated: bool = True) -> dict:
    """negative_prompt, steps, video_guider, audio_guider and the distilled LoRA of a guided pipeline, from the
    flags given (given_flags) over ltx-pipelines' official values; {} for the distilled pipeline, which refuses
    them all (they would have no effect there). The source's own distilled LoRA (source_lora) is not looked
    for while its model is not generated (`run` then stops with the export command)."""
    if pipeline not in GUIDED:
        if given:
            raise UserError(f"{_flag(next(iter(given)))} has no effect with --pipeline distilled (it runs neither "
                            "guidance nor a distilled LoRA)",
                            "drop it, or pass --pipeline two-stage or --pipeline hq (with a dev checkpoint)")
        return {}
    flag = given.get("distilled_lora")
    lora = _distilled_lora(pipeline, flag or source_lora, must_exist=flag is not None or source_generated)
    official = official_params(pipeline)
    guiders = {modality: _guider(official, modality, given) for modality in ("video", "audio")}
    _check_guiders(pipeline, guiders, given)
    from ltx_pipelines.utils.constants import DEFAULT_NEGATIVE_PROMPT

    return {"negative_prompt": given.get("negative_prompt", DEFAULT_NEGATIVE_PROMPT),
            "steps": given.get("num_inference_steps", official.num_inference_steps),
            "video_guider": guiders["video"], "audio_guider": guiders["audio"],
            "distilled_lora": lora, "distilled_lora_strengths": official_distilled_lora_strengths(pipeline)}


def _guider(official, modality: str, given: dict[str, object]) -> "MultiModalGuiderParams":
    """The official guider parameters of one modality with the given flags' values in their place."""
    changes = {field: given[name] for name, (m, field) in GUIDER_FLAGS.items() if m == modality and name in given}
    if "stg_blocks" in changes:
        changes["stg_blocks"] = list(changes["stg_blocks"])  # a list, as ltx-pipelines' CLI passes it
    return dataclasses.replace(getattr(official, f"{modality}_guider_params"), **changes)


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def official_params(pipeline: str):
    """ltx-pipelines' PipelineParams of a guided pipeline: LTX_2_3_PARAMS for two-stage and keyframes (what their
    CLIs detect for a 2.3 checkpoint), LTX_2_3_HQ_PARAMS for hq."""
    _import_ltx_pipelines()
    from ltx_pipelines.utils.constants import LTX_2_3_HQ_PARAMS, LTX_2_3_PARAMS

    return {"two-stage": LTX_2_3_PARAMS, "hq": LTX_2_3_HQ_PARAMS, "keyframes": LTX_2_3_PARAMS}[pipeline]


def official_distilled_lora_strengths(pipeline: str) -> tuple[float | None, float]:
    """The distilled LoRA's strength in (stage 1, stage 2) as ltx-pipelines' CLIs give it: two-stage merges it in
    stage 2 only, at --distilled-lora's default strength; hq in both stages, at its parser's per-stage defaults."""
    _import_ltx_pipelines()
    from ltx_pipelines.utils.args import hq_2_stage_arg_parser
    from ltx_pipelines.utils.constants import DEFAULT_LORA_STRENGTH

    if pipeline == "hq":  # the strengths are defaults of its parser only
        parser = hq_2_stage_arg_parser()
        return (parser.get_default("distilled_lora_strength_stage_1"),
                parser.get_default("distilled_lora_strength_stage_2"))
    return None, DEFAULT_LORA_STRENGTH


def _import_ltx_pipelines() -> None:
    from ltx_trt.core.compat import install_torchaudio_placeholder

    install_torchaudio_placeholder()  # ltx_pipelines imports ltx_core, which imports torchaudio


def _distilled_lora(pipeline: str, path: Path | None, must_exist: bool) -> Path:
    if path is None:
        raise UserError(f"--pipeline {pipeline} needs the distilled LoRA for its stage 2, and none was given",
                        f"pass --distilled-lora FILE, the official {DISTILLED_LORA_FILE}")
    if must_exist and not Path(path).is_file():
        raise UserError(f"distilled LoRA not found: {path}",
                        f"pass --distilled-lora FILE, an existing file (the official {DISTILLED_LORA_FILE})")
    return Path(path)


def _check_guiders(pipeline: str, guiders: dict, given: dict) -> None:
    """Refuse guidance the graphs cannot run or that would do nothing: skip steps that differ between the
    modalities, STG with no block to perturb, STG blocks with STG off."""
    video, audio = guiders["video"], guiders["audio"]
    if video.skip_step != audio.skip_step:
        raise UserError(f"--video-skip-step {video.skip_step} and --audio-skip-step {audio.skip_step} differ, which is "
                        "not supported yet",
                        "pass the same value to both (a step where only one modality skips needs a per-modality "
                        "enable the graphs do not take yet)")
    for modality, params in guiders.items():
        scale, blocks = f"--{modality}-stg-guidance-scale", f"--{modality}-stg-blocks"
        if not math.isclose(params.stg_scale, 0.0) and not params.stg_blocks:
            raise UserError(f"{scale} {params.stg_scale:g} perturbs no block ({blocks} is empty with --pipeline "
                            f"{pipeline})", f"pass {blocks} with the block numbers to perturb, or {scale} 0")
        if math.isclose(params.stg_scale, 0.0) and f"{modality}_stg_blocks" in given and params.stg_blocks:
            raise UserError(f"{blocks} has no effect: {scale} is 0 with --pipeline {pipeline}",
                            f"pass {scale} above 0 too (e.g. 1), or drop {blocks}")


def parse_blocks(flag: str, text: str) -> tuple[int, ...]:
    """An STG block list as `run` takes it: numbers separated by commas or spaces ("28", "28,29"), or "none"."""
    words = [w for w in re.split(r"[,\s]+", str(text).strip().lower()) if w]
    if words in ([], ["none"]):
        return ()
    if not all(re.fullmatch(r"-?\d+", w) for w in words):
        raise UserError(f"{flag} {text!r} is not a list of transformer block numbers",
                        "use numbers separated by commas, e.g. 28 or 28,29 (none: no block)")
    numbers = tuple(int(w) for w in words)
    if min(numbers) < 0:
        raise UserError(f"{flag} {min(numbers)} is not a block number", "block numbers start at 0")
    return numbers


def check_stg_blocks(given: dict[str, object], blocks: int) -> None:
    """Refuse STG block numbers given by flag (given_flags) that the checkpoint does not have (it holds `blocks`
    transformer blocks). ltx-pipelines' own defaults are not checked: they name blocks of the 22B model (a
    smaller one, such as the tiny model, then perturbs nothing, as the official pipeline would)."""
    for name in ("video_stg_blocks", "audio_stg_blocks"):
        beyond = [n for n in given.get(name, ()) if n >= blocks]
        if beyond:
            raise UserError(f"{_flag(name)} {beyond[0]} is beyond the checkpoint's {blocks} transformer blocks",
                            f"use block numbers from 0 to {blocks - 1}")


def parse_loras(values: tuple[str, ...]) -> tuple[LoraSpec, ...]:
    """`--lora FILE[:STRENGTH]` values: an existing file, and a finite strength within LORA_STRENGTHS (default:
    ltx-pipelines' DEFAULT_LORA_STRENGTH)."""
    if not values:
        return ()
    _import_ltx_pipelines()
    from ltx_pipelines.utils.constants import DEFAULT_LORA_STRENGTH

    specs = []
    for value in values:
        path, strength = _lora_value(value, DEFAULT_LORA_STRENGTH)
        if not Path(path).is_file():
            raise UserError(f"LoRA file not found: {path}",
                            "pass --lora FILE[:STRENGTH] with an existing .safetensors file")
        lowest, highest = LORA_STRENGTHS
        if not lowest <= strength <= highest:  # NaN compares False: refused too
            raise UserError(f"--lora {value}: strength {strength} is out of range ({lowest} to {highest})",
                            f"use a strength from {lowest:g} to {highest:g} after the colon, e.g. {path}:0.8")
        specs.append(LoraSpec(Path(path), strength))
    return tuple(specs)


def _lora_value(value: str, default: float) -> tuple[str, float]:
    """FILE[:STRENGTH] -> (file, strength); a colon that belongs to the file name (C:\\...) stays in it."""
    path, sep, tail = value.rpartition(":")
    if sep:
        try:
            return path, float(tail)
        except ValueError:
            if Path(path).is_file() and not Path(value).exists():
                raise UserError(f"--lora {value}: strength {tail!r} is not a number",
                                f"use FILE:STRENGTH with a number, e.g. {path}:0.8") from None
    return value, default
