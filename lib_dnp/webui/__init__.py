"""The WebUI adapter: the only part of lib_dnp that imports the WebUI (`modules`), always lazily."""
