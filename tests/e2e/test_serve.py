"""`ltx-trt serve` over real HTTP on the tiny model: the command started as a process on a free localhost port,
a job submitted, polled through its stages, its mp4 downloaded and decoded; a full queue answers 429, a queued
job is cancelled, bad input is a 400 with the one-line message. No part of the pipeline is mocked."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from ltx_trt.commands.serve import job_arguments
from ltx_trt.core.errors import UserError
from tests.e2e.test_run_cli import _check_clip

PROFILE = "rtx4090"
STARTUP_SECONDS = 300  # importing torch and opening the executor on a busy 2-core machine
CLIP_SECONDS = 900


@pytest.fixture(scope="module")
def exported(tiny_export):
    return tiny_export(PROFILE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(method: str, url: str, body=None) -> tuple[int, bytes]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _json(method: str, url: str, body=None) -> tuple[int, dict]:
    status, raw = _call(method, url, body)
    return status, json.loads(raw)


def _wait(predicate, seconds: float, what: str, server):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited while waiting for {what}"
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def server(exported, tmp_path):
    port = _free_port()
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "ltx_trt.cli", "serve", "--gpu", PROFILE, "--model", "tiny",
                                "--artifacts", str(exported), "--port", str(port), "--queue", "1",
                                "--jobs-dir", str(tmp_path / "jobs")], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return _call("GET", f"{url}/jobs/none")[0] == 404
        except OSError:
            return False

    try:
        _wait(up, STARTUP_SECONDS, "the server to listen", process)
        yield url, process, tmp_path / "serve.log"
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def test_serve_renders_a_job_over_http_and_refuses_what_run_refuses(server, tmp_path):
    url, process, log = server
    status, refused = _json("POST", f"{url}/jobs", {"prompt": "a red fox", "frames": 130})
    assert status == 400 and "--frames 130 is not 8k+1" in refused["error"] and refused["hint"]
    assert _json("POST", f"{url}/jobs", {"prompt": "x", "seed": "3"})[0] == 400
    assert _json("POST", f"{url}/jobs", b"{not json")[1]["error"] == "the body is not JSON"
    status, job = _json("POST", f"{url}/jobs", {"prompt": "a red fox", "seed": 3})
    assert status == 202 and job["state"] == "queued"
    seen = set()

    def running():
        state = _json("GET", f"{url}/jobs/{job['id']}")[1]
        seen.add((state["state"], state["stage"]))
        return state["state"] == "running"

    _wait(running, 60, "the job to start", process)
    status, waiting = _json("POST", f"{url}/jobs", {"prompt": "gulls over the sea"})
    assert status == 202 and waiting["position"] == 0
    status, full = _json("POST", f"{url}/jobs", {"prompt": "one too many"})
    assert status == 429 and "queue is full" in full["error"]
    assert _json("DELETE", f"{url}/jobs/{waiting['id']}") == (200, {**waiting, "state": "cancelled",
                                                                     "position": None})
    assert _json("DELETE", f"{url}/jobs/{job['id']}")[0] == 409  # running: not interrupted
    assert _call("GET", f"{url}/jobs/{job['id']}/video")[0] == 409

    def finished():
        state = _json("GET", f"{url}/jobs/{job['id']}")[1]
        seen.add((state["state"], state["stage"]))
        return state if state["state"] in ("done", "failed") else None

    done = _wait(finished, CLIP_SECONDS, "the clip", process)
    assert done["state"] == "done" and done["message"] is None, log.read_text()
    assert any(state == "running" and stage for state, stage in seen)  # the stage it is in (load, text, stage 1, ...)
    status, mp4 = _call("GET", f"{url}/jobs/{job['id']}/video")
    assert status == 200
    (tmp_path / "fox.mp4").write_bytes(mp4)
    _check_clip(tmp_path / "fox.mp4")
    assert _json("GET", f"{url}/jobs/{waiting['id']}")[1]["state"] == "cancelled"
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize("body, needle", [
    ([], "not a JSON object"),
    ({"seed": 3}, "no prompt"),
    ({"prompt": "x", "output": "/etc/passwd"}, "unknown field 'output'"),
    ({"prompt": "x", "width": True}, "width True is not a number"),
    ({"prompt": 3}, "prompt 3 is not a string"),
])
def test_a_job_body_is_checked_field_by_field(body, needle):
    with pytest.raises(UserError, match=needle.replace("(", "\\(")):
        job_arguments(body)
