"""A headless Chromium on the WebUI page, for the browser tests (selenium with the system's chromium and
chromedriver; `SD_WEBUI_CHROMIUM` / `SD_WEBUI_CHROMEDRIVER` name other binaries).

Every wait is explicit (WebDriverWait on what the page shows); nothing sleeps to synchronise.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

TIMEOUT = float(os.environ.get("SD_WEBUI_BROWSER_TIMEOUT", "120"))
TAB = "txt2img"
# Chrome DevTools' network emulation for "a slow link": every request and websocket frame takes this long.
SLOW_LINK = {"offline": False, "latency": 300, "downloadThroughput": 64 * 1024, "uploadThroughput": 32 * 1024}


def _binary(variable: str, name: str) -> str:
    path = os.environ.get(variable) or shutil.which(name) or shutil.which(f"{name}-browser") or ""
    if not path or not Path(path).exists():
        pytest.fail(f"no {name} for the browser tests (install it, or set {variable})", pytrace=False)
    return path


def new_driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the browser tests need selenium (pip install -e '.[test]')", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("SD_WEBUI_CHROMIUM", "chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,2000")  # tall enough to screenshot the open accordion
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=Service(_binary("SD_WEBUI_CHROMEDRIVER", "chromedriver")), options=options
    )
    driver.set_script_timeout(TIMEOUT)
    return driver


class Page:
    """The txt2img tab of one browser session, with the DNP accordion's controls by slot."""

    def __init__(self, driver, server) -> None:
        self.driver, self.server = driver, server

    # -- finding and waiting
    def wait(self, condition, what: str, timeout: float = TIMEOUT):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(lambda _: condition())
        except TimeoutException:
            pytest.fail(f"waited {timeout:.0f} s for {what}; WebUI log:\n{self.server.log_text()[-3000:]}")

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        return found[0] if found else None

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def dnp(self, slot: str) -> str:
        return f"#dnp_{TAB}_{slot}"

    # -- lifecycle
    def open(self) -> Page:
        self.driver.get(self.server.url + "/")
        # the header checkbox exists once the WebUI's onUiLoaded callbacks ran (inputAccordion.js)
        self.wait(lambda: self.find(f"#dnp_{TAB}-visible-checkbox"), "the page and the DNP accordion")
        self.wait(lambda: self.find(self.dnp("mode")).get_attribute("title"), "the DNP tooltips")
        return self

    def slow_link(self, on: bool = True) -> None:
        self.driver.execute_cdp_cmd("Network.enable", {})
        conditions = (
            SLOW_LINK
            if on
            else {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
        )
        self.driver.execute_cdp_cmd("Network.emulateNetworkConditions", conditions)

    # -- the accordion
    def header_checkbox(self):
        return self.find(f"#dnp_{TAB}-visible-checkbox")

    def accordion_open(self) -> bool:
        return bool(
            self.js(f"return document.querySelector('#dnp_{TAB} .label-wrap').classList.contains('open')")
        )

    def toggle_accordion(self) -> None:
        self.find(f"#dnp_{TAB} > .label-wrap").click()

    def shown(self, css: str) -> bool:
        element = self.find(css)
        return element is not None and element.is_displayed()

    def choose(self, slot: str, value: str) -> None:
        """Click a radio button of a DNP control (in the page's script: gradio styles the input itself)."""
        self.js("arguments[0].click()", self.find(f"{self.dnp(slot)} input[type=radio][value='{value}']"))

    def checked(self, slot: str, value: str) -> bool:
        return self.find(f"{self.dnp(slot)} input[type=radio][value='{value}']").is_selected()

    def tick(self, slot: str, on: bool = True) -> None:
        box = self.find(f"{self.dnp(slot)} input[type=checkbox]")
        if box.is_selected() != on:
            self.js("arguments[0].click()", box)

    def field(self, css: str):
        return self.find(f"{css} textarea") or self.find(f"{css} input")

    def replace_text(self, css: str, text: str) -> None:
        """Select what a text field holds and type `text` over it, as a user would."""
        from selenium.webdriver.common.keys import Keys

        element = self.field(css)
        element.click()
        element.send_keys(Keys.CONTROL, "a")
        element.send_keys(Keys.DELETE)
        if text:
            element.send_keys(text)

    def value(self, css: str) -> str:
        return self.field(css).get_attribute("value")

    def set_number(self, css: str, value: float) -> None:
        """A slider's number box, set the way the WebUI's own scripts do (updateInput)."""
        self.js(
            "var el = document.querySelector(arguments[0] + ' input[type=number]'); el.value = arguments[1];"
            "updateInput(el);",
            css,
            value,
        )

    # -- generating
    def infotext(self) -> str:
        element = self.find(f"#html_info_{TAB}")
        return element.text if element is not None else ""

    def generate(self) -> str:
        """Click Generate and wait for the new image's infotext (the seed is random, so it always changes)."""
        before = self.infotext()
        self.find(f"#{TAB}_generate").click()
        return self.wait_infotext(before)

    def wait_infotext(self, before: str) -> str:
        self.wait(
            lambda: self.infotext() != before and "Steps:" in self.infotext(), "the generation's infotext"
        )
        return self.infotext()

    def gallery_count(self, css: str) -> int:
        return int(self.js(f"return document.querySelectorAll('{css} .thumbnail-item').length"))

    def status(self) -> str:
        return self.find(self.dnp("status")).text

    def select_result(self, index: int) -> str:
        """Show the infotext of the result gallery's image `index` (0 is the grid when there is one)."""
        before = self.infotext()
        self.js(f"document.querySelectorAll('#{TAB}_gallery .thumbnail-item')[{index}].click()")
        self.wait(lambda: self.infotext() != before, f"the infotext of result {index}")
        return self.infotext()

    def console_errors(self) -> list[dict]:
        return [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def screenshot(self, name: str) -> None:
        """Save the accordion as docs/<name>.png when SD_WEBUI_SCREENSHOTS names a folder (for the README)."""
        folder = os.environ.get("SD_WEBUI_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            accordion = self.find(f"#dnp_{TAB}")
            self.js("arguments[0].scrollIntoView(true)", accordion)
            accordion.screenshot(str(Path(folder) / f"{name}.png"))


def write_ui_config(path: Path, values: dict) -> Path:
    path.write_text(json.dumps(values, indent=1))
    return path
