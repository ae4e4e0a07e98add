"""`ltx-trt run --prompts FILE`: many clips over one opened pipeline, one bad line or failed clip never losing
the others, and a summary table at the end.

A line is a prompt (plain text) or a JSON object {"prompt", "seed", "size", "output"} (JSONL); empty lines and
lines starting with # are skipped. Every field is checked by `run`'s rules (commands.request) and an output
name must stay inside the folder of --output (the file is hostile input). Imports core and commands.
"""

import dataclasses
import json
import re
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ltx_trt.commands.request import RunRequest, check_numbers, check_output, select_bucket
from ltx_trt.core.errors import UserError
from ltx_trt.core.trust import confined

FIELDS = ("prompt", "seed", "size", "output")  # what a JSONL line may give
SIZE = re.compile(r"(\d+)x(\d+)(?:x(\d+))?")  # WIDTHxHEIGHT[xFRAMES]
MAX_LINES = 10_000  # a prompts file is read whole; beyond this it is not a prompts file
FIX = "fix or remove the line (text: one prompt; JSONL: {\"prompt\": ..., \"seed\": 3, \"size\": \"768x512x121\", " \
      "\"output\": \"fox.mp4\"})"


@dataclass(frozen=True)
class Row:
    """One line's result for the summary: the clip it made and how long it took, or why it has none."""

    line: int
    seconds: float | None
    result: str  # the output path, or the error


def read_requests(path: Path, base: RunRequest) -> list[tuple[int, RunRequest | UserError]]:
    """(line number, its request or why it has none) for every prompt line of `path`, checked before any model
    work. `base` holds the flags' values (profile, bucket, seed, pipeline, output folder) a line may override."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read the prompts file {path}: {err}", "pass a UTF-8 text or JSONL file") from None
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise UserError(f"the prompts file {path} has {len(lines)} lines", f"split it into files of up to {MAX_LINES}")
    parsed, taken = [], {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            request = _request(line.strip(), number, base)
            if request.output in taken:
                raise UserError(f"output {request.output} is line {taken[request.output]}'s too",
                                "give each line its own output")
            taken[request.output] = number
            parsed.append((number, request))
        except UserError as err:
            parsed.append((number, err))
    if not parsed:
        raise UserError(f"the prompts file {path} has no prompt", "write one prompt per line (or one JSON object)")
    return parsed


def _request(line: str, number: int, base: RunRequest) -> RunRequest:
    fields = _json_fields(line) if line.startswith("{") else {"prompt": line}
    prompt, seed, size = fields["prompt"], fields.get("seed", base.seed), fields.get("size")
    if not isinstance(prompt, str) or not prompt.strip():
        raise UserError("the prompt is empty or not a string", FIX)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserError(f"seed {seed!r} is not a whole number", "use a seed such as 3")
    check_numbers(base.profile, {"--seed": seed})
    bucket = base.bucket if size is None else select_bucket(base.profile, *_size(size, base))
    folder = base.output.parent
    name = fields.get("output", f"{base.output.stem}-{number:03d}{base.output.suffix}")
    output = confined(folder, name, "the prompts file", FIX) if isinstance(name, str) else \
        confined(folder, None, "the prompts file", FIX)
    check_output(output)
    return dataclasses.replace(base, prompt=prompt, seed=seed, bucket=bucket, output=output)


def _json_fields(line: str) -> dict:
    try:
        fields = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"not JSON: {err.msg} at column {err.colno}", FIX) from None
    if not isinstance(fields, dict):
        raise UserError("a JSON line must be an object", FIX)
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise UserError(f"unknown field {unknown[0]!r}", f"use only: {', '.join(FIELDS)}")
    if "prompt" not in fields:
        raise UserError("no \"prompt\" field", FIX)
    return fields


def _size(size, base: RunRequest) -> tuple[int, int, int]:
    match = SIZE.fullmatch(size) if isinstance(size, str) else None
    if match is None:
        raise UserError(f"size {size!r} is not WIDTHxHEIGHT or WIDTHxHEIGHTxFRAMES", "e.g. \"768x512\" or "
                        "\"1280x704x241\" (a bucket of the profile)")
    width, height, frames = match.groups()
    return int(width), int(height), int(frames) if frames else base.bucket.frames


def run_all(session, requests: list[tuple[int, RunRequest | UserError]], log: Callable[[str], None]) -> list[Row]:
    """Render every checked request with `session` (commands/session.py); a failure is reported and skipped."""
    rows = []
    for number, request in requests:
        if isinstance(request, UserError):
            log(f"line {number} skipped: {request}")
            rows.append(Row(number, None, f"skipped: {request.message}"))
            continue
        log(f"line {number}: {request.prompt[:60]}")
        started = time.perf_counter()
        try:
            path = session.run(request)
        except UserError as err:
            log(f"line {number} failed: {err}")
            rows.append(Row(number, None, f"failed: {err.message}"))
        except Exception as err:  # a bug: its traceback is kept in the log, the other clips still render
            log(traceback.format_exc().rstrip())
            rows.append(Row(number, None, f"failed: {type(err).__name__}: {err}"))
        else:
            rows.append(Row(number, time.perf_counter() - started, str(path)))
    return rows


def summary(rows: list[Row]) -> list[str]:
    """The table printed at the end: one row per prompt line."""
    made = sum(r.seconds is not None for r in rows)
    table = [f"{made} of {len(rows)} clips made", f"{'line':>6}  {'seconds':>8}  output"]
    for row in rows:
        seconds = f"{row.seconds:.1f}" if row.seconds is not None else "-"
        table.append(f"{row.line:>6}  {seconds:>8}  {row.result}")
    return table


def run_prompts(path: Path, base: RunRequest, log: Callable[[str], None] = print) -> int:
    """`run --prompts`: check every line, open the pipeline once, render the good lines, print the table;
    returns the exit status (1 when a line was skipped or a clip failed)."""
    from ltx_trt.commands.session import Session  # torch, the model files and the executors

    requests = read_requests(path, base)
    with Session(base.profile, base.source, base.artifacts, base.executor, base.compile, log=log,
                 engines=base.engines) as session:
        rows = run_all(session, requests, log)
    for line in summary(rows):
        log(line)
    return 0 if all(r.seconds is not None for r in rows) else 1
