"""`run --pipeline` and the official guidance flags (issue 9 items 1 and 4).

Defaults are ltx-pipelines' own (LTX_2_3_PARAMS, LTX_2_3_HQ_PARAMS, DEFAULT_NEGATIVE_PROMPT, the CLI's LoRA
strengths); every bad value is a two-line error through the CLI before any model work (commands.run.run is
replaced, as in test_boundary); the checkpoint's metadata and file name decide the default pipeline and refuse
one it is not for, unless --force-pipeline. Checkpoints are synthetic headers (model/synthetic.py's writer).
"""

import json

import pytest
from click.testing import CliRunner

from ltx_trt.cli import main
from ltx_trt.commands.request import GUIDED_ONLY, GUIDER_FLAGS, RunRequest, official_params
from ltx_trt.core.checkpoint import read_header
from ltx_trt.core.compat import install_torchaudio_placeholder
from ltx_trt.core.errors import UserError
from ltx_trt.core.pipelines import DEV, DISTILLED, choose_pipeline, detect_checkpoint, detect_header, transformer_blocks
from ltx_trt.core.profiles import load_profile
from ltx_trt.core.source import ModelSource

install_torchaudio_placeholder()
from ltx_pipelines.utils.args import hq_2_stage_arg_parser  # noqa: E402
from ltx_pipelines.utils.constants import (  # noqa: E402
    DEFAULT_LORA_STRENGTH, DEFAULT_NEGATIVE_PROMPT, LTX_2_3_HQ_PARAMS, LTX_2_3_PARAMS)

BLOCKS = 3  # transformer blocks of the synthetic checkpoints
DEV_FILE, DISTILLED_FILE = "ltx-2.3-22b-dev.safetensors", "ltx-2.3-22b-distilled-1.1.safetensors"


def _checkpoint(path, version="2.3.0", blocks=BLOCKS):
    """A synthetic LTX-2.3 checkpoint: config + model_version metadata and `blocks` transformer blocks."""
    import torch

    from ltx_trt.model.synthetic import write_safetensors

    config = {"transformer": {"apply_gated_attention": True}, "vae": {}, "audio_vae": {}, "vocoder": {}}
    table = {f"model.diffusion_model.transformer_blocks.{i}.attn1.to_q.weight": ((2, 2),) for i in range(blocks)}
    write_safetensors(path, table, {"config": json.dumps(config), "model_version": version}, torch.bfloat16, 0)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    for name in (DEV_FILE, DISTILLED_FILE):
        _checkpoint(folder / name)
    (folder / "gemma").mkdir()
    (folder / "gemma" / "config.json").write_text("{}")
    for name in ("ltx-2.3-spatial-upscaler-x2-1.0.safetensors", "lora.safetensors", "distilled-lora.safetensors"):
        (folder / name).write_bytes(b"")
    return folder


@pytest.fixture
def runs(monkeypatch):
    """The requests that reach commands.run.run (which does nothing here)."""
    from ltx_trt.commands import run as runner

    seen = []
    monkeypatch.setattr(runner, "run", lambda request, log: seen.append(request))
    return seen


def _run(files, checkpoint, *args):
    return CliRunner().invoke(main, ["run", "--gpu", "rtx4090", "--prompt", "x", "--checkpoint",
                                     str(files / checkpoint), "--gemma", str(files / "gemma"),
                                     "--artifacts", str(files / "artifacts"), "--output", str(files / "out.mp4"),
                                     *args])


def _guided(files, *args, pipeline="two-stage"):
    return _run(files, DEV_FILE, "--pipeline", pipeline, "--distilled-lora", str(files / "distilled-lora.safetensors"),
                *args)


def _one_line_error(result, *needles):
    assert result.exit_code == 1, result.output + repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), result.output
    for needle in needles:
        assert needle in result.output, result.output


# defaults: ltx-pipelines' own values

@pytest.mark.parametrize("pipeline, params", [("two-stage", LTX_2_3_PARAMS), ("hq", LTX_2_3_HQ_PARAMS)])
def test_guided_pipelines_default_to_ltx_pipelines_values(files, runs, pipeline, params):
    result = _guided(files, pipeline=pipeline)
    assert result.exit_code == 0, result.output + repr(result.exception)
    request = runs[0]
    assert (request.pipeline, request.steps, request.negative_prompt) == \
        (pipeline, params.num_inference_steps, DEFAULT_NEGATIVE_PROMPT)
    assert request.video_guider == params.video_guider_params and request.audio_guider == params.audio_guider_params
    assert request.distilled_lora == files / "distilled-lora.safetensors" and request.loras == ()
    assert f"pipeline: {pipeline} (--pipeline)" in result.output
    assert f"stage 1: {params.num_inference_steps} steps" in result.output


def test_distilled_lora_strengths_are_the_official_clis():
    hq = hq_2_stage_arg_parser()
    assert official_params("hq") is LTX_2_3_HQ_PARAMS and official_params("two-stage") is LTX_2_3_PARAMS
    from ltx_trt.commands.request import official_distilled_lora_strengths

    assert official_distilled_lora_strengths("hq") == (hq.get_default("distilled_lora_strength_stage_1"),
                                                       hq.get_default("distilled_lora_strength_stage_2"))
    assert official_distilled_lora_strengths("two-stage") == (None, DEFAULT_LORA_STRENGTH)


def test_flags_replace_only_their_own_official_value(files, runs):
    result = _guided(files, "--steps", "12", "--video-cfg-guidance-scale", "4.5", "--v2a-guidance-scale", "2",
                     "--video-stg-blocks", "0,2", "--audio-stg-blocks", "none", "--audio-stg-guidance-scale", "0",
                     "--video-skip-step", "1", "--audio-skip-step", "1", "--negative-prompt", "",
                     "--lora", str(files / "lora.safetensors"), "--lora", f"{files / 'lora.safetensors'}:-0.5")
    assert result.exit_code == 0, result.output + repr(result.exception)
    request, official = runs[0], LTX_2_3_PARAMS
    assert request.steps == 12 and request.negative_prompt == ""
    assert request.video_guider == type(official.video_guider_params)(
        **{**vars(official.video_guider_params), "cfg_scale": 4.5, "stg_blocks": [0, 2], "skip_step": 1})
    assert request.audio_guider == type(official.audio_guider_params)(
        **{**vars(official.audio_guider_params), "modality_scale": 2.0, "stg_blocks": [], "stg_scale": 0.0,
           "skip_step": 1})
    assert [(lora.path.name, lora.strength) for lora in request.loras] == \
        [("lora.safetensors", DEFAULT_LORA_STRENGTH), ("lora.safetensors", -0.5)]


def test_flag_names_are_the_official_clis():
    official = {option for action in hq_2_stage_arg_parser()._actions for option in action.option_strings}
    ours = {option for p in main.commands["run"].params for option in p.opts}
    names = {f"--{name.replace('_', '-')}" for name in GUIDED_ONLY}
    assert names <= official and names <= ours and {"--lora", "--steps", "--pipeline", "--force-pipeline"} <= ours
    assert {field for _, field in GUIDER_FLAGS.values()} == set(vars(LTX_2_3_PARAMS.video_guider_params))


def test_existing_callers_get_the_distilled_pipeline(tmp_path):
    source = ModelSource("m", tmp_path / "c.safetensors", tmp_path, tmp_path / "u.safetensors")
    profile = load_profile("rtx4090")
    request = RunRequest("x", profile, source, tmp_path, profile.buckets[0], 10, "torch", tmp_path / "o.mp4")
    assert (request.pipeline, request.video_guider, request.steps, request.loras, request.distilled_lora) == \
        ("distilled", None, None, (), None)


def test_distilled_pipeline_runs_without_guidance_and_takes_loras(files, runs):
    result = _run(files, DISTILLED_FILE, "--lora", f"{files / 'lora.safetensors'}:0.7")
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert (runs[0].pipeline, runs[0].video_guider, runs[0].negative_prompt, runs[0].distilled_lora) == \
        ("distilled", None, None, None)
    assert runs[0].loras[0].strength == 0.7
    assert f"pipeline: distilled ({DISTILLED_FILE} is a distilled checkpoint, as its file name says" in result.output


# bad values: one line each, before any model work

BAD = [
    (["--steps", "0"], "--num-inference-steps 0 is out of range"),
    (["--num-inference-steps", "101"], "--num-inference-steps 101 is out of range"),
    (["--video-cfg-guidance-scale", "nan"], "--video-cfg-guidance-scale nan is out of range"),
    (["--audio-cfg-guidance-scale", "0.5"], "--audio-cfg-guidance-scale 0.5 is out of range"),
    (["--video-stg-guidance-scale", "-1"], "--video-stg-guidance-scale -1.0 is out of range"),
    (["--audio-stg-guidance-scale", "inf"], "--audio-stg-guidance-scale inf is out of range"),
    (["--video-rescale-scale", "1.5"], "--video-rescale-scale 1.5 is out of range"),
    (["--audio-rescale-scale", "-inf"], "--audio-rescale-scale -inf is out of range"),
    (["--a2v-guidance-scale", "1e400"], "--a2v-guidance-scale inf is out of range"),
    (["--v2a-guidance-scale", "0"], "--v2a-guidance-scale 0.0 is out of range"),
    (["--video-skip-step", "-1"], "--video-skip-step -1 is out of range"),
    (["--audio-skip-step", "100"], "--audio-skip-step 100 is out of range"),
    (["--video-skip-step", "2"], "--video-skip-step 2 and --audio-skip-step 0 differ"),
    (["--video-stg-blocks", "28;x"], "--video-stg-blocks '28;x' is not a list of transformer block numbers"),
    (["--audio-stg-blocks", "-1"], "--audio-stg-blocks -1 is not a block number"),
    (["--video-stg-blocks", str(BLOCKS)], f"--video-stg-blocks {BLOCKS} is beyond the checkpoint's {BLOCKS}"),
    (["--video-stg-blocks", "none"], "--video-stg-guidance-scale 1 perturbs no block"),
    (["--lora", "missing.safetensors"], "LoRA file not found: missing.safetensors"),
    (["--lora", "{files}/lora.safetensors:abc"], "--lora {files}/lora.safetensors:abc: strength 'abc' is not a number"),
    (["--lora", "{files}/lora.safetensors:nan"], "--lora {files}/lora.safetensors:nan: strength nan is out of range"),
    (["--lora", "{files}/lora.safetensors:11"], "--lora {files}/lora.safetensors:11: strength 11.0 is out of range"),
    (["--distilled-lora", "missing.safetensors"], "distilled LoRA not found: missing.safetensors"),
]


@pytest.mark.parametrize("args, needle", BAD)
def test_bad_guidance_values_are_one_line_errors(files, runs, args, needle):
    _one_line_error(_guided(files, *[a.format(files=files) for a in args]), f"error: {needle.format(files=files)}")
    assert runs == []


def test_hq_refuses_stg_without_blocks_and_blocks_without_stg(files, runs):
    _one_line_error(_guided(files, "--video-stg-guidance-scale", "1", pipeline="hq"),
                    "--video-stg-guidance-scale 1 perturbs no block", "hint: pass --video-stg-blocks")
    _one_line_error(_guided(files, "--audio-stg-blocks", "28", pipeline="hq"),
                    "--audio-stg-blocks has no effect: --audio-stg-guidance-scale is 0")
    assert runs == []


@pytest.mark.parametrize("pipeline", ["two-stage", "hq"])
def test_guided_pipelines_refuse_to_run_without_the_distilled_lora(files, runs, pipeline):
    _one_line_error(_run(files, DEV_FILE, "--pipeline", pipeline), f"--pipeline {pipeline} needs the distilled LoRA",
                    "ltx-2.3-22b-distilled-lora-384.safetensors", "--distilled-lora FILE")


@pytest.mark.parametrize("name", GUIDED_ONLY)
def test_guidance_flags_are_refused_with_the_distilled_pipeline(files, runs, name):
    flag = f"--{name.replace('_', '-')}"
    value = {"negative_prompt": "x", "distilled_lora": str(files / "distilled-lora.safetensors")}.get(
        name, "28" if name.endswith("blocks") else "1")
    _one_line_error(_run(files, DISTILLED_FILE, flag, value), f"error: {flag} has no effect with --pipeline distilled",
                    "--pipeline two-stage")


# checkpoint and pipeline agree (item 4)

@pytest.mark.parametrize("name, kind", [
    (DEV_FILE, DEV), ("ltx-2.3-22b-dev-fp8.safetensors", DEV), ("ltx-2.3-22b-distilled.safetensors", DISTILLED),
    (DISTILLED_FILE, DISTILLED), ("ltx-2.3-22b-distilled-1.1_transformer_only_fp8_scaled.safetensors", DISTILLED),
    ("ltx-2.3-tiny.safetensors", None), ("my-model.safetensors", None), ("dev-or-distilled.safetensors", None),
    ("developer.safetensors", None)])
def test_the_file_name_says_dev_or_distilled(name, kind):
    assert detect_checkpoint(name, {"model_version": "2.3.0"}).kind == kind


def test_a_model_version_that_names_the_variant_wins_over_the_name(tmp_path):
    header = read_header(_checkpoint(tmp_path / DEV_FILE, version="2.3.0-distilled", blocks=2))
    detected = detect_header(header)
    assert detected.kind == DISTILLED and "model_version '2.3.0-distilled'" in detected.why
    assert transformer_blocks(header) == 2
    assert detect_header(read_header(_checkpoint(tmp_path / "plain.safetensors"))).kind is None


def test_default_pipeline_is_two_stage_for_dev_and_distilled_otherwise():
    assert choose_pipeline(None, False, detect_checkpoint(DEV_FILE))[0] == "two-stage"
    assert choose_pipeline(None, False, detect_checkpoint(DISTILLED_FILE))[0] == "distilled"
    pipeline, why = choose_pipeline(None, False, detect_checkpoint("ltx-2.3-tiny.safetensors"))
    assert pipeline == "distilled" and "says dev or distilled" in why


def test_a_dev_checkpoint_defaults_to_two_stage_and_says_why(files, runs):
    result = _run(files, DEV_FILE, "--distilled-lora", str(files / "distilled-lora.safetensors"))
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert runs[0].pipeline == "two-stage"
    assert f"pipeline: two-stage ({DEV_FILE} is a dev checkpoint, as its file name says" in result.output


@pytest.mark.parametrize("checkpoint, pipeline, hint", [
    (DEV_FILE, "distilled", "hint: use --pipeline two-stage or --pipeline hq or --pipeline keyframes, or add --force-pipeline"),
    (DISTILLED_FILE, "two-stage", "hint: use --pipeline distilled, or add --force-pipeline"),
    (DISTILLED_FILE, "hq", "hint: use --pipeline distilled, or add --force-pipeline")])
def test_a_pipeline_the_checkpoint_is_not_for_is_refused_unless_forced(files, runs, checkpoint, pipeline, hint):
    lora = ["--distilled-lora", str(files / "distilled-lora.safetensors")] if pipeline != "distilled" else []
    _one_line_error(_run(files, checkpoint, "--pipeline", pipeline, *lora),
                    f"error: --pipeline {pipeline} does not fit the checkpoint", hint)
    result = _run(files, checkpoint, "--pipeline", pipeline, "--force-pipeline", *lora)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert runs[0].pipeline == pipeline and "--force-pipeline, although" in result.output


def test_force_pipeline_alone_is_refused(files, runs):
    _one_line_error(_run(files, DEV_FILE, "--force-pipeline"), "error: --force-pipeline without --pipeline")


@pytest.mark.parametrize("pipeline", ["distilled", "two-stage", "hq"])
def test_the_tiny_model_is_unknown_and_takes_any_pipeline(tmp_path, runs, pipeline):
    lora = tmp_path / "distilled-lora.safetensors"
    lora.write_bytes(b"")
    extra = ["--distilled-lora", str(lora)] if pipeline != "distilled" else []
    result = CliRunner().invoke(main, ["run", "--gpu", "rtx4090", "--model", "tiny", "--prompt", "x", "--artifacts",
                                       str(tmp_path / "artifacts"), "--pipeline", pipeline, *extra])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert runs[0].pipeline == pipeline


def test_the_sources_own_distilled_lora_is_used_and_awaited_until_its_model_is_generated(tmp_path):
    from ltx_trt.commands.request import guidance_fields

    lora = tmp_path / "ltx-2.3-distilled-lora-tiny.safetensors"
    assert guidance_fields("two-stage", {}, lora, source_generated=False)["distilled_lora"] == lora
    with pytest.raises(UserError, match="distilled LoRA not found"):
        guidance_fields("two-stage", {}, lora)
    lora.write_bytes(b"")
    assert guidance_fields("hq", {}, lora)["distilled_lora"] == lora
