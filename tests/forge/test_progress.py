"""Progress on Forge: each stage labelled, the percentage only grows (the A1111 test, run against Forge)."""

from webui.test_progress import (  # noqa: F401  (collected here, run against Forge)
    test_each_stage_is_labelled_and_the_percentage_only_grows,
)
