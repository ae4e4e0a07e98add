"""One denoising step of one transformer graph, over buffers allocated once: executor call + Euler update.

`Step` owns the graph's I/O buffers (named by the ONNX I/O names), the sampler scratch, the sigma
tables and the step index, all on one device. The step reads sigma through the device-side index
and writes everything in place, so the same function runs eagerly or is captured once in a CUDA
graph after its first eager step and replayed for the others with no host sync. Imports torch and ltx_trt.core / runtime only.
"""

import torch

from ltx_trt.core.components import MODALITIES
from ltx_trt.core.plan import Graph
from ltx_trt.runtime import sampling
from ltx_trt.runtime.executors import Executor, allocate


class Step:
    """The buffer set of one stage and the step function that advances it (optionally as a CUDA graph).

    The latent state *is* the `<modality>_tokens` input buffer (the latent dtype is the graph's:
    bf16 as in the official pipelines, fp32 for fp32 graphs); the executor reads it and the Euler
    update overwrites it. Without image conditioning the denoise mask is 1 everywhere, so timesteps =
    sigma and the official x0 blend with the clean latent is the identity (skipped); `condition` sets a
    modality's mask and clean latent (runtime/conditioning.py), and the step then does both as upstream.
    """

    capturable = True  # whether every step runs the same launches (runtime/capture.py may record them)

    def __init__(self, graph: Graph, executor: Executor, sigma_values, device: torch.device,
                 noise_scale: float | None = None) -> None:
        device = torch.device(device)
        self.graph_key, self.executor, self.device, self.grid = graph.key, executor, device, graph.grid
        self.inputs = allocate(graph.inputs, device)
        self.outputs = allocate(graph.outputs, device)
        self.tables = sampling.sigma_tables(sigma_values, device)
        self.num_steps = len(sigma_values) - 1
        # the loop's noise scale: the official stages pass 1.0 (stage 1) or their first sigma (stage 2)
        first = sigma_values[0] if noise_scale is None else noise_scale
        self.noise_scale = torch.tensor([first], dtype=torch.float32, device=device)
        self.reciprocal = device.type == "cuda"  # see sampling.velocity_divisors
        self.index = torch.zeros(1, dtype=torch.int64, device=device)  # the step index, on the device
        self.dt = torch.zeros(1, dtype=torch.float32, device=device)
        self.divisor = torch.zeros(1, dtype=torch.float32, device=device)
        # per modality: x0 (then velocity) in the latent dtype, float32 scratch; both (1, N, C)
        self.x0 = {m: torch.zeros_like(self.inputs[f"{m}_tokens"]) for m in MODALITIES}
        self.scratch = {m: torch.zeros_like(self.inputs[f"{m}_tokens"], dtype=torch.float32) for m in MODALITIES}
        self.graph: torch.cuda.CUDAGraph | None = None
        self.masks: dict[str, torch.Tensor] = {}  # modality -> (1, N, 1) float32 denoise mask, where conditioned
        self.cleans: dict[str, torch.Tensor] = {}  # modality -> (1, N, C) clean latent, where conditioned

    def condition(self, modality: str, mask: torch.Tensor, clean: torch.Tensor) -> None:
        """Condition a modality: its (1, N, 1) float32 denoise mask and (1, N, C) clean latent (ltx-core's
        LatentState fields); timesteps become sigma x mask and each x0 is blended with the clean latent."""
        self.masks[modality] = mask.to(self.device, torch.float32)
        self.cleans[modality] = clean.to(self.device)

    def timesteps_(self, modality: str, sigma: torch.Tensor) -> None:
        """`<modality>_timesteps` (rows, N) = sigma (rows,) x the denoise mask, as timesteps_from_mask."""
        timesteps = self.inputs[f"{modality}_timesteps"]
        mask = self.masks.get(modality)
        timesteps.copy_((sigma.unsqueeze(-1) if mask is None else mask[..., 0] * sigma.unsqueeze(-1))
                        .expand_as(timesteps))

    def blend_(self, modality: str, x0: torch.Tensor) -> None:
        """The loop's post_process_latent where the modality is conditioned (the identity elsewhere)."""
        if modality in self.masks:
            from ltx_trt.runtime.conditioning import blend_

            blend_(x0, self.masks[modality], self.cleans[modality])

    def latent(self, modality: str) -> torch.Tensor:
        """The (1, N, 128) patchified latent state of `modality` (the executor's token input)."""
        return self.inputs[f"{modality}_tokens"]

    def buffers(self) -> list[torch.Tensor]:
        """Every tensor this step owns (for tests that check nothing else is allocated)."""
        return [*self.inputs.values(), *self.outputs.values(), *self.tables, self.index, self.dt, self.divisor,
                *self.x0.values(), *self.scratch.values()]

    def reset(self) -> None:
        self.index.zero_()

    def __call__(self) -> None:
        """Advance one step: replay the captured graph if there is one, else run eagerly."""
        if self.graph is not None:
            self.graph.replay()
        else:
            self.advance()

    def advance(self) -> None:
        """The step function: set sigma from the index, run the graph, x0, Euler, index += 1."""
        for m in MODALITIES:
            torch.index_select(self.tables.sigmas, 0, self.index, out=self.inputs[f"{m}_sigma"])
            self.timesteps_(m, self.inputs[f"{m}_sigma"])
        torch.index_select(self.tables.dts, 0, self.index, out=self.dt)
        torch.index_select(self.tables.divisors, 0, self.index, out=self.divisor)
        self.executor.run(self.graph_key, self.inputs, self.outputs)
        for m in MODALITIES:
            tokens, x0, scratch = self.inputs[f"{m}_tokens"], self.x0[m], self.scratch[m]
            sampling.to_x0_(x0, tokens, self.outputs[f"{m}_velocity"], self.inputs[f"{m}_timesteps"], scratch)
            self.blend_(m, x0)
            sampling.euler_step_(tokens, x0, self.divisor, self.dt, scratch, self.reciprocal)
        self.index.add_(1)

    def capture(self) -> None:
        """Record `advance` into a CUDA graph (its allocations in the graph's own memory pool until
        `drop_graph`). Call after an eager step of this stage: that step
        did the lazy initialisation (cuBLAS handles, TensorRT contexts, compiled kernels) that must not
        happen inside a capture, so no warm-up forward is spent. Recording executes nothing: the state
        and the index are left as they are, and the next call replays the graph.
        """
        if self.device.type != "cuda":
            raise RuntimeError("CUDA graphs need a CUDA device; run the step eagerly instead")
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.advance()
        self.graph = graph

    def drop_graph(self) -> None:
        """Forget the captured graph (its memory pool goes back to the allocator); later calls run eagerly."""
        self.graph = None
