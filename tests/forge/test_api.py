"""The API on Forge: named args, 422s before the job, the /dnp/v1 routes (the A1111 tests, run against Forge)."""

from webui.test_api import (  # noqa: F401  (collected here, run against Forge)
    test_bad_args_get_422_naming_the_field_and_generate_nothing,
    test_captioners_route,
    test_consecutive_requests_never_see_each_others_captions,
    test_img2img_is_checked_too,
    test_missing_fields_take_their_defaults,
    test_named_args_return_per_image_captions_and_negatives,
    test_preview_route_errors_are_422_naming_the_field,
    test_preview_route_matches_the_generation_it_previews,
    test_schema_route,
    test_the_entry_name_matches_the_title_without_case,
    test_unload_route,
)
