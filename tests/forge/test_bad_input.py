"""Generated bad input on Forge: refused with a located 422 or generated, never a 500 (the A1111 tests)."""

from webui.test_bad_input import (  # noqa: F401  (collected here, run against Forge)
    tally,
    test_generated_dnp_entries_are_refused_or_generate,
    test_generated_preview_requests_are_refused_or_answered,
)
