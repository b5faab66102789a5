"""DNP's doors follow Forge's own in every mode the owner can choose (the A1111 tests, run against Forge)."""

from webui.test_doors import (  # noqa: F401  (collected here, run against Forge)
    door_server,
    table,
    test_a_stranger_meets_the_webuis_own_answer_at_every_door,
    test_the_api_credentials_open_every_door,
)
