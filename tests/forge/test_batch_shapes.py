"""Batches on Forge: batch sizes 2 and 4 × the four realistic negatives in full, each job's batches against plain Forge
batches of their size whose image i has image i's reported negative, and the tried/held tally line.

A smaller walk than A1111's (tests/webui/test_batch_shapes.py: batch size 1-4 × count 1-2 × negative × hires × style,
60 images), which is the property test of every shape; 60 images were a fifth of the Forge suite's time. What Forge
does in its own code is how it encodes and batches the conds (its own text-encoder engine and `sampling_function`) and
its hires pass (hr_cfg, hr_additional_modules): the walk keeps what reaches them. Batch sizes 2 and 4, where a batch's
negatives can differ in chunk count (one image cannot, and 3 goes through the same code as 2 and 4); every negative
with each of them; hires fix and the style each on and off with every batch size, every negative and each other (all
pairs of batch size, negative, hires, style: `test_the_forge_design_covers_every_pair`); a batch count of 2 in two
jobs (a later batch composes its own negatives, padding included, as A1111's grid shows for every pair), and
`test_a_later_batch_reports_its_own_hires_negative`. 28 images.

The embedding of the realistic negatives is as wide as the checkpoint's text encoder (768: Forge's tiny-sd15 has
CLIP-L's width; fixtures/make_negative_fixtures.py), and the hires payload carries Forge's hr_cfg and
hr_additional_modules. Left out: the SDXL batch, which needs the tiny SDXL checkpoint that only A1111's sgm can build.
"""

import pytest
from webui.test_batch_shapes import (  # noqa: F401  (collected here, run against Forge)
    NEGATIVES,
    design_ids,
    levels_of,
    missing_pairs,
    report_tally,
    run_design_row,
    test_a_later_batch_reports_its_own_hires_negative,
)
from webui.test_batch_shapes import test_the_grid_pads_some_batches as check_the_grid_padded_some_batches

# (hires, style) of a row: every combination once per batch size; batch size 4 takes the opposite of both that
# batch size 2 took with the same negative, so each negative meets hires and the style on and off
HIRES_STYLE = [(False, False), (False, True), (True, False), (True, True)]
# a later batch with caption-only negatives, and one padded, with hires
COUNT_TWO = {(2, "empty"), (2, "long")}


def _forge_design() -> list[tuple[int, int, str, bool, bool]]:
    """(batch size, batch count, negative, hires, style) for every job, as in A1111's DESIGN."""
    rows = []
    for batch_size, flip in ((2, 0), (4, 3)):
        for n, negative in enumerate(NEGATIVES):
            hires, style = HIRES_STYLE[n ^ flip]
            count = 2 if (batch_size, negative) in COUNT_TWO else 1
            rows.append((batch_size, count, negative, hires, style))
    return rows


FORGE_DESIGN = _forge_design()


def test_the_forge_design_covers_every_pair():
    assert len(FORGE_DESIGN) == 8 and levels_of(FORGE_DESIGN, 0) == [2, 4]
    assert levels_of(FORGE_DESIGN, 1) == [1, 2] and len(levels_of(FORGE_DESIGN, 2)) == 4
    assert missing_pairs(FORGE_DESIGN, (0, 2, 3, 4)) == []  # batch size, negative, hires, style
    assert sum(b * c for b, c, *_ in FORGE_DESIGN) == 28


@pytest.mark.parametrize("row", FORGE_DESIGN, ids=design_ids(FORGE_DESIGN))
def test_every_image_of_the_batch(webui, testext_webui, captioner, row):
    run_design_row(webui, testext_webui, captioner, row, seed=1000 + 10 * FORGE_DESIGN.index(row))


def test_the_grid_pads_some_batches():
    """Defined here, after the rows: pytest runs a module's tests in the order its namespace holds them, and an
    imported test would run before the rows that fill the tally."""
    check_the_grid_padded_some_batches()
