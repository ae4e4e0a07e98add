"""The `ltx-trt` command: export, build-engines, run, doctor.

Command bodies are a few lines: parse, resolve, call the stage. Heavy imports (torch, ltx-core,
TensorRT) happen inside the commands so that `ltx-trt --help` is instant.
"""

import sys
from functools import wraps
from pathlib import Path

import click

from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import available_profiles

_ARTIFACTS_HELP = "Folder holding <model>/<profile>/onnx and engines (default: ./artifacts)."


def _user_errors(command):
    """Print a UserError as two lines (message, hint) and exit 1; anything else keeps its traceback."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as err:
            click.echo(f"error: {err.message}", err=True)
            if err.hint:
                click.echo(f"hint: {err.hint}", err=True)
            sys.exit(1)

    return wrapper


def _model_options(command, gpu_required: bool = True):
    gpu_help = f"GPU profile, one of: {', '.join(available_profiles())}."
    options = [
        click.option("--gpu", "profile_name", required=gpu_required, metavar="PROFILE",
                     help=gpu_help if gpu_required else gpu_help + " Default: the one that fits this GPU."),
        click.option("--model", type=click.Choice(["tiny"]), default=None,
                     help="Use the embedded tiny model (generated locally, nothing downloaded)."),
        click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
                     help="Official LTX-2.3 single-file checkpoint (ltx-2.3-22b-*.safetensors)."),
        click.option("--artifacts", type=click.Path(path_type=Path), default=Path("artifacts"), help=_ARTIFACTS_HELP),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ltx-trt")
def main():
    """Ahead-of-time compiled TensorRT pipeline for LTX-2.3 (22B audio-video).

    \b
    Three stages, each reading and writing a folder with a manifest:
      ltx-trt export        --gpu rtx4090 --checkpoint FILE --gemma DIR   (PyTorch -> ONNX)
      ltx-trt build-engines --gpu rtx4090 --checkpoint FILE               (ONNX -> TensorRT)
      ltx-trt run           --gpu rtx4090 --checkpoint FILE --gemma DIR --prompt TEXT
    Add --model tiny instead of the checkpoint to try everything on an embedded tiny model.
    """


@main.command()
@_model_options
@click.option("--gemma", type=click.Path(path_type=Path), default=None,
              help="Gemma-3-12B folder in Hugging Face layout (config, tokenizer, weights).")
@click.option("--upsampler", type=click.Path(path_type=Path), default=None,
              help="x2 spatial upsampler file (default: ltx-2.3-spatial-upscaler-x2-*.safetensors next to the checkpoint).")
@click.option("--component", "components", multiple=True, metavar="NAME",
              help="Export only this component (repeatable): text_encoder, connector, transformer, upsampler, "
                   "video_decoder, audio_decoder.")
@_user_errors
def export(profile_name, model, checkpoint, artifacts, gemma, upsampler, components):
    """Export every component to static-shape ONNX for one GPU profile.

    Writes <artifacts>/<model>/<profile>/onnx/ with one .onnx per component and shape bucket,
    reference inputs/outputs from PyTorch, and manifest.json (written last: its presence means the
    export finished).
    """
    from ltx_trt.core import source
    from ltx_trt.core.profiles import load_profile
    from ltx_trt.export.pipeline import export_model

    profile = load_profile(profile_name)
    source.check_writable(artifacts)
    src = source.resolve(model, checkpoint, gemma, upsampler, artifacts)
    if src.model_id == source.TINY_ID:
        from ltx_trt.model.tiny import ensure_tiny_model

        ensure_tiny_model(source.tiny_dir(artifacts))
    export_model(src, profile, artifacts, components or None)


@main.command("build-engines")
@_model_options
@click.option("--force", is_flag=True, help="Rebuild every engine even if nothing changed.")
@_user_errors
def build_engines(profile_name, model, checkpoint, artifacts, force):
    """Build TensorRT engines from the exported ONNX for one GPU profile.

    Reads <artifacts>/<model>/<profile>/onnx/manifest.json and writes engines/ beside it: one engine
    per graph, rebuilt only when its ONNX, precision, target GPUs, backend or build options changed
    (the log says which), then engines/manifest.json. RTX profiles build on a machine without a GPU.
    """
    from ltx_trt.build_engines.build import build_all
    from ltx_trt.core.profiles import load_profile
    from ltx_trt.core.source import model_id

    profile = load_profile(profile_name)
    build_all(model_id(model, checkpoint), profile, artifacts, force=force, checkpoint=checkpoint)


@main.command()
@lambda command: _model_options(command, gpu_required=False)
@click.option("--gemma", type=click.Path(path_type=Path), default=None,
              help="Gemma-3-12B folder in Hugging Face layout (its tokenizer encodes the prompt).")
@click.option("--upsampler", type=click.Path(path_type=Path), default=None,
              help="x2 spatial upsampler file (default: ltx-2.3-spatial-upscaler-x2-*.safetensors next to the checkpoint).")
@click.option("--prompt", required=True, help="What to generate (video and sound); up to 1024 tokens are used.")
@click.option("--width", type=int, default=None, help="Width in pixels, a multiple of 64 (default: the profile's first bucket).")
@click.option("--height", type=int, default=None, help="Height in pixels, a multiple of 64 (default: the first bucket's).")
@click.option("--frames", type=int, default=None, help="Frame count, 8k+1 (default: the first bucket's).")
@click.option("--seed", type=int, default=None, help="Random seed (default: 10, as ltx-pipelines).")
@click.option("--executor", type=click.Choice(["auto", "tensorrt", "onnxruntime", "torch"]), default="auto",
              show_default=True, help="auto: tensorrt on a GPU the engines target, else onnxruntime (it says which).")
@click.option("--output", type=click.Path(path_type=Path), default=Path("out.mp4"), show_default=True,
              help="The mp4 to write (it appears only when complete).")
@click.option("--resident-gib", type=click.FloatRange(min=1.0), default=None,
              help="GPU memory the run may hold, in GiB (default: the profile's resident_gib). Weights beyond it "
                   "stream from host memory every step: lower it if other programs use the GPU.")
@_user_errors
def run(profile_name, model, checkpoint, artifacts, gemma, upsampler, prompt, width, height, frames, seed, executor,
        output, resident_gib):
    """Generate a clip with sound from a prompt, with the engines (or the exported ONNX, or PyTorch).

    Never exports or builds: missing or stale artifacts stop it with the command that makes them.
    """
    from ltx_trt.commands import request
    from ltx_trt.commands.run import run as generate
    from ltx_trt.core import source

    profile = request.with_resident_gib(request.select_profile(profile_name), resident_gib)
    bucket = request.select_bucket(profile, width, height, frames)
    src = source.resolve(model, checkpoint, gemma, upsampler, artifacts)
    seed = request.DEFAULT_SEED if seed is None else seed
    generate(request.RunRequest(prompt, profile, src, artifacts, bucket, seed, executor, output),
             log=lambda line: click.echo(line))


@main.command()
@click.option("--artifacts", type=click.Path(path_type=Path), default=Path("artifacts"), help=_ARTIFACTS_HELP)
@_user_errors
def doctor(artifacts):
    """What this machine can run: GPU, TensorRT backends, executors, the fitting profile, artifacts present."""
    from ltx_trt.commands.doctor import report

    for line in report(artifacts):
        click.echo(line)


if __name__ == "__main__":
    main()
