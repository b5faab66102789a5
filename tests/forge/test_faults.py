"""Faults on Forge: the captioner missing, raising, out of memory; captions in the prompt syntax (the A1111 tests,
run against Forge through the test-only extension).

Left out: the checkpoint switch, which needs the second tiny checkpoint that only A1111's ldm can build.
"""

from webui.test_faults import (  # noqa: F401  (collected here, run against Forge)
    test_captioner_missing_from_the_cache,
    test_captioner_out_of_memory_is_unloaded,
    test_captioner_raising,
    test_captions_are_plain_words_for_the_prompt_parser,
)
