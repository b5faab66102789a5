"""Batches of every shape on Forge: the A1111 covering array of batch size x count x realistic negatives x hires x
style, each batch against one plain Forge batch of its size whose image i has image i's reported negative, and the tried/held tally line.

The embedding of the realistic negatives is as wide as the checkpoint's text encoder (768: Forge's tiny-sd15 has the
full-size CLIP-L; fixtures/make_negative_fixtures.py), and the hires payload carries Forge's hr_cfg and
hr_additional_modules. Left out: the SDXL batch, which needs the tiny SDXL checkpoint that only A1111's sgm can build.
"""

from webui.test_batch_shapes import (  # noqa: F401  (collected here, run against Forge)
    report_tally,
    test_a_later_batch_reports_its_own_hires_negative,
    test_every_image_of_the_batch,
    test_the_design_covers_every_pair,
    test_the_grid_pads_some_batches,
)
