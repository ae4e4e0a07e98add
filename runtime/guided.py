"""The guided denoising step of the dev pipelines' stage 1: all guidance passes of a step in one batched call.

Mirrors ltx-pipelines' `multi_modal_guider_denoising_func`: the conditional pass, and where the guiders
ask for them the negative-prompt pass (CFG), the STG pass (video / audio self-attention skipped in the
STG blocks) and the modality-isolated pass (audio-video cross-attention skipped in every block). The
official code calls the transformer once per pass; here they are the rows of one batch through the
guided graph, whose `perturbation_masks` say per block and row which attention is skipped (masks
built by ltx-core's own BatchedPerturbationConfig). Each row's velocity becomes an x0 as in the
distilled step, ltx-core's MultiModalGuider combines them per modality, and the Euler step advances
the one latent. Imports torch, ltx-core's guidance types and ltx_trt.core / runtime only.
"""

from dataclasses import dataclass

import torch
from ltx_core.components.guiders import MultiModalGuider, MultiModalGuiderParams
from ltx_core.guidance.perturbations import (
    BatchedPerturbationConfig,
    Perturbation,
    PerturbationConfig,
    PerturbationType,
)

from ltx_trt.core.components import MODALITIES
from ltx_trt.core.plan import Graph
from ltx_trt.core import shapes
from ltx_trt.runtime import sampling
from ltx_trt.runtime.executors import Executor
from ltx_trt.runtime.step import Step


@dataclass(frozen=True)
class Guiders:
    """The video and audio guiders of stage 1 (ltx-core's, constant over the steps, as the official CLI's)."""

    video: MultiModalGuider
    audio: MultiModalGuider

    @classmethod
    def of(cls, video: MultiModalGuiderParams, audio: MultiModalGuiderParams) -> "Guiders":
        return cls(MultiModalGuider(video), MultiModalGuider(audio))

    def passes(self) -> tuple[str, ...]:
        """The passes a step runs, in batch order, as the official function decides them."""
        both = (self.video, self.audio)
        wanted = {"negative": any(g.do_unconditional_generation() for g in both),
                  "perturbed": any(g.do_perturbed_generation() for g in both),
                  "isolated": any(g.do_isolated_modality_generation() for g in both)}
        return ("conditional", *(name for name, on in wanted.items() if on))

    def skips(self, step_index: int) -> bool:
        """Whether this step reuses the last x0 (`skip_step`; refused at the boundary unless equal)."""
        return self.video.should_skip_step(step_index) and self.audio.should_skip_step(step_index)

    def perturbations(self, rows: tuple[str, ...]) -> BatchedPerturbationConfig:
        """What each batch row skips, as the official passes configure it (padding rows: nothing)."""
        stg = [(self.video, PerturbationType.SKIP_VIDEO_SELF_ATTN), (self.audio, PerturbationType.SKIP_AUDIO_SELF_ATTN)]
        by_pass = {
            "perturbed": [Perturbation(kind, g.params.stg_blocks) for g, kind in stg if g.do_perturbed_generation()],
            "isolated": [Perturbation(PerturbationType.SKIP_A2V_CROSS_ATTN, None),
                         Perturbation(PerturbationType.SKIP_V2A_CROSS_ATTN, None)],
        }
        return BatchedPerturbationConfig([PerturbationConfig(by_pass.get(row, [])) for row in rows])


def perturbation_masks(config: BatchedPerturbationConfig, blocks: int, dtype: torch.dtype,
                       device: torch.device) -> torch.Tensor:
    """(blocks, len(shapes.PERTURBATIONS), batch): 0 where a row skips that attention in that block, else 1."""
    types = [PerturbationType(value) for value in shapes.PERTURBATIONS]
    return torch.stack([torch.stack([config.mask(t, block, device, dtype) for t in types])
                        for block in range(blocks)])


class GuidedStep(Step):
    """A Step over the guided graph: the state is one (1, N, C) latent per modality, copied into every
    row of the batched token input; the rows' x0 are combined by the guiders before the Euler update.

    Rows beyond the passes (the graph's batch is fixed) repeat the conditional pass and are ignored.
    `x0` and `scratch` are (1, N, C), as the loop's noise draw expects; the rows' x0 live in `rows_x0`.
    """

    def __init__(self, graph: Graph, executor: Executor, sigma_values, device: torch.device,
                 guiders: Guiders) -> None:
        super().__init__(graph, executor, sigma_values, device, noise_scale=1.0)  # the official default
        self.guiders, self.rows = guiders, guiders.passes()
        if guiders.video.params.skip_step != guiders.audio.params.skip_step:
            raise ValueError("video and audio skip steps differ: a step where one modality alone skips needs "
                             "a per-modality enable the graphs do not take")
        batch = self.inputs["video_tokens"].shape[0]
        if len(self.rows) > batch:
            raise ValueError(f"{len(self.rows)} guidance passes do not fit graph {graph.key} (batch {batch})")
        self.rows_x0 = self.x0
        self.state = {m: torch.zeros_like(self.inputs[f"{m}_tokens"][:1]) for m in MODALITIES}
        self.x0 = {m: torch.zeros_like(s) for m, s in self.state.items()}
        self.last_x0 = {m: torch.zeros_like(s) for m, s in self.state.items()}
        self.scratch = {m: torch.zeros_like(s, dtype=torch.float32) for m, s in self.state.items()}
        self.host_index = 0  # the step index on the host, for skip steps (never captured then)
        self.capturable = not any(guiders.skips(i) for i in range(self.num_steps))

    def latent(self, modality: str) -> torch.Tensor:
        return self.state[modality]

    def buffers(self) -> list[torch.Tensor]:
        return [*super().buffers(), *self.rows_x0.values(), *self.state.values(), *self.last_x0.values()]

    def reset(self) -> None:
        super().reset()
        self.host_index = 0

    def set_contexts(self, positive: dict[str, torch.Tensor], negative: dict[str, torch.Tensor]) -> None:
        """Row contexts (the negative pass gets the negative prompt's) and the rows' perturbation masks."""
        for m in MODALITIES:
            rows = self.inputs[f"{m}_context"]
            for r in range(rows.shape[0]):
                source = negative if r < len(self.rows) and self.rows[r] == "negative" else positive
                rows[r].copy_(source[f"{m}_context"][0])
        masks = self.inputs["perturbation_masks"]
        padded = self.rows + ("conditional",) * (masks.shape[-1] - len(self.rows))
        masks.copy_(perturbation_masks(self.guiders.perturbations(padded), masks.shape[0], masks.dtype, self.device))

    def __call__(self) -> None:
        if self.graph is None and self.guiders.skips(self.host_index):
            self._skip()
        else:
            super().__call__()
        self.host_index += 1

    def advance(self) -> None:
        """Set sigma from the index, run the guided passes, then the Euler update."""
        for m in MODALITIES:
            sigma = self.inputs[f"{m}_sigma"]  # (batch,): every row at the step's sigma
            torch.index_select(self.tables.sigmas, 0, self.index.expand_as(sigma), out=sigma)
            self.timesteps_(m, sigma)
        self.guide()
        self._euler()

    def guide(self) -> None:
        """One guided evaluation at the sigma and timesteps already in the inputs: the state copied into
        every row, the graph run, x0 per row, the guiders' x0 into `x0` and `last_x0` (1, N, C) per modality.
        The Euler step (`advance`) and the res_2s loop (runtime/hq.py) both call it."""
        for m in MODALITIES:
            self.inputs[f"{m}_tokens"].copy_(self.state[m].expand_as(self.inputs[f"{m}_tokens"]))
        self.executor.run(self.graph_key, self.inputs, self.outputs)
        for m, guider in zip(MODALITIES, (self.guiders.video, self.guiders.audio)):
            x0 = {}
            for r, name in enumerate(self.rows):
                row = slice(r, r + 1)
                sampling.to_x0_(self.rows_x0[m][row], self.state[m], self.outputs[f"{m}_velocity"][row],
                                self.inputs[f"{m}_timesteps"][row], self.scratch[m])
                x0[name] = self.rows_x0[m][row]
            guided = guider.calculate(x0["conditional"], x0.get("negative", 0.0), x0.get("perturbed", 0.0),
                                      x0.get("isolated", 0.0))
            self.x0[m].copy_(guided)
            self.last_x0[m].copy_(guided)

    def _skip(self) -> None:
        """A skipped step: the Euler update with the last step's guided x0, no transformer call."""
        for m in MODALITIES:
            self.x0[m].copy_(self.last_x0[m])
        self._euler()

    def _euler(self) -> None:
        """The Euler update of the state with `x0` at the step's sigma, then index += 1."""
        torch.index_select(self.tables.dts, 0, self.index, out=self.dt)
        torch.index_select(self.tables.divisors, 0, self.index, out=self.divisor)
        for m in MODALITIES:
            self.blend_(m, self.x0[m])  # the loop's post_process_latent, after the guider (and on skip steps)
            sampling.euler_step_(self.state[m], self.x0[m], self.divisor, self.dt, self.scratch[m], self.reciprocal)
        self.index.add_(1)
