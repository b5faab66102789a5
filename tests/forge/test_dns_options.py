"""The DNS pass is eq. 19 whatever Forge's options, and the main pass keeps them (the A1111 tests, run against Forge).

Forge lists every option of A1111's CFG denoiser in its Settings but reads only some: its `CFGDenoiser.forward`
hands the conds to `backend/sampling/sampling_function.py`, which never pads them (`pad_cond_uncond`,
`pad_cond_uncond_v0`) and always batches them (`batch_cond_uncond`). Which options Forge reads is derived from its
source, not listed here: the cases whose options it never reads are left out, and
`test_the_options_forge_never_reads_change_nothing` shows that a plain generation with each of them set is the
same image, so leaving them out hides nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from webui.harness import BASE, FORGE
from webui.test_dns_options import (  # noqa: F401  (collected here, run against Forge)
    CASES,
    LONG_PROMPT,
    check_case,
    image,
    options,
    test_outer_override_settings_stay_in_effect_for_the_main_pass_and_are_left_as_without_dnp,
)

SOURCE_FOLDERS = ("modules", "modules_forge", "backend")
DEFINITIONS = "shared_options.py"  # where the options are declared, not read


def options_read_by(webui_dir: Path, names: set[str]) -> set[str]:
    """The `names` that the WebUI's code reads (`opts.NAME`, or NAME quoted), outside comments and its
    option declarations."""
    found: set[str] = set()
    patterns = {name: re.compile(rf"opts\.{name}\b|[\"']{name}[\"']") for name in names}
    for folder in SOURCE_FOLDERS:
        for path in (webui_dir / folder).rglob("*.py"):
            if path.name == DEFINITIONS:
                continue
            code = "\n".join(line.split("#", 1)[0] for line in path.read_text(errors="replace").splitlines())
            found |= {name for name, pattern in patterns.items() if pattern.search(code)}
    return found


def _cases() -> tuple[list[str], list[str]]:
    """(the cases Forge can run, the cases whose options it never reads); all run where no Forge is set (skipped)."""
    forge_dir = os.environ.get(FORGE.dir_var)
    if not forge_dir:
        return list(CASES), []
    read = options_read_by(Path(forge_dir), {name for case in CASES.values() for name in case.options})
    runs = [name for name, case in CASES.items() if set(case.options) <= read]
    return runs, [name for name in CASES if name not in runs]


RUNS, NEVER_READ = _cases()


@pytest.mark.parametrize("name", RUNS)
def test_dns_pass_is_eq19_whatever_the_option_and_the_main_pass_keeps_it(webui, captioner, name):
    check_case(webui, captioner, name)


def test_the_options_forge_never_reads_change_nothing(webui):
    assert "skip_early_cond" in RUNS and "ngms" in RUNS  # the derivation finds what Forge does read
    request = {**BASE, "seed": 300, "prompt": LONG_PROMPT}
    plain = webui.txt2img(**request)
    for name in NEVER_READ:
        with options(webui, CASES[name].options):
            assert np.array_equal(image(webui, webui.txt2img(**request)), image(webui, plain)), name
