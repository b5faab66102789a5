"""Front ends of sd-webui-dnp outside the WebUI.

`diffusers_frontend` runs DNP with a diffusers pipeline. diffusers is an optional extra: nothing here imports it
(nor torch) at import time, and `import lib_dnp` and the WebUI never load it.
"""

from __future__ import annotations

DIFFUSERS_INSTALL_HINT = "pip install '.[diffusers]' (or: pip install 'sd-webui-dnp[diffusers]')"


def diffusers_problem() -> str | None:
    """Why the diffusers front end cannot run here, as a message naming the remedy; None when it can."""
    try:
        import diffusers
    except ImportError:
        return (
            f"[DNP] the diffusers front end needs diffusers, which is not installed: {DIFFUSERS_INSTALL_HINT}"
        )
    try:
        from diffusers import StableDiffusionPipeline  # noqa: F401  (diffusers imports its pipelines lazily)
    except Exception as error:  # diffusers raises RuntimeError when its transformers is too old
        import transformers

        return (
            f"[DNP] diffusers {diffusers.__version__} cannot load its pipelines with transformers "
            f"{transformers.__version__} ({str(error).splitlines()[-1]}); install a diffusers release that supports "
            "this transformers (transformers 4.30.2, as the A1111 WebUI pins it: diffusers<=0.31)"
        )
    return None
