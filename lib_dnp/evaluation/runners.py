"""Where the evaluated images come from: a diffusers pipeline (`DiffusersRunner`) or a running WebUI's API
(`WebuiRunner`). Both make, for one prompt and its seeds, the images of one negative strategy:

- `empty`: plain SD, no negative prompt;
- `generic`: a fixed generic negative prompt for every image;
- `dnp`: auto-DNP with the DNP options given (each image's caption of its DNS image as its negative);
- `dnp-rerank-image` / `dnp-rerank-prompt`: auto-DNP with CLIP re-ranking of caption candidates (`rerank`).
"""

from __future__ import annotations

import base64
import io
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lib_dnp import SCRIPT_TITLE
from lib_dnp.cache import DnsCache
from lib_dnp.errors import WebuiRequestFailed
from lib_dnp.evaluation.prompts import EvalPrompt
from lib_dnp.params import DnpParams, params_dict, updated

if TYPE_CHECKING:
    from PIL import Image

STRATEGIES = ("empty", "generic", "dnp", "dnp-rerank-image", "dnp-rerank-prompt")
DEFAULT_STRATEGIES = ("empty", "dnp")
WEBUI_BATCH_SIZE = 4  # images per WebUI request
GENERIC_NEGATIVE = "ugly, blurry, low quality, deformed, distorted, bad anatomy, watermark, text"


@dataclass
class Sample:
    """One evaluated image."""

    strategy: str
    prompt: EvalPrompt
    seed: int
    image: Image.Image
    negative: str
    caption: str | None = None
    error: str | None = None  # why DNP did not apply to this image (it then used no negative)


def dnp_params(strategy: str, params: DnpParams) -> DnpParams | None:
    """The DNP options of a strategy (None for a strategy without DNP)."""
    if strategy == "dnp":
        return updated(params, enabled=True, mode="auto", return_dns_images=False)
    if strategy.startswith("dnp-rerank-"):
        mode = strategy[len("dnp-rerank-") :]
        return updated(params, enabled=True, mode="auto", return_dns_images=False, rerank=mode)
    if strategy in STRATEGIES:
        return None
    raise ValueError(f"[DNP] expected a strategy in {', '.join(STRATEGIES)}, but got {strategy!r}")


def fixed_negative(strategy: str, generic_negative: str) -> str:
    return generic_negative if strategy == "generic" else ""


class DiffusersRunner:
    """Images from a diffusers pipeline through `lib_dnp.frontends.diffusers_frontend.generate`.

    DNS images are cached per prompt, so the DNP strategies of one prompt share one DNS pass per seed.
    """

    def __init__(
        self,
        pipe: Any,
        captioner: Any,
        params: DnpParams,
        *,
        steps: int,
        cfg: float,
        width: int | None = None,
        height: int | None = None,
        generic_negative: str = GENERIC_NEGATIVE,
        reranker: Any = None,
        progress: bool = False,
    ) -> None:
        self.pipe, self.captioner, self.params, self.reranker = pipe, captioner, params, reranker
        self.settings = {"steps": steps, "cfg": cfg, "width": width, "height": height}
        self.generic_negative = generic_negative
        self.progress = progress
        self._cache: tuple[str, DnsCache] | None = None

    def _prompt_cache(self, prompt: str, size: int) -> DnsCache:
        if self._cache is None or self._cache[0] != prompt:
            self._cache = (prompt, DnsCache(max_images=size))
        return self._cache[1]

    def run(self, prompt: EvalPrompt, seeds: Sequence[int], strategy: str) -> list[Sample]:
        from lib_dnp.frontends.diffusers_frontend import generate

        params = dnp_params(strategy, self.params)
        if params is None:
            negative = fixed_negative(strategy, self.generic_negative)
            made = generate(
                self.pipe, prompt.text, seeds, negative=negative, params=DnpParams(enabled=False),
                captioner=None, progress=self.progress, **self.settings,
            )  # fmt: skip
            return [
                Sample(strategy, prompt, s, image, negative) for s, image in zip(seeds, made.plain_images)
            ]
        made = generate(
            self.pipe, prompt.text, seeds, params=params, captioner=self.captioner, plain=False,
            cache=self._prompt_cache(prompt.text, len(seeds)), reranker=self.reranker, progress=self.progress,
            **self.settings,
        )  # fmt: skip
        return [
            Sample(strategy, prompt, seed, image, negative, caption, error)
            for seed, image, negative, caption, error in zip(
                seeds, made.dnp_images, made.negatives, made.captions, made.errors
            )
        ]


# The WebUI's own infotext parameter pattern (modules/infotext_utils.py): `Key: value` or `Key: "quoted"`.
_INFOTEXT_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
Post = Callable[[str, dict[str, Any], float], dict[str, Any]]


def infotext_value(infotext: str, key: str) -> str | None:
    """The value of `key` in the parameters line (the last line) of a WebUI infotext, unquoted; None if absent."""
    lines = infotext.strip().splitlines()
    for name, value in _INFOTEXT_PARAM.findall(lines[-1] if lines else ""):
        if name.strip() == key:
            if len(value) >= 2 and value[0] == value[-1] == '"':
                try:
                    return str(json.loads(value))
                except json.JSONDecodeError:
                    return value
            return value
    return None


def post_json(url: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    """POST JSON, return the JSON answer; errors name the URL and the WebUI's own message."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode("utf-8"), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:500]
        raise WebuiRequestFailed(f"[DNP] {url} answered HTTP {error.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as error:  # refused, unknown host, timed out
        reason = getattr(error, "reason", error)
        raise WebuiRequestFailed(f"[DNP] could not reach the WebUI at {url}: {reason}") from None
    except json.JSONDecodeError as error:  # something else answers at that address
        raise WebuiRequestFailed(f"[DNP] {url} did not answer with JSON ({error})") from None
    except ValueError as error:  # http.client's InvalidURL: a bad port ...
        raise WebuiRequestFailed(f"[DNP] cannot send a request to {url}: {error}") from None


def alwayson_args(params: DnpParams) -> dict[str, Any]:
    """The DNP script's named args for the API: `enabled` and every field that differs from its default."""
    defaults = params_dict(DnpParams())
    return {
        "enabled": True,
        **{k: v for k, v in params_dict(params).items() if v != defaults[k] and k != "enabled"},
    }


class WebuiRunner:
    """Images from a running WebUI (started with --api): POST /sdapi/v1/txt2img, seeds in batches of
    consecutive seeds (the WebUI gives image i of a batch the seed `seed + i`)."""

    def __init__(
        self,
        url: str,
        params: DnpParams,
        *,
        steps: int,
        cfg: float,
        width: int | None = None,
        height: int | None = None,
        sampler: str | None = None,
        batch_size: int = WEBUI_BATCH_SIZE,
        generic_negative: str = GENERIC_NEGATIVE,
        timeout: float = 600.0,
        post: Post = post_json,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/sdapi/v1/txt2img"
        self.params = params
        self.settings: dict[str, Any] = {"steps": steps, "cfg_scale": cfg}
        self.settings.update(
            {k: v for k, v in (("width", width), ("height", height), ("sampler_name", sampler)) if v}
        )
        self.batch_size, self.generic_negative, self.timeout, self.post = (
            batch_size,
            generic_negative,
            timeout,
            post,
        )

    def payload(self, prompt: str, seeds: Sequence[int], strategy: str) -> dict[str, Any]:
        params = dnp_params(strategy, self.params)
        payload = {
            "prompt": prompt, "negative_prompt": fixed_negative(strategy, self.generic_negative), "seed": seeds[0],
            "batch_size": len(seeds), "n_iter": 1, "send_images": True, "save_images": False, **self.settings,
        }  # fmt: skip
        if params is not None:
            payload["alwayson_scripts"] = {SCRIPT_TITLE: {"args": [alwayson_args(params)]}}
        return payload

    def run(self, prompt: EvalPrompt, seeds: Sequence[int], strategy: str) -> list[Sample]:
        samples = []
        for start in range(0, len(seeds), self.batch_size):
            chunk = list(seeds[start : start + self.batch_size])
            if chunk != list(range(chunk[0], chunk[0] + len(chunk))):
                raise ValueError(f"[DNP] the WebUI runner needs consecutive seeds, but got {chunk}")
            answer = self.post(self.endpoint, self.payload(prompt.text, chunk, strategy), self.timeout)
            samples.extend(self._samples(answer, prompt, chunk, strategy))
        return samples

    def _samples(
        self, answer: dict[str, Any], prompt: EvalPrompt, seeds: list[int], strategy: str
    ) -> list[Sample]:
        from PIL import Image

        info = json.loads(answer.get("info") or "{}")
        if list(info.get("all_seeds", seeds))[: len(seeds)] != seeds:
            raise WebuiRequestFailed(f"[DNP] the WebUI made seeds {info.get('all_seeds')}, expected {seeds}")
        images = answer.get("images") or []
        if len(images) < len(seeds):
            raise WebuiRequestFailed(f"[DNP] the WebUI returned {len(images)} images for {len(seeds)} seeds")
        infotexts = info.get("infotexts") or [""] * len(seeds)
        negatives = info.get("all_negative_prompts") or [""] * len(seeds)
        samples = []
        for i, seed in enumerate(seeds):
            image = Image.open(io.BytesIO(base64.b64decode(images[i].split(",", 1)[-1]))).convert("RGB")
            dnp = strategy.startswith("dnp")
            caption = infotext_value(infotexts[i], "DNP caption") if dnp else None
            error = infotext_value(infotexts[i], "DNP error") if dnp else None
            if dnp and caption is None and error is None:
                error = "[DNP] the image's infotext has no DNP caption: is the DNP extension installed and enabled?"
            samples.append(Sample(strategy, prompt, seed, image, negatives[i], caption, error))
        return samples
