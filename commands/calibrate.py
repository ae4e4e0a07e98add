"""`ltx-trt calibrate`: the activation maxima that FP8 input scales come from, for a bf16 checkpoint.

Runs the distilled pipeline up to the final latents with the torch executor and bf16 weights (what the
quantized model approximates), on each prompt and each bucket of the profile, with a forward pre-hook on
every Linear of the transformer block graph recording max |x|. The chain runs one block graph for all
48 blocks, so the hooks learn which block is running from the order of the calls (pre, block 0..47,
post). Writes core.calibration's file and manifest, atomically. The same maxima as NVIDIA ModelOpt's
"max" calibration (docs/DESIGN.md "Calibration"). Imports core, model, runtime, commands.
"""

import dataclasses
import importlib.metadata
import shutil
import time
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import save_file

from ltx_trt.commands.opening import Opened, chained, open_executor
from ltx_trt.commands.request import RunRequest
from ltx_trt.core.calibration import FILE, METHOD, amax_key, calibration_dir
from ltx_trt.core.manifest import MANIFEST_NAME, sha256_file, write_atomic
from ltx_trt.core.plan import physical, profile_graphs
from ltx_trt.core.profiles import Profile
from ltx_trt.core.source import ModelSource
from ltx_trt.model.files import ModelFiles
from ltx_trt.runtime.pipeline import BucketGraphs, denoised_latents, tokenize
from ltx_trt.runtime.progress import Progress

# Varied scenes, motion, light and sound: activation ranges depend on the content as well as the shape.
DEFAULT_PROMPTS = (
    "a red fox runs through fresh snow at dawn, soft wind and distant birdsong",
    "close-up of an old man laughing in a busy kitchen, pans clatter, warm evening light",
    "aerial shot of ocean waves crashing on black rocks during a storm, thunder rolls",
    "a woman plays piano in a quiet hall, slow camera push-in, cold blue light",
)


class _Recorder:
    """Forward pre-hooks on the block graph's Linears; the block index follows the chain's call order."""

    def __init__(self, inner, block_modules: list[torch.nn.Module], pre_keys: set[str], block_keys: set[str]):
        self.inner, self.pre_keys, self.block_keys = inner, pre_keys, block_keys
        self.block, self.next_block, self.amax = -1, 0, {}
        for module in block_modules:
            for name, linear in module.named_modules():
                if isinstance(linear, torch.nn.Linear):
                    linear.register_forward_pre_hook(self._hook(name))

    def _hook(self, name: str):
        def record(module, args):
            key = (self.block, name)
            value = args[0].detach().abs().amax().float()
            self.amax[key] = torch.maximum(self.amax[key], value) if key in self.amax else value
        return record

    def run(self, graph_key: str, inputs: dict, outputs: dict) -> None:
        if graph_key in self.pre_keys:
            self.next_block = 0
        if graph_key in self.block_keys:
            self.block, self.next_block = self.next_block, self.next_block + 1
        self.inner.run(graph_key, inputs, outputs)

    def release(self, graph_keys: list[str]) -> None:
        self.inner.release(graph_keys)


def calibrate(profile: Profile, source: ModelSource, artifacts: Path, prompts: tuple[str, ...], seed: int,
              log: Callable[[str], None] = print) -> Path:
    """Record the input maxima of every transformer block Linear; returns the calibration folder."""
    started = time.perf_counter()
    profile = dataclasses.replace(profile, precision={**profile.precision, "transformer": "bf16", "text_encoder": "bf16"})
    files = ModelFiles(source)
    graphs = profile_graphs(profile, files.dims)
    request = RunRequest("", profile, source, artifacts, profile.buckets[0], seed, "torch", Path("unused.mp4"))
    opened = open_executor("torch", request, files, physical(graphs))
    recorder = _recorder(opened, graphs)
    executor = chained(Opened(recorder, opened.device, None), request, files, graphs, log)
    for bucket in profile.buckets:
        selected = BucketGraphs.select(graphs, bucket)
        for i, prompt in enumerate(prompts, 1):
            log(f"calibrating on {bucket.name}, prompt {i}/{len(prompts)}")
            tokens = tokenize(source.gemma, prompt, log)
            with torch.no_grad():
                denoised_latents(tokens, seed, graphs=selected, bucket=bucket, config=files.config, executor=executor,
                                 device=opened.device, cuda_graphs=False, progress=Progress(lambda line: None),
                                 done=lambda keys: None)
    folder = _write(recorder.amax, artifacts, source, files, profile, prompts, seed)
    log(f"calibration of {len(recorder.amax)} Linears written to {folder} ({time.perf_counter() - started:.1f} s)")
    return folder


def _recorder(opened: Opened, graphs) -> _Recorder:
    transformer = [g for g in graphs if g.component == "transformer"]
    parts = [p for g in transformer for p in g.parts]
    modules = opened.executor.modules
    blocks = {id(m.inner.block): m.inner.block for p in parts if p.variant.endswith(".block") for m in [modules[p.key]]}
    return _Recorder(opened.executor, list(blocks.values()), {g.part("pre").key for g in transformer},
                     {p.key for p in parts if p.variant.endswith(".block")})


def _write(amax: dict, artifacts: Path, source: ModelSource, files: ModelFiles, profile: Profile, prompts, seed) -> Path:
    folder = calibration_dir(artifacts, source.model_id)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file({amax_key(block, name): value.reshape(()).cpu() for (block, name), value in sorted(amax.items())},
              str(staging / FILE))
    write_atomic(staging / MANIFEST_NAME, {
        "format": 1, "stage": "calibrate", "model_id": source.model_id, "file": FILE, "method": METHOD,
        "sha256": sha256_file(staging / FILE),
        "checkpoint": {"path": str(source.checkpoint), "fingerprint": files.checkpoint.header.fingerprint},
        "prompts": list(prompts), "seed": seed, "profile": profile.folder,
        "buckets": [dataclasses.asdict(b) for b in profile.buckets], "linears": len(amax),
        "versions": {name: importlib.metadata.version(name) for name in ("ltx-trt", "ltx-core", "torch")},
    })
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder
