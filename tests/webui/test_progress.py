"""What the progress bar says while a DNP generation runs (issue 13 item 3), read the way the browser reads it:
`GET /sdapi/v1/progress` polled while a request runs. Interrupt and Skip are in test_interrupt.py."""

from __future__ import annotations

import threading
import time

from .test_dnp import BASE, dnp, field

DNS_JOB = "DNP: diffusion-negative pass"
MAIN_JOB = "DNP: main pass"


def poll_progress(webui, payload: dict) -> tuple[dict, list[dict]]:
    """Run `payload` and poll the progress until it returns → (the response, the samples taken while the job was
    counted: job_count is 0 before and after a job)."""
    samples: list[dict] = []
    done = threading.Event()
    result: dict = {}

    def generate() -> None:
        try:
            result["response"] = webui.txt2img(**payload)
        except BaseException as error:  # reported by the test, not lost in the thread
            result["error"] = error
        finally:
            done.set()

    thread = threading.Thread(target=generate, daemon=True)
    thread.start()
    poll = webui.http.__class__()  # its own connection: the request's is busy
    while not done.is_set():
        answer = poll.get(webui.url + "/sdapi/v1/progress?skip_current_image=true", timeout=30).json()
        if answer["state"]["job_count"] != 0:
            samples.append(answer)
        time.sleep(0.02)  # a sampling rate, not a synchronisation: leave the generation the CPU
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["response"], samples


def test_each_stage_is_labelled_and_the_percentage_only_grows(testext_webui, captioner):
    webui = testext_webui  # any WebUI with DNP; this one is started for test_interrupt anyway
    payload = {**BASE, "steps": 6, "n_iter": 2, "seed": 70}
    r, samples = poll_progress(webui, {**payload, "alwayson_scripts": dnp(captioner, cache=False)})
    assert field(webui.infotexts(r)[0], "DNP caption")
    percents = [s["progress"] for s in samples]
    assert percents == sorted(percents), percents
    texts = [s["textinfo"] or "" for s in samples]
    assert any(t.startswith(DNS_JOB) for t in texts), sorted(set(texts))
    assert any(t.startswith(MAIN_JOB) for t in texts), sorted(set(texts))
    # the DNS pass never shows as the main pass, nor the main pass as the DNS pass
    dns_at = max(i for i, t in enumerate(texts) if t.startswith(DNS_JOB))
    assert all(not t.startswith(MAIN_JOB) for t in texts[:dns_at])
