"""run's pipeline options: --pipeline, --force-pipeline, --lora and the official guidance flags, named as
ltx-pipelines' two-stage / hq CLIs name them (ltx_pipelines/utils/args.py). Imports click only."""

from pathlib import Path

import click

_GUIDED = "two-stage, hq and keyframes only; default: ltx-pipelines' value for the pipeline, which the run prints"
# run's guidance options, named as ltx-pipelines' two-stage / hq CLIs name them (ltx_pipelines/utils/args.py)
_GUIDANCE_OPTIONS = [
    click.option("--negative-prompt", default=None, metavar="TEXT",
                 help="What the video and sound should not have; the CFG pass denoises with it (two-stage and hq "
                      "only; default: ltx-pipelines' DEFAULT_NEGATIVE_PROMPT, a list of common artifacts)."),
    click.option("--num-inference-steps", "--steps", "num_inference_steps", type=int, default=None,
                 help=f"Denoising steps of stage 1; stage 2 keeps the distilled schedule ({_GUIDED})."),
    *[click.option(f"--{m}-cfg-guidance-scale", type=float, default=None,
                   help=f"Classifier-free guidance of the {m}: how strongly it follows the prompt against the "
                        f"negative prompt; 1 turns it off ({_GUIDED}).") for m in ("video", "audio")],
    *[click.option(f"--{m}-stg-guidance-scale", type=float, default=None,
                   help=f"Spatio-temporal guidance of the {m}: pushes away from the model with the {m} "
                        f"self-attention of --{m}-stg-blocks skipped; 0 turns it off ({_GUIDED}).")
      for m in ("video", "audio")],
    *[click.option(f"--{m}-stg-blocks", default=None, metavar="N[,N...]",
                   help=f"Transformer blocks (numbered from 0) whose {m} self-attention STG skips, e.g. 28 or 28,29; "
                        f"'none' for no block ({_GUIDED}).") for m in ("video", "audio")],
    *[click.option(f"--{m}-rescale-scale", type=float, default=None,
                   help=f"Rescales the guided {m} prediction toward the conditional one's spread, against "
                        f"oversaturation: 0 off, 1 fully ({_GUIDED}).") for m in ("video", "audio")],
    click.option("--a2v-guidance-scale", type=float, default=None,
                 help=f"Audio-to-video modality guidance: pushes the video away from the prediction without the "
                      f"audio-video cross-attention (may improve lip sync); 1 turns it off ({_GUIDED})."),
    click.option("--v2a-guidance-scale", type=float, default=None,
                 help=f"Video-to-audio modality guidance, the audio's twin of --a2v-guidance-scale ({_GUIDED})."),
    *[click.option(f"--{m}-skip-step", type=int, default=None,
                   help=f"Guide the {m} only on steps where step % (N + 1) == 0, reusing the last prediction on the "
                        f"others; 0 guides every step. Video and audio must be equal for now ({_GUIDED}).")
      for m in ("video", "audio")],
    click.option("--distilled-lora", type=click.Path(path_type=Path), default=None, metavar="FILE",
                 help="The distilled LoRA of stage 2, the official ltx-2.3-22b-distilled-lora-384.safetensors "
                      "(two-stage and hq, which need it; hq also merges it into stage 1, at ltx-pipelines' "
                      "per-stage strengths)."),
]


def pipeline_options(command):
    """run's --pipeline, --force-pipeline, --lora and the official guidance flags."""
    options = [
        click.option("--pipeline", type=click.Choice(["distilled", "two-stage", "hq", "keyframes"]), default=None,
                     help="Which of ltx-pipelines' pipelines to run: distilled (DistilledPipeline: the "
                          "distilled checkpoint, no guidance), two-stage (TI2VidTwoStagesPipeline: a dev checkpoint "
                          "with guidance at half size, then x2 and the distilled LoRA), hq "
                          "(TI2VidTwoStagesHQPipeline: the same with the res_2s sampler) or keyframes "
                          "(KeyframeInterpolationPipeline: two-stage with every --image, frame 0 too, added as a "
                          "guiding keyframe). Default: two-stage for a dev "
                          "checkpoint, distilled otherwise, from the file's metadata and name (the log says which)."),
        click.option("--force-pipeline", is_flag=True,
                     help="Run --pipeline even on a checkpoint detected as made for another pipeline."),
        click.option("--lora", "loras", multiple=True, metavar="FILE[:STRENGTH]",
                     help="A LoRA merged into the transformer's weights (repeatable; default strength: "
                          "ltx-pipelines' DEFAULT_LORA_STRENGTH)."),
        *_GUIDANCE_OPTIONS,
    ]
    for option in reversed(options):
        command = option(command)
    return command
