"""Which executor `run` uses: the one asked for, or for `auto` the engines where this GPU can run them.

Imports core and runtime.devices.
"""

from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import Profile
from ltx_trt.runtime import devices


# Precisions whose exported graphs ONNX Runtime cannot run: NVFP4 needs TensorRT's own FP4 quantizer op,
# and ONNX Runtime 1.32 has no FP4 kernels at all.
NOT_ONNXRUNTIME = ("nvfp4",)


def choose_executor(requested: str, profile: Profile, gpu: devices.Gpu | None) -> tuple[str, str]:
    """(executor, why): `auto` is tensorrt on a GPU the profile's engines target with the backend installed,
    else onnxruntime, or torch where the profile's graphs are beyond ONNX Runtime."""
    fp4 = sorted(c for c, p in profile.precision.items() if p in NOT_ONNXRUNTIME)
    if requested == "onnxruntime" and fp4:
        raise UserError(f"ONNX Runtime cannot run the {', '.join(fp4)} graphs of {profile.name} (NVFP4: no FP4 kernels, "
                        "no TensorRT FP4 quantizer)", "use --executor torch, or --precision transformer=fp8")
    if requested != "auto":
        return requested, "--executor " + requested
    fallback, note = ("torch", "; ONNX Runtime cannot run NVFP4 graphs") if fp4 else ("onnxruntime", "")
    if gpu is None:
        return fallback, f"auto: no CUDA GPU here, torch.cuda.is_available() is False{note}"
    if gpu.compute_capability not in profile.compute_capabilities:
        return fallback, (f"auto: {gpu.name} (compute capability {gpu.compute_capability}) is not a target of "
                          f"the {profile.name} engines ({', '.join(profile.compute_capabilities)}){note}")
    if devices.backend_version(profile.backend) is None:
        return fallback, f"auto: {profile.backend} is not installed, so the engines cannot run{note}"
    return "tensorrt", f"auto: {gpu.name} (compute capability {gpu.compute_capability}) runs the {profile.name} engines"
