"""`ltx-trt run --prompts FILE` on the tiny model: the good lines render with one load, the bad ones are reported and
skipped, a table ends the run; every field is refused by `run`'s rules before any model work."""

import pytest
from click.testing import CliRunner

from ltx_trt.cli import main
from ltx_trt.commands.batch import Row, read_requests, run_all, summary
from ltx_trt.commands.request import RunRequest
from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import load_profile
from ltx_trt.core.source import tiny_source
from tests.e2e.test_run_cli import _check_clip

PROFILE = "rtx4090"


@pytest.fixture(scope="module")
def exported(tiny_export):
    return tiny_export(PROFILE)


def test_a_prompts_file_with_bad_lines_renders_the_good_ones(exported, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join([
        "# clips for the demo",
        "a red fox runs through fresh snow",
        '{"prompt": "rain on a tin roof", "size": "768x512x130"}',
        '{"prompt": "gulls over the sea", "seed": 4, "output": "sea.mp4"}',
        '{"prompt": "escape", "output": "../escape.mp4"}',
        "",
    ]))
    (tmp_path / "out").mkdir()
    result = CliRunner().invoke(main, ["run", "--gpu", PROFILE, "--model", "tiny", "--artifacts", str(exported),
                                       "--prompts", str(prompts), "--output", str(tmp_path / "out" / "clip.mp4")])
    assert result.exit_code == 1, result.output + repr(result.exception)  # two lines skipped
    out = result.output
    assert out.count("executor: ") == 1 and out.count("done in ") == 2
    assert "line 3 skipped: --frames 130 is not 8k+1" in out and "line 5 skipped: the prompts file names the file " \
        "'../escape.mp4'" in out
    table = out[out.index("2 of 4 clips made"):].splitlines()
    assert table[1].split() == ["line", "seconds", "output"] and len(table) == 6
    assert table[2].split()[0] == "2" and table[2].endswith(str(tmp_path / "out" / "clip-002.mp4"))
    assert table[3].split()[:2] == ["3", "-"] and "skipped: --frames 130" in table[3]
    for name in ("clip-002.mp4", "sea.mp4"):
        _check_clip(tmp_path / "out" / name)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip-002.mp4", "sea.mp4"]


def _base(tmp_path) -> RunRequest:
    profile = load_profile(PROFILE)
    return RunRequest("", profile, tiny_source(tmp_path), tmp_path, profile.buckets[0], 10, "auto", tmp_path / "o.mp4")


@pytest.mark.parametrize("line, needle", [
    ('{"prompt": "x", "seed": "3"}', "seed '3' is not a whole number"),
    ('{"prompt": "x", "seed": -2}', "--seed -2 is out of range"),
    ('{"prompt": "x", "size": "wide"}', "size 'wide' is not WIDTHxHEIGHT"),
    ('{"prompt": "x", "size": "1024x576"}', "no bucket 1024x576x121"),
    ('{"prompt": "x", "steps": 3}', "unknown field 'steps'"),
    ('{"prompt": "x", "output": "/etc/passwd"}', "names the file '/etc/passwd', which is not a path inside"),
    ('{"prompt": "x", "output": 3}', "names the file None"),
    ('{"prompt": ""}', "the prompt is empty"),
    ('{"prompt": "x",}', "not JSON"),
    ('["x"]', "not JSON"),  # a line starting with "[" is a prompt: the check below says so
])
def test_every_field_of_a_line_is_checked_by_runs_rules(tmp_path, line, needle):
    (tmp_path / "p.txt").write_text(f"first\n{line}\n")
    parsed = read_requests(tmp_path / "p.txt", _base(tmp_path))
    assert isinstance(parsed[0][1], RunRequest) and parsed[0][1].output == tmp_path / "o-001.mp4"
    if line.startswith("["):  # plain text
        assert parsed[1][1].prompt == line
        return
    number, error = parsed[1]
    assert number == 2 and isinstance(error, UserError) and needle in str(error), error


def test_two_lines_may_not_write_the_same_output_and_an_empty_file_is_refused(tmp_path):
    (tmp_path / "p.txt").write_text('{"prompt": "a", "output": "x.mp4"}\n{"prompt": "b", "output": "x.mp4"}\n')
    parsed = read_requests(tmp_path / "p.txt", _base(tmp_path))
    assert "line 1's too" in str(parsed[1][1])
    (tmp_path / "q.txt").write_text("\n# nothing\n")
    with pytest.raises(UserError, match="has no prompt"):
        read_requests(tmp_path / "q.txt", _base(tmp_path))


def test_a_failed_clip_is_reported_and_the_next_still_renders(tmp_path):
    class Session:  # fails its second clip as a bug would; the batch goes on
        calls = 0

        def run(self, request):
            Session.calls += 1
            if Session.calls == 2:
                raise RuntimeError("out of memory")
            return request.output

    (tmp_path / "p.txt").write_text("a\nb\nc\n")
    logged = []
    rows = run_all(Session(), read_requests(tmp_path / "p.txt", _base(tmp_path)), logged.append)
    assert [r.result for r in rows] == [str(tmp_path / "o-001.mp4"), "failed: RuntimeError: out of memory",
                                        str(tmp_path / "o-003.mp4")]
    assert any("Traceback" in line for line in logged)
    assert summary([Row(1, 2.0, "a.mp4")])[0] == "1 of 1 clips made"
