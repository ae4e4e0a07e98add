"""`ltx-trt run` and `ltx-trt doctor` end to end on the tiny model exported by the session fixture.

The runs use the profile's first bucket (768x512, 121 frames at 24 fps) on the CPU: onnxruntime through
`--executor auto` (no CUDA GPU here) and the torch executor. Every refusal is a one-line error with a
hint and exit status 1, raised before any model work. Engine folders for the tensorrt refusals are
written by `_engines` in the engine manifest's format (a real build takes a minute and a GPU to run).
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import av
import pytest
from click.testing import CliRunner

from ltx_trt.cli import main
from ltx_trt.core import shapes
from ltx_trt.core.errors import UserError
from ltx_trt.core.plan import GUIDED_BATCHES
from ltx_trt.core.profiles import load_profile, with_precision
from ltx_trt.runtime import devices

PROFILE = "rtx4090"
BUCKET = load_profile(PROFILE).buckets[0]
AAC_FRAME_SAMPLES = 1024
# 1500 words: over the 1024-token context with the tiny tokenizer too (it knows these words)
LONG_PROMPT = " ".join(["a red fox runs through fresh snow while birdsong and wind rustle the trees"] * 100)
RTX4090 = devices.Gpu("NVIDIA GeForce RTX 4090", "8.9", 23.6)
RTX3060 = devices.Gpu("NVIDIA GeForce RTX 3060", "8.6", 11.6)


@pytest.fixture(scope="module")
def exported(tiny_export):
    return tiny_export(PROFILE)


@pytest.fixture
def linked(exported, tmp_path):
    """An artifacts folder of our own whose tiny weights and ONNX are the session export's (symlinked)."""
    (tmp_path / "tiny" / PROFILE).mkdir(parents=True)
    (tmp_path / "tiny" / "weights").symlink_to(exported / "tiny" / "weights")
    (tmp_path / "tiny" / "calibration").symlink_to(exported / "tiny" / "calibration")
    (tmp_path / "tiny" / PROFILE / "onnx").symlink_to(exported / "tiny" / PROFILE / "onnx")
    return tmp_path


def _run(artifacts, *args, gpu=None, monkeypatch=None):
    if monkeypatch is not None:
        monkeypatch.setattr(devices, "cuda_gpu", lambda: gpu)
    return CliRunner().invoke(main, ["run", "--gpu", PROFILE, "--model", "tiny", "--artifacts", str(artifacts),
                                     *args])


def _refused(result, *needles):
    assert result.exit_code == 1, result.output + repr(result.exception)
    lines = result.output.strip().splitlines()
    error, hint = next(i for i, line in enumerate(lines) if line.startswith("error: ")), len(lines) - 1
    assert lines[hint].startswith("hint: ") and hint == error + 1, result.output
    for needle in needles:
        assert needle in result.output, result.output
    return lines[error], lines[hint]


def _decoded(path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = list(container.decode(video))
        fps = video.average_rate
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        samples = sum(f.samples for f in container.decode(audio))
        rate = audio.rate
    return frames, fps, samples, rate


def _check_clip(path):
    frames, fps, samples, rate = _decoded(path)
    assert (len(frames), frames[0].width, frames[0].height, fps) == (BUCKET.frames, BUCKET.width, BUCKET.height,
                                                                      BUCKET.fps)
    # The vocoder's waveform (4 mel frames per audio latent minus 3, x480 samples at 48 kHz) is 1,520
    # samples shorter than the clip; run ends it with silence to frames / fps, and AAC pads that to whole
    # 1024-sample frames.
    clip = round(BUCKET.frames / BUCKET.fps * shapes.OUTPUT_SAMPLE_RATE)
    assert shapes.audio_samples(shapes.latent_grid(BUCKET.width, BUCKET.height, BUCKET.frames, BUCKET.fps)
                                .audio_tokens) < clip
    assert rate == shapes.OUTPUT_SAMPLE_RATE and clip <= samples < clip + AAC_FRAME_SAMPLES
    assert abs(samples / rate - BUCKET.frames / BUCKET.fps) < AAC_FRAME_SAMPLES / rate  # within one audio frame


def test_run_on_cpu_picks_onnxruntime_and_writes_the_clip(exported, tmp_path, monkeypatch):
    output = tmp_path / "fox.mp4"
    result = _run(exported, "--prompt", LONG_PROMPT, "--output", str(output), gpu=None, monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output + repr(result.exception)
    lines = result.output.splitlines()
    assert lines[0].startswith("pipeline: distilled (")  # the tiny model's name says neither dev nor distilled
    assert lines[1].startswith("executor: onnxruntime (auto: no CUDA GPU")
    assert "only its first 1024 are used" in result.output  # the long prompt is cut, and it says so
    assert "stage 1 (half size, 8 steps) ..." in lines and "  step 3/3" in " ".join(lines)
    assert lines[-1].startswith("done in ") and "stage 2" in lines[-1] and str(output) in lines[-1]
    _check_clip(output)
    assert [p.name for p in tmp_path.iterdir()] == ["fox.mp4"]  # no temporary file left behind


def test_run_with_the_torch_executor_writes_the_clip(exported, tmp_path):
    output = tmp_path / "fox.mp4"
    result = _run(exported, "--prompt", "a red fox", "--executor", "torch", "--seed", "3", "--output", str(output))
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "executor: torch (--executor torch)" in result.output and "seed 3" in result.output
    _check_clip(output)


@pytest.mark.parametrize("args, needles", [
    (["--frames", "130"], ["--frames 130 is not 8k+1", "hint: use one of: 121, 241"]),
    (["--frames", "0"], ["--frames 0 is out of range (121 to 241)", "hint: use one of: 121, 241"]),
    (["--width", "800"], ["--width 800 is not a multiple of 64", "hint: use one of: 768, 1280"]),
    (["--height", "600"], ["--height 600 is not a multiple of 64", "hint: use one of: 512, 704"]),
    (["--width", "1024", "--height", "576", "--frames", "121"],
     ["no bucket 1024x576x121 in profile 'rtx4090'", "768x512x121, 1280x704x241"]),
])
def test_run_refuses_sizes_the_profile_cannot_make(tmp_path, args, needles):
    _refused(_run(tmp_path, "--prompt", "x", *args), *needles)


def test_run_refuses_an_unwritable_output_path_before_any_work(tmp_path):
    _refused(_run(tmp_path, "--prompt", "x", "--output", str(tmp_path / "no" / "such" / "out.mp4")),
             "folder", "does not exist", "--output")
    _refused(_run(tmp_path, "--prompt", "x", "--output", str(tmp_path)), "is a folder")


def test_run_refuses_a_tiny_model_never_generated_with_the_export_command(tmp_path):
    _refused(_run(tmp_path, "--prompt", "x"), "not generated yet",
             f"hint: run: ltx-trt export --gpu {PROFILE} --model tiny --artifacts {tmp_path}")


def test_run_refuses_a_profile_never_exported_with_the_export_command(linked):
    result = CliRunner().invoke(main, ["run", "--gpu", "rtx5090", "--model", "tiny", "--artifacts", str(linked),
                                       "--prompt", "x", "--executor", "onnxruntime"])
    _refused(result, "no ONNX export", f"hint: run: ltx-trt export --gpu rtx5090 --model tiny --artifacts {linked}")


def test_run_refuses_missing_engines_with_the_build_command(linked, monkeypatch):
    _refused(_run(linked, "--prompt", "x", "--executor", "tensorrt", gpu=RTX4090, monkeypatch=monkeypatch),
             "no engines", f"hint: run: ltx-trt build-engines --gpu {PROFILE} --model tiny --artifacts {linked}")


def _engines(artifacts, **changes) -> dict:
    """An engine folder in build-engines' manifest format for every exported graph (placeholder engines)."""
    onnx = json.loads((artifacts / "tiny" / PROFILE / "onnx" / "manifest.json").read_text())
    folder = artifacts / "tiny" / PROFILE / "engines"
    folder.mkdir()
    engines = {}
    for key, entry in onnx["graphs"].items():
        (folder / f"{key}.engine").write_bytes(b"engine")
        engines[key] = {"file": f"{key}.engine", "size_bytes": 6, "sha256": hashlib.sha256(b"engine").hexdigest(),
                        "component": entry["component"],
                        "build_inputs": {"onnx": {"file": entry["file"], "sha256": entry["sha256"]}}}
    manifest = {"format": 1, "stage": "build-engines", "model_id": "tiny", "profile": PROFILE,
                "profile_sha256": onnx["profile_sha256"], "backend": {"name": "tensorrt_rtx", "version": "1.7.1"},
                "compute_capabilities": ["8.9"], "checkpoint": onnx["checkpoint"], "engines": engines, **changes}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_run_refuses_engines_built_for_another_profile_version(linked, monkeypatch):
    _engines(linked, profile_sha256="0" * 64)
    _refused(_run(linked, "--prompt", "x", "--executor", "tensorrt", gpu=RTX4090, monkeypatch=monkeypatch),
             "is stale", "another version of profiles/rtx4090.toml", "hint: run: ltx-trt build-engines")


def test_run_refuses_engines_older_than_their_onnx(linked, monkeypatch):
    manifest = _engines(linked)
    key = f"transformer.{BUCKET.name}.stage1.block_fp8"  # the transformer runs as parts: pre, block(s), post
    manifest["engines"][key]["build_inputs"]["onnx"]["sha256"] = "1" * 64  # built from an earlier export
    (linked / "tiny" / PROFILE / "engines" / "manifest.json").write_text(json.dumps(manifest))
    _refused(_run(linked, "--prompt", "x", "--executor", "tensorrt", gpu=RTX4090, monkeypatch=monkeypatch),
             f"engine {key} is stale", "hint: run: ltx-trt build-engines")


def test_run_refuses_engines_built_for_another_gpu(linked, monkeypatch):
    _engines(linked)
    _refused(_run(linked, "--prompt", "x", "--executor", "tensorrt", gpu=RTX3060, monkeypatch=monkeypatch),
             "NVIDIA GeForce RTX 3060, compute capability 8.6", "built for compute capability 8.9", "hint: ")


def test_run_refuses_tensorrt_without_a_gpu(linked, monkeypatch):
    _engines(linked)
    _refused(_run(linked, "--prompt", "x", "--executor", "tensorrt", gpu=None, monkeypatch=monkeypatch),
             "needs an NVIDIA GPU", "--executor onnxruntime")


def test_auto_says_why_it_picks_each_executor():
    from ltx_trt.commands.choice import choose_executor

    profile = load_profile(PROFILE)
    kind, why = choose_executor("auto", profile, None)
    assert kind == "onnxruntime" and "no CUDA GPU" in why
    kind, why = choose_executor("auto", profile, RTX3060)
    assert kind == "onnxruntime" and "compute capability 8.6" in why and "8.9" in why
    if devices.backend_version(profile.backend) is not None:
        assert choose_executor("auto", profile, RTX4090)[0] == "tensorrt"
    assert choose_executor("torch", profile, RTX4090) == ("torch", "--executor torch")
    nvfp4 = with_precision(load_profile("rtx5090"), {"transformer": "nvfp4"})  # no FP4 in ONNX Runtime
    kind, why = choose_executor("auto", nvfp4, None)
    assert kind == "torch" and "ONNX Runtime cannot run NVFP4 graphs" in why
    with pytest.raises(UserError, match="ONNX Runtime cannot run the transformer graphs") as err:
        choose_executor("onnxruntime", nvfp4, None)
    assert "--executor torch" in err.value.hint


def test_doctor_reports_the_machine_and_the_artifacts(linked, monkeypatch):
    _engines(linked)
    monkeypatch.setattr(devices, "cuda_gpu", lambda: None)
    result = CliRunner().invoke(main, ["doctor", "--artifacts", str(linked)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "GPU: no CUDA GPU" in out and "profile: none fits (no CUDA GPU)" in out
    assert "  tensorrt_rtx: " in out and "  tensorrt: " in out and "  onnxruntime: " in out and "  torch: " in out
    # text encoder parts, connector; per bucket 3 transformer parts x (2 stages + the guided graphs) + upsampler,
    # video encoder at both stage sizes, 2 decoders
    graphs = 4 + (3 * (2 + len(GUIDED_BATCHES)) + 5) * 2
    assert f"tiny/{PROFILE}: onnx {graphs} graphs; engines {graphs} (tensorrt_rtx 1.7.1, compute capability 8.9)" in out


def test_doctor_names_the_profile_that_fits_the_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "cuda_gpu", lambda: RTX4090)
    result = CliRunner().invoke(main, ["doctor", "--artifacts", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "GPU: NVIDIA GeForce RTX 4090, compute capability 8.9, 23.6 GiB" in result.output
    assert "profile: rtx4090 (pass --gpu rtx4090)" in result.output
    assert f"artifacts in {tmp_path}: none" in result.output


def test_run_without_gpu_flag_picks_the_profile_that_fits(monkeypatch):
    from ltx_trt.commands.request import select_profile

    monkeypatch.setattr(devices, "cuda_gpu", lambda: RTX4090)
    assert select_profile(None).name == "rtx4090"


def test_run_without_gpu_flag_on_a_machine_without_gpu_asks_for_one(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "cuda_gpu", lambda: None)
    result = CliRunner().invoke(main, ["run", "--model", "tiny", "--artifacts", str(tmp_path), "--prompt", "x"])
    _refused(result, "no --gpu given and no profile fits this machine (no CUDA GPU)", "pass --gpu PROFILE")


# Hostile or damaged artifacts (issue #14): every file run opens is confined to its folder and checked by content.

def _own_onnx(linked) -> Path:
    """Turn the linked onnx folder into a folder of our own: hard links to the export's files, the manifest
    copied, so that a test may edit names and replace files without touching the session's export."""
    folder = linked / "tiny" / PROFILE / "onnx"
    source = folder.resolve()
    folder.unlink()
    folder.mkdir()
    for path in source.iterdir():
        if path.name == "manifest.json":
            shutil.copy2(path, folder / path.name)
        elif path.is_file() and not path.name.startswith(".") and not path.name.endswith(".npz"):
            os.link(path, folder / path.name)
    return folder


def _edit(path: Path, change) -> None:
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _same_size_change(path: Path) -> None:
    """Give `path` its own inode, then flip one byte in place and put the modification time back."""
    data = bytearray(path.read_bytes())
    stat = path.stat()
    path.unlink()
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize("field, name", [("file", "../../../../../../../../etc/hostname"), ("file", "/etc/hostname"),
                                         ("data_files", "/etc/hostname")])
def test_run_refuses_onnx_manifest_paths_out_of_its_folder(linked, field, name):
    folder = _own_onnx(linked)
    key = "text_encoder.pre"
    value = name if field == "file" else [{"file": name, "sha256": "0" * 64}]
    _edit(folder / "manifest.json", lambda manifest: manifest["graphs"][key].update({field: value}))
    _refused(_run(linked, "--prompt", "x", "--executor", "onnxruntime"), f"names the file {name!r}",
             "which is not a path inside", "hint: run: ltx-trt export")


def test_run_refuses_an_onnx_file_changed_in_place_with_its_size_and_mtime(linked):
    folder = _own_onnx(linked)
    _same_size_change(folder / "text_encoder.pre.onnx")
    _refused(_run(linked, "--prompt", "x", "--executor", "onnxruntime"), "text_encoder.pre.onnx differs from the "
             "ONNX manifest", "hint: run: ltx-trt export")


def test_run_refuses_a_same_size_corrupted_engine_and_engine_paths_out_of_its_folder(linked, monkeypatch):
    _engines(linked)
    folder = linked / "tiny" / PROFILE / "engines"
    key = f"transformer.{BUCKET.name}.stage1.pre"
    _same_size_change(folder / f"{key}.engine")
    _refused(_run(linked, "--prompt", "x", "--executor", "tensorrt", gpu=RTX4090, monkeypatch=monkeypatch),
             f"{key}.engine differs from the engine manifest", "hint: run: ltx-trt build-engines")
    _edit(folder / "manifest.json", lambda manifest: manifest["engines"][key].update(file="../onnx/manifest.json"))
    _refused(_run(linked, "--prompt", "x", "--executor", "tensorrt", gpu=RTX4090, monkeypatch=monkeypatch),
             "'../onnx/manifest.json', which is not a path inside", "hint: run: ltx-trt build-engines")
