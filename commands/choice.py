"""Which executor `run` uses: the one asked for, or for `auto` the engines where this GPU can run them.

Imports core and runtime.devices.
"""

from ltx_trt.core.profiles import Profile
from ltx_trt.runtime import devices


def choose_executor(requested: str, profile: Profile, gpu: devices.Gpu | None) -> tuple[str, str]:
    """(executor, why): `auto` is tensorrt on a GPU the profile's engines target with the backend installed."""
    if requested != "auto":
        return requested, "--executor " + requested
    if gpu is None:
        return "onnxruntime", "auto: no CUDA GPU here, torch.cuda.is_available() is False"
    if gpu.compute_capability not in profile.compute_capabilities:
        return "onnxruntime", (f"auto: {gpu.name} (compute capability {gpu.compute_capability}) is not a target of "
                               f"the {profile.name} engines ({', '.join(profile.compute_capabilities)})")
    if devices.backend_version(profile.backend) is None:
        return "onnxruntime", f"auto: {profile.backend} is not installed, so the engines cannot run"
    return "tensorrt", f"auto: {gpu.name} (compute capability {gpu.compute_capability}) runs the {profile.name} engines"
