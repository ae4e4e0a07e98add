"""The `ltx-trt` command: export, build-engines, run, serve, calibrate, verify, doctor.

Command bodies are a few lines: parse, resolve, call the stage. Heavy imports (torch, ltx-core,
TensorRT) happen inside the commands so that `ltx-trt --help` is instant.
"""

import dataclasses
import sys
from functools import wraps
from pathlib import Path

import click

from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import available_profiles
from ltx_trt.pipeline_options import pipeline_options as _pipeline_options
from ltx_trt.profile_options import keyframes_option as _keyframes_option, precision_option as _precision_option
from ltx_trt.profile_options import profile_with as _profile

_ARTIFACTS_HELP = "Folder holding <model>/<profile>/onnx and engines (default: ./artifacts)."


def _file_options(command):
    """--gemma and --upsampler: the model's other files beside --checkpoint."""
    command = click.option("--upsampler", type=click.Path(path_type=Path), default=None,
                           help="x2 spatial upsampler file (default: ltx-2.3-spatial-upscaler-x2-*.safetensors "
                                "next to the checkpoint).")(command)
    return click.option("--gemma", type=click.Path(path_type=Path), default=None,
                        help="Gemma-3-12B folder in Hugging Face layout (config, tokenizer, weights).")(command)


def _generated(model, checkpoint, gemma, upsampler, artifacts):
    """The model source the flags name, the tiny model generated first if it is the one (export, calibrate)."""
    from ltx_trt.core import source

    source.check_writable(artifacts)
    src = source.resolve(model, checkpoint, gemma, upsampler, artifacts)
    if src.model_id == source.TINY_ID:
        from ltx_trt.model.tiny import ensure_tiny_model

        ensure_tiny_model(source.tiny_dir(artifacts))
    return src


def _check_architecture(ctx, param, value):
    from ltx_trt.core.architecture import check_name

    from ltx_trt.core.errors import UserError

    try:
        return None if value is None else check_name(value)
    except UserError as err:
        raise click.BadParameter(str(err)) from err


def _architecture_option(command):
    """--architecture NAME: the graphs of a known architecture, from its configs alone (no checkpoint, no Gemma)."""
    from ltx_trt.core.architecture import ARCHITECTURES

    return click.option("--architecture", default=None, metavar="NAME", callback=_check_architecture,
                        help=f"Work from an architecture's configs alone, no weights ({', '.join(ARCHITECTURES)}): "
                             "the engines fit every checkpoint of it (CI engine packs).")(command)


def _no_model_files(*given) -> None:
    if any(value is not None for value in given):
        raise click.UsageError("--architecture takes no model files (--model, --checkpoint, --gemma, --upsampler)")


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
      ltx-trt calibrate     --gpu rtx4090 --checkpoint FILE --gemma DIR   (FP8 scales, bf16 files)
      ltx-trt run           --gpu rtx4090 --checkpoint FILE --gemma DIR --prompt TEXT
      ltx-trt verify        --gpu rtx4090 --checkpoint FILE --gemma DIR   (engines vs PyTorch)
    Add --model tiny instead of the checkpoint to try everything on an embedded tiny model.
    """


@main.command()
@_model_options
@_file_options
@click.option("--component", "components", multiple=True, metavar="NAME",
              help="Export only this component (repeatable): text_encoder, connector, transformer, upsampler, "
                   "video_decoder, audio_decoder.")
@_architecture_option
@_precision_option
@_keyframes_option
@_user_errors
def export(profile_name, model, checkpoint, artifacts, gemma, upsampler, components, architecture, precisions,
           keyframes):
    """Export every component to static-shape ONNX for one GPU profile.

    Writes <artifacts>/<model>/<profile>/onnx/ with one .onnx per component and shape bucket,
    reference inputs/outputs from PyTorch, and manifest.json (written last: its presence means the
    export finished).
    """
    from ltx_trt.export.pipeline import export_model

    profile = _profile(profile_name, precisions, keyframes)
    if architecture is not None:
        _no_model_files(model, checkpoint, gemma, upsampler)
        export_model(None, profile, artifacts, components or None, architecture=architecture)
        return
    export_model(_generated(model, checkpoint, gemma, upsampler, artifacts), profile, artifacts, components or None)


@main.command("build-engines")
@_model_options
@click.option("--force", is_flag=True, help="Rebuild every engine even if nothing changed.")
@_architecture_option
@_precision_option
@_keyframes_option
@_user_errors
def build_engines(profile_name, model, checkpoint, artifacts, force, architecture, precisions, keyframes):
    """Build TensorRT engines from the exported ONNX for one GPU profile.

    Reads <artifacts>/<model>/<profile>/onnx/manifest.json and writes engines/ beside it: one engine
    per graph, rebuilt only when its ONNX, precision, target GPUs, backend or build options changed
    (the log says which), then engines/manifest.json. RTX profiles build on a machine without a GPU.
    """
    from ltx_trt.build_engines.build import build_all
    from ltx_trt.core.source import model_id

    profile = _profile(profile_name, precisions, keyframes)
    if architecture is not None:
        _no_model_files(model, checkpoint)
    build_all(architecture or model_id(model, checkpoint), profile, artifacts, force=force, checkpoint=checkpoint)


@main.command()
@lambda command: _model_options(command, gpu_required=False)
@_file_options
@click.option("--prompt", default=None, help="What to generate (video and sound); up to 1024 tokens are used.")
@click.option("--prompts", "prompts_file", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Instead of --prompt: many clips with one load, one prompt per line, or JSONL lines "
                   '{"prompt", "seed", "size": "768x512x121", "output"} (outputs inside --output\'s folder; default '
                   "OUTPUT-<line>.mp4). A bad line or failed clip is reported and skipped; a table ends the run.")
@click.option("--width", type=int, default=None, help="Width in pixels, a multiple of 64 (default: the profile's first bucket).")
@click.option("--height", type=int, default=None, help="Height in pixels, a multiple of 64 (default: the first bucket's).")
@click.option("--frames", type=int, default=None, help="Frame count, 8k+1 (default: the first bucket's).")
@click.option("--seed", type=int, default=None, help="Random seed (default: 10, as ltx-pipelines).")
@click.option("--executor", type=click.Choice(["auto", "tensorrt", "onnxruntime", "torch"]), default="auto",
              show_default=True, help="auto: tensorrt on a GPU the engines target, else onnxruntime (it says which).")
@click.option("--output", type=click.Path(path_type=Path), default=Path("out.mp4"), show_default=True,
              help="The mp4 to write (it appears only when complete).")
@click.option("--resident-gib", type=float, default=None,
              help="GPU memory the run may hold, in GiB (default: the profile's resident_gib). Weights beyond it "
                   "stream from host memory every step: lower it if other programs use the GPU.")
@click.option("--compile", "compile_blocks", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="torch executor on a GPU: run the transformer's and text encoder's block graphs through "
                   "torch.compile (auto: the FP8 / NVFP4 ones; their activation quantization is only fast fused). "
                   "The first run compiles for a few minutes; bf16 blocks stay op for op the official pipeline's.")
@click.option("--image", "images", multiple=True, metavar="PATH[:FRAME[:STRENGTH]]",
              help="Condition on an image (JPEG, PNG, WebP) at a pixel frame (default 0) with a strength in [0, 1] "
                   "(default 1.0: kept as is). Repeatable, one image per frame. Frame 0 replaces the first latent "
                   "frame; a later frame is a keyframe appended to the sequence, which needs the transformer graphs "
                   "exported for that many (export --keyframes N; the torch executor needs none).")
@click.option("--image-crf", type=int, default=None,
              help="H.264 CRF of the images' round trip, 0..51, 0 = off (default: ltx-pipelines' DEFAULT_IMAGE_CRF).")
@click.option("--engines", "engine_pack", type=click.Path(path_type=Path), default=None, metavar="PACK",
              help="An engine pack (`ltx-trt pack`, or CI's release asset) to run instead of your own export and "
                   "engines; checked (checksums, architecture, backend version, GPU) before use.")
@_precision_option
@_pipeline_options
@_user_errors
def run(profile_name, model, checkpoint, artifacts, gemma, upsampler, prompt, prompts_file, width, height, frames, seed,
        executor, output, resident_gib, compile_blocks, images, image_crf, engine_pack, precisions, pipeline,
        force_pipeline, loras, **guidance):
    """Generate a clip with sound from a prompt, with the engines (or the exported ONNX, or PyTorch).

    Never exports or builds: missing or stale artifacts stop it with the command that makes them.
    """
    from ltx_trt.commands import request
    from ltx_trt.commands.images import image_conditions, keyframe_profile
    from ltx_trt.core import source
    from ltx_trt.core.profiles import with_precision

    if (prompt is None) == (prompts_file is None):
        raise UserError("pass one of --prompt TEXT and --prompts FILE", "--prompts takes a file of one prompt per line")
    profile = with_precision(request.select_profile(profile_name), precisions)
    request.check_numbers(profile, {"--width": width, "--height": height, "--frames": frames, "--seed": seed,
                                    "--resident-gib": resident_gib, "--image-crf": image_crf})
    profile = request.with_resident_gib(profile, resident_gib)
    bucket = request.select_bucket(profile, width, height, frames)
    images = image_conditions(images, image_crf, bucket)
    src = source.resolve(model, checkpoint, gemma, upsampler, artifacts) if engine_pack is None else \
        _generated(model, checkpoint, gemma, upsampler, artifacts)  # with a pack, nothing else is exported first
    fields, lines = request.pipeline_fields(src, pipeline, force_pipeline, loras, guidance)
    profile = keyframe_profile(profile, images, fields["pipeline"])  # the transformer graphs for its keyframes
    seed = request.DEFAULT_SEED if seed is None else seed
    from ltx_trt.commands.run import run as generate  # the model and runtime code, once the flags are checked

    request.check_output(output)  # before the pipeline's lines: a bad --output stays a two-line error
    for line in lines:
        click.echo(line)
    asked = request.RunRequest(prompt or "", profile, src, artifacts, bucket, seed, executor, output, compile_blocks,
                               images=images, **fields, engines=engine_pack)
    if prompts_file is not None:
        from ltx_trt.commands.batch import run_prompts

        sys.exit(run_prompts(prompts_file, asked, log=lambda line: click.echo(line)))
    generate(asked, log=lambda line: click.echo(line))


@main.command()
@click.option("--gpu", "profile_name", required=True, metavar="PROFILE", help="GPU profile whose engines to pack.")
@click.option("--architecture", required=True, metavar="NAME", callback=_check_architecture,
              help="The architecture the engines were exported for (`export --architecture NAME`).")
@click.option("--artifacts", type=click.Path(path_type=Path), default=Path("artifacts"), help=_ARTIFACTS_HELP)
@click.option("--output", "out_dir", type=click.Path(path_type=Path), default=Path("packs"), show_default=True,
              help="Folder the archive (and its .sha256) is written into.")
@_user_errors
def pack(profile_name, architecture, artifacts, out_dir):
    """Archive one profile's weightless engines, their ONNX and manifests into an engine pack.

    Needs `export --architecture NAME` and `build-engines --architecture NAME` first; writes
    <output>/ltx-trt-<architecture>-<profile>.tar.gz with pack.json (checksums, backend, compute
    capabilities, precision per component, builder memory reports) for `run --engines PACK`.
    """
    from ltx_trt.commands.pack import make_pack
    from ltx_trt.core.profiles import load_profile

    make_pack(architecture, load_profile(profile_name), artifacts, out_dir, log=click.echo)


@main.command()
@lambda command: _model_options(command, gpu_required=False)
@_file_options
@click.option("--executor", type=click.Choice(["auto", "tensorrt", "onnxruntime", "torch"]), default="auto",
              show_default=True, help="As run's --executor.")
@click.option("--resident-gib", type=float, default=None, help="As run's --resident-gib.")
@click.option("--compile", "compile_blocks", type=click.Choice(["auto", "on", "off"]), default="auto",
              show_default=True, help="As run's --compile.")
@_precision_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (the default takes connections from this machine only).")
@click.option("--port", type=int, default=8000, show_default=True, help="TCP port to listen on.")
@click.option("--queue", "capacity", type=int, default=8, show_default=True,
              help="Jobs that may wait; a job beyond them is refused with 429.")
@click.option("--jobs-dir", type=click.Path(path_type=Path), default=Path("jobs"), show_default=True,
              help="Folder the finished mp4s are written into.")
@_user_errors
def serve(profile_name, model, checkpoint, artifacts, gemma, upsampler, executor, resident_gib, compile_blocks,
          precisions, host, port, capacity, jobs_dir):
    """Serve clips over HTTP: one pipeline loaded once, one GPU worker, a bounded job queue.

    POST /jobs with {"prompt": ..., "seed", "width", "height", "frames", "pipeline", guidance by run's option
    names} returns a job id; GET /jobs/ID its state, stage and step; GET /jobs/ID/video the mp4; DELETE /jobs/ID
    cancels a queued job. Input is checked by run's rules (400 with the message); a full queue is 429.
    """
    from ltx_trt.commands.api import open_pipeline
    from ltx_trt.commands.request import check_numbers, select_profile
    from ltx_trt.commands.serve import serve as start

    check_numbers(select_profile(profile_name), {"--port": port, "--queue": capacity})  # before anything loads
    pipeline = open_pipeline(profile_name, model=model, checkpoint=checkpoint, gemma=gemma, upsampler=upsampler,
                             artifacts=artifacts, executor=executor, compile=compile_blocks, resident_gib=resident_gib,
                             precision=precisions, log=lambda line: click.echo(line))
    with pipeline:
        start(pipeline.session, host, port, capacity, jobs_dir, log=lambda line: click.echo(line))


@main.command()
@_model_options
@_file_options
@click.option("--prompt", "prompts", multiple=True, metavar="TEXT",
              help="A calibration prompt (repeatable; default: four built-in prompts of varied scenes and sounds).")
@click.option("--prompts-file", type=click.File("r", encoding="utf-8"), default=None,
              help="A text file with one calibration prompt per line.")
@click.option("--width", type=int, default=None, help="Calibrate at this bucket only (default: every bucket).")
@click.option("--height", type=int, default=None, help="With --width/--frames: the one bucket's height.")
@click.option("--frames", type=int, default=None, help="With --width/--height: the one bucket's frame count.")
@click.option("--seed", type=int, default=None, help="Random seed (default: 10, as ltx-pipelines).")
@_user_errors
def calibrate(profile_name, model, checkpoint, artifacts, gemma, upsampler, prompts, prompts_file, width, height,
              frames, seed):
    """Record the activation ranges FP8 needs, from a bf16 checkpoint.

    Runs the bf16 model (PyTorch, on the GPU if there is one) on each prompt at each of the profile's
    buckets and writes <artifacts>/<model>/calibration/: the largest input of every transformer block
    Linear, as safetensors, with a manifest naming the checkpoint, prompts and method. `run` turns them
    into static FP8 input scales. Official FP8 checkpoints carry their own scales and need none.
    """
    from ltx_trt.commands.request import DEFAULT_SEED, check_numbers, select_bucket, select_profile

    profile = select_profile(profile_name)
    check_numbers(profile, {"--width": width, "--height": height, "--frames": frames, "--seed": seed})
    from ltx_trt.commands.calibrate import DEFAULT_PROMPTS, calibrate as record  # the model and runtime code
    if (width, height, frames) != (None, None, None):
        profile = dataclasses.replace(profile, buckets=(select_bucket(profile, width, height, frames),))
    src = _generated(model, checkpoint, gemma, upsampler, artifacts)
    lines = [line.strip() for line in prompts_file] if prompts_file else []
    chosen = tuple(p for p in (*prompts, *lines) if p) or DEFAULT_PROMPTS
    record(profile, src, artifacts, chosen, DEFAULT_SEED if seed is None else seed, log=lambda line: click.echo(line))


@main.command()
@_model_options
@_file_options
@click.option("--component", "components", multiple=True, metavar="NAME",
              help="Check only this component's graphs (repeatable): text_encoder, connector, transformer, "
                   "upsampler, video_decoder, audio_decoder.")
@click.option("--engines", "engine_pack", type=click.Path(path_type=Path), default=None, metavar="PACK",
              help="Check an engine pack's engines against references recorded from one clip on your files.")
@_precision_option
@_keyframes_option
@_user_errors
def verify(profile_name, model, checkpoint, artifacts, gemma, upsampler, components, engine_pack, precisions,
           keyframes):
    """Check the engines (or, without a GPU, the exported ONNX) against the export's PyTorch references.

    Export stores, beside each ONNX, reference inputs and the outputs PyTorch computed from them. On a
    CUDA GPU with the profile's TensorRT backend, verify runs every engine of the profile on those
    inputs; without one it says so and runs the exported ONNX on ONNX Runtime (CPU) instead (NVFP4
    graphs are skipped: ONNX Runtime has no FP4). Outputs are compared with Polygraphy: one table row
    per graph with max and mean absolute error and relative L2 against the tolerance of its precision.
    Every file is checked by sha256 against its manifest first. Exits 1 if any graph is beyond its
    tolerance; engines that pass are remembered, so `run` stops suggesting verify for them. An engine pack
    (--engines) has no stored references: verify records them from one image-to-video clip on your files
    with the torch executor, and reports the graphs that clip does not run as not checked.
    """
    from ltx_trt.commands.verify import verify as check  # torch, the model files and the executors
    from ltx_trt.core import source

    profile = _profile(profile_name, precisions, keyframes)
    src = (_generated if engine_pack else source.resolve)(model, checkpoint, gemma, upsampler, artifacts)
    check(profile, src, artifacts, components, log=lambda line: click.echo(line), engines=engine_pack)


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
