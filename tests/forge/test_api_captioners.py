"""Which captioners an API request may name, on Forge (the A1111 tests, run against Forge)."""

from webui.test_api_captioners import (  # noqa: F401  (collected here, run against Forge)
    cached_hub_model,
    test_a_hub_model_not_cached_is_refused_before_anything_runs,
    test_allowed_captioners_run,
    test_paths_get_one_answer_whether_they_exist_or_not,
    test_preview_and_xyz_follow_the_same_rule,
    test_the_owner_can_let_api_requests_download,
)
