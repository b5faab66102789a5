"""`python -m lib_dnp`: every bad input ends in one `[DNP]` line, never a traceback; idle options are named."""

from __future__ import annotations

import sys

import pytest

from lib_dnp import cli
from lib_dnp.captioners.registry import download_command
from lib_dnp.frontends.settings import BOUNDS


def one_line_error(capsys, argv: list[str], code: int = 2) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == code
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("[DNP] "), err
    assert "Traceback" not in err
    return err


GENERATE = ["generate", "--prompt", "a cat"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([*GENERATE, "--steps", "0"], "argument --steps: expected an integer from 1 to 150, but got 0"),
        ([*GENERATE, "--steps", "-3"], "argument --steps: expected an integer from 1 to 150, but got -3"),
        (
            [*GENERATE, "--steps", "many"],
            "argument --steps: expected an integer from 1 to 150, but got 'many'",
        ),
        (
            [*GENERATE, "--width", "100"],
            "argument --width: expected a multiple of 8 from 64 to 4096, but got 100",
        ),
        ([*GENERATE, "--height", "32"], "argument --height: expected a multiple of 8"),
        ([*GENERATE, "--cfg", "nan"], "argument --cfg: expected a number from 1.0 to 30.0, but got nan"),
        ([*GENERATE, "--seed", "1", "-7"], "argument --seed: expected an integer from -1 to 4294967295"),
        ([*GENERATE, "--dns-size", "0.1"], "--dns-size: ensure this value is greater than or equal to 0.25"),
        ([*GENERATE, "--max-tokens", "0"], "--max-tokens: ensure this value is greater than or equal to 1"),
        (["generate"], "the following arguments are required: --prompt"),
        (["evaluate", "--prompts", "p.txt", "--seeds", "0"], "argument --seeds: expected an integer from 1"),
        (["evaluate", "--prompts", "p.txt", "--webui", "localhost:7860"], "expected a URL like http://"),
        (["evaluate", "--prompts", "p.txt", "--clip", "clip"], "argument --clip: invalid choice: 'clip'"),
    ],
)
def test_bad_input_is_one_line_naming_the_option(capsys, argv, words):
    assert words in one_line_error(capsys, argv)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_bounds_hold_just_inside_and_fail_just_outside(name):
    bound = BOUNDS[name]
    step = bound.multiple if bound.kind is int else 1e-6
    for inside in (bound.low, bound.high):
        assert bound.parse(str(bound.kind(inside))) == inside
    for outside in (bound.low - step, bound.high + step):
        with pytest.raises(ValueError, match="expected"):
            bound.parse(str(bound.kind(outside)))


@pytest.fixture
def ran(monkeypatch):
    """What main() would run, recorded instead of generating."""
    calls: list = []
    monkeypatch.setattr(cli, "_run", lambda args, params: calls.append((args, params)) or 0)
    return calls


@pytest.mark.parametrize(
    ("argv", "warning"),
    [
        ([*GENERATE, "--captions", "a dog"], "--captions does nothing in auto mode"),
        (
            [*GENERATE, "--mode", "manual", "--captions", "a dog", "--num-beams", "3"],
            "--num-beams does nothing in manual mode",
        ),
        ([*GENERATE, "--candidates", "3"], "--candidates does nothing without re-ranking"),
        (["evaluate", "--prompts", "p.txt", "--captions", "x"], "--captions does nothing in evaluate"),
        (
            ["evaluate", "--prompts", "p.txt", "--batch-size", "2"],
            "--sampler and --batch-size do nothing without",
        ),
        (
            ["evaluate", "--prompts", "p.txt", "--generic-negative", "ugly"],
            "--generic-negative does nothing without the 'generic'",
        ),
    ],
)
def test_options_that_do_nothing_are_named(capsys, ran, argv, warning):
    assert cli.main(argv) == 0 and len(ran) == 1
    assert f"[DNP] warning: {warning}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [*GENERATE, "--mode", "manual", "--captions", "a dog"],
        [
            *GENERATE,
            "--mode",
            "manual",
            "--captions",
            "a dog",
            "--dns-scale",
            "3",
        ],  # the DNS images are shown
        [*GENERATE, "--rerank", "image", "--candidates", "3"],
        ["evaluate", "--prompts", "p.txt", "--strategies", "dnp-rerank-image", "--candidates", "3"],
        ["evaluate", "--prompts", "p.txt", "--webui", "http://127.0.0.1:7860", "--batch-size", "2"],
    ],
)
def test_options_that_matter_give_no_warning(capsys, ran, argv):
    assert cli.main(argv) == 0
    assert "warning" not in capsys.readouterr().err


def test_unreachable_webui_is_one_line_with_the_remedy(capsys, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a cat\n", encoding="utf-8")
    # Port 9 (discard) on the loopback: nothing listens there, so the connection is refused at once.
    argv = ["evaluate", "--prompts", str(prompts), "--seeds", "1", "--webui", "http://127.0.0.1:9", "--clip",
            "transformers", "--out", str(tmp_path / "out")]  # fmt: skip
    assert cli.main(argv) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("[DNP] could not reach the WebUI at http://127.0.0.1:9/sdapi/v1/txt2img")
    assert last.endswith("— check the URL, and that the WebUI runs with --api and the DNP extension")


def test_open_clip_backend_without_open_clip_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", None)  # import open_clip now raises ImportError
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a cat\n", encoding="utf-8")
    argv = ["evaluate", "--prompts", str(prompts), "--webui", "http://127.0.0.1:9", "--clip", "open-clip"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("[DNP] the open-clip CLIP backend is not usable: open-clip does not import")
    assert err.rstrip().endswith("— use --clip transformers") and len(err.splitlines()) == 1


class FakeDistribution:
    def __init__(self, scripts):
        self.entry_points = [
            type("EntryPoint", (), {"name": n, "group": "console_scripts"})() for n in scripts
        ]


@pytest.mark.parametrize(
    ("scripts", "command"),
    [
        (["hf", "tiny-agents"], "hf download"),  # huggingface_hub 1.x: no huggingface-cli any more
        (
            ["hf", "huggingface-cli", "tiny-agents"],
            "hf download",
        ),  # 0.34-0.36: both, huggingface-cli deprecated
        (["huggingface-cli"], "huggingface-cli download"),  # before 0.34
    ],
)
def test_download_command_is_the_one_the_installed_hub_ships(monkeypatch, scripts, command):
    from importlib import metadata

    monkeypatch.setattr(metadata, "distribution", lambda name: FakeDistribution(scripts))
    assert download_command() == command
