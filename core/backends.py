"""The TensorRT backends a profile may name (each is also its Python module) and how to install each.

Pure data; imports nothing.
"""

PIP_INSTALL = {
    "tensorrt_rtx": "pip install tensorrt-rtx",  # RTX GPUs; builds engines without a GPU
    "tensorrt": "pip install tensorrt-cu13 --extra-index-url https://pypi.nvidia.com",  # datacenter GPUs
}
BACKENDS = tuple(PIP_INSTALL)
