"""The job queue of `ltx-trt serve`: a bounded queue of clip requests and one worker thread that renders them
in turn with one opened pipeline (commands/session.py), recording each job's state, stage and step.

No HTTP here (commands/serve.py is the web side). A job is queued, running, done, failed or cancelled; only a
queued job can be cancelled (a running clip is not interrupted mid-step). Imports core and commands.
"""

import threading
import time
import traceback
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ltx_trt.commands.request import RunRequest
from ltx_trt.core.errors import UserError
from ltx_trt.runtime.progress import Progress

FINISHED = ("done", "failed", "cancelled")
KEEP_FINISHED = 1000  # finished jobs remembered (their status and mp4); the oldest are forgotten beyond it


class QueueFull(Exception):
    """The queue holds its capacity of waiting jobs."""


@dataclass
class Job:
    id: str
    request: RunRequest
    state: str = "queued"
    stage: str | None = None
    step: tuple[int, int] | None = None  # (step, steps) of the stage, while it denoises
    message: str | None = None  # why it failed
    seconds: float | None = None
    created: float = field(default_factory=time.time)

    def status(self, position: int | None) -> dict:
        return {"id": self.id, "state": self.state, "position": position, "stage": self.stage,
                "step": list(self.step) if self.step else None, "message": self.message, "seconds": self.seconds}


class JobProgress(Progress):
    """Progress that also records the job's current stage and step (the status the server reports)."""

    def __init__(self, job: Job, log: Callable[[str], None]) -> None:
        super().__init__(log)
        self.job = job

    @contextmanager
    def stage(self, name: str, detail: str = ""):
        outer = self.job.stage if self._nested else None  # weight packing runs inside another stage
        self.job.stage, self.job.step = name, None
        with super().stage(name, detail):
            yield
        if outer is not None:
            self.job.stage = outer

    def step(self, index: int, count: int) -> None:
        super().step(index, count)
        self.job.step = (index, count)


class Jobs:
    """Waiting jobs (at most `capacity`), every job's record, and the worker that renders them with `session`."""

    def __init__(self, session, capacity: int, folder: Path, log: Callable[[str], None] = print) -> None:
        self.session, self.capacity, self.folder, self.log = session, capacity, Path(folder), log
        self.jobs: dict[str, Job] = {}
        self.waiting: deque[Job] = deque()
        self.changed = threading.Condition()
        self.stopping = False
        self.worker = threading.Thread(target=self._work, name="ltx-trt gpu worker", daemon=True)

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify_all()

    def submit(self, make: Callable[[Path], RunRequest]) -> Job:
        """Queue the request `make(output path)` builds; QueueFull when `capacity` jobs already wait."""
        job_id = uuid.uuid4().hex
        request = make(self.folder / f"{job_id}.mp4")
        with self.changed:
            if len(self.waiting) >= self.capacity:
                raise QueueFull(f"the queue is full ({self.capacity} jobs waiting)")
            job = Job(job_id, request)
            self.jobs[job_id] = job
            self.waiting.append(job)
            self._forget_old()
            self.changed.notify_all()
        return job

    def status(self, job_id: str) -> dict | None:
        with self.changed:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            position = next((i for i, j in enumerate(self.waiting) if j is job), None)
            return job.status(position)

    def cancel(self, job_id: str) -> str | None:
        """Cancel a queued job; returns its state afterwards (None: no such job)."""
        with self.changed:
            job = self.jobs.get(job_id)
            if job is not None and job.state == "queued":
                self.waiting.remove(job)
                job.state = "cancelled"
            return None if job is None else job.state

    def _work(self) -> None:
        while True:
            with self.changed:
                self.changed.wait_for(lambda: self.waiting or self.stopping)
                if self.stopping:
                    return
                job = self.waiting.popleft()
                job.state = "running"
            self._render(job)

    def _render(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            self.session.run(job.request, progress=JobProgress(job, self.log))
        except UserError as err:
            job.message = str(err)
        except Exception as err:  # a bug: logged with its traceback; the server keeps serving the other jobs
            self.log(traceback.format_exc().rstrip())
            job.message = f"{type(err).__name__}: {err}"
        with self.changed:
            job.seconds = time.perf_counter() - started
            job.state = "failed" if job.message else "done"

    def _forget_old(self) -> None:
        finished = [j for j in self.jobs.values() if j.state in FINISHED]
        for job in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self.jobs[job.id]
            job.request.output.unlink(missing_ok=True)
