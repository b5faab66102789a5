"""--medvram on Forge: the SD model moved aside while captioning (the A1111 test, run against Forge)."""

from webui.test_memory import (  # noqa: F401  (collected here, run against Forge)
    medvram_webui,
    test_medvram_moves_the_sd_model_aside_while_captioning,
)
