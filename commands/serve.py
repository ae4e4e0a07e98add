"""`ltx-trt serve`: an HTTP job server (FastAPI on uvicorn) over one opened pipeline and one GPU worker.

  POST   /jobs            {"prompt": ..., "seed": 3, "width": 768, ...} -> 202 {"id": ...}; 429 when the queue is full
  GET    /jobs/{id}       state (queued, running, done, failed, cancelled), stage, step [i, n], message
  GET    /jobs/{id}/video the mp4, once done
  DELETE /jobs/{id}       cancels a queued job
Every field is checked by `run`'s rules (commands.api.clip_request) before it is queued: a bad one is a 400 with
{"error", "hint"}, never a traceback. Files are not taken over HTTP (no --lora or --distilled-lora paths).
Imports core and commands; FastAPI and uvicorn only inside `serve` and `app`.
"""

from pathlib import Path
from typing import Callable

from ltx_trt.commands.api import clip_request
from ltx_trt.commands.jobs import Jobs, QueueFull
from ltx_trt.core.errors import UserError

# What a job may give, and its JSON type (checked before `run`'s rules, which check the values).
GUIDER_NUMBERS = ("video_cfg_guidance_scale", "audio_cfg_guidance_scale", "video_stg_guidance_scale",
                  "audio_stg_guidance_scale", "video_rescale_scale", "audio_rescale_scale", "a2v_guidance_scale",
                  "v2a_guidance_scale")
FIELDS = {"prompt": str, "seed": int, "width": int, "height": int, "frames": int, "pipeline": str,
          "negative_prompt": str, "num_inference_steps": int, "video_skip_step": int, "audio_skip_step": int,
          "video_stg_blocks": str, "audio_stg_blocks": str, **{name: float for name in GUIDER_NUMBERS}}
CLIP_ARGUMENTS = ("seed", "width", "height", "frames", "pipeline")  # the rest is guidance


def job_arguments(body) -> tuple[str, dict]:
    """(prompt, clip_request's keyword arguments) of a POST body, every field known and of its JSON type."""
    if not isinstance(body, dict):
        raise UserError("the job is not a JSON object", 'send {"prompt": "..."} and, optionally, ' + ", ".join(FIELDS))
    for name, value in body.items():
        wanted = FIELDS.get(name)
        if wanted is None:
            raise UserError(f"unknown field {name!r}", f"use: {', '.join(FIELDS)}")
        number = wanted is float and isinstance(value, int)
        if value is not None and (isinstance(value, bool) or not (isinstance(value, wanted) or number)):
            raise UserError(f"{name} {value!r} is not {'a string' if wanted is str else 'a number'}",
                            f"send {name} as a JSON {'string' if wanted is str else 'number'}")
    if "prompt" not in body:
        raise UserError("no prompt", 'send {"prompt": "..."}')
    clip = {k: v for k, v in body.items() if k in CLIP_ARGUMENTS}
    guidance = {k: v for k, v in body.items() if k not in CLIP_ARGUMENTS and k != "prompt"}
    return body["prompt"], {**clip, "guidance": guidance}


def app(jobs: Jobs, log: Callable[[str], None] = print):
    """The FastAPI application over `jobs`."""
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, JSONResponse

    api = FastAPI(title="ltx-trt", docs_url=None, redoc_url=None, openapi_url=None)
    base = jobs.session.base

    def error(status: int, message: str, hint: str = "") -> JSONResponse:
        return JSONResponse({"error": message, "hint": hint}, status_code=status)

    @api.post("/jobs")
    async def submit(request: Request):
        try:
            body = await request.json()
        except ValueError:  # json.JSONDecodeError, UnicodeDecodeError
            return error(400, "the body is not JSON", 'send {"prompt": "..."} with Content-Type: application/json')
        try:
            prompt, arguments = job_arguments(body)
            job = jobs.submit(lambda output: clip_request(base, prompt, output=output, log=log, **arguments))
        except UserError as err:
            return error(400, err.message, err.hint)
        except QueueFull as err:
            return error(429, str(err), "retry once a job has finished")
        return JSONResponse(jobs.status(job.id), status_code=202)

    @api.get("/jobs/{job_id}")
    def status(job_id: str):
        found = jobs.status(job_id)
        return JSONResponse(found) if found else error(404, f"no job {job_id}")

    @api.get("/jobs/{job_id}/video")
    def video(job_id: str):
        found = jobs.status(job_id)
        if found is None:
            return error(404, f"no job {job_id}")
        if found["state"] != "done":
            return error(409, f"job {job_id} is {found['state']}", "wait until its state is done")
        return FileResponse(jobs.jobs[job_id].request.output, media_type="video/mp4", filename=f"{job_id}.mp4")

    @api.delete("/jobs/{job_id}")
    def cancel(job_id: str):
        state = jobs.cancel(job_id)
        if state is None:
            return error(404, f"no job {job_id}")
        if state != "cancelled":
            return error(409, f"job {job_id} is {state}: only a queued job can be cancelled")
        return JSONResponse(jobs.status(job_id))

    return api


def serve(session, host: str, port: int, capacity: int, folder: Path, log: Callable[[str], None] = print) -> None:
    """Serve `session` (commands/session.py) on host:port until interrupted; mp4s are written into `folder`."""
    import uvicorn

    Path(folder).mkdir(parents=True, exist_ok=True)
    jobs = Jobs(session, capacity, folder, log)
    jobs.start()
    log(f"serving on http://{host}:{port} (queue of {capacity}; POST /jobs, GET /jobs/ID, GET /jobs/ID/video, "
        "DELETE /jobs/ID)")
    try:
        uvicorn.Server(uvicorn.Config(app(jobs, log), host=host, port=port, log_level="warning")).run()
    finally:
        jobs.stop()
