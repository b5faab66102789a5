"""The DNP paper's evaluation protocol (`python -m lib_dnp evaluate`), and the CLIP models it and caption
re-ranking use.

- `prompts`: prompt sets (A&E JSON, one per line) and A&E's object split;
- `scoring`: A&E full-prompt / min-object CLIP scores and Hessel CLIPScore, as arithmetic on embeddings;
- `clip_models`: CLIP encoders (open-clip or transformers, same OpenAI weights);
- `runners`: images from diffusers or a running WebUI, per negative strategy;
- `harness`, `report`, `command`: the loop, the files it writes, the CLI.

Importing this package is cheap: torch, open_clip and transformers are imported when a model is first used.
"""
