"""The DNP accordion in Forge's gradio 4 UI: built, wired, Preview over gradio (the A1111 tests, run against
Forge), and one browser smoke check: tick Enable in the accordion, generate, and the image carries a DNP caption."""

from __future__ import annotations

import shutil

import pytest
from webui.test_dnp import (  # noqa: F401  (collected here, run against Forge)
    test_preview_button_over_gradio,
    test_ui_mode_builds_the_accordion,
    test_ui_mode_wires_preview_unload_and_last_results,
)


@pytest.fixture
def browser():
    """Headless Chromium through selenium (both must be installed: a browser test never skips)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = (
        shutil.which("chromium") or shutil.which("chromium-browser"),
        shutil.which("chromedriver"),
    )
    if not (binary and driver_path):
        pytest.fail("the browser test needs chromium and chromedriver on PATH", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,2000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(300)
    yield driver
    driver.quit()


def _set_number(driver, elem_id: str, value: int) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.TAB)


def test_the_accordion_drives_a_generation_in_the_browser(webui_ui, captioner, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 240)
    browser.get(webui_ui.url + "/")
    accordion = wait.until(ec.presence_of_element_located((By.ID, "dnp_txt2img_accordion")))
    accordion.find_element(By.CSS_SELECTOR, ".label-wrap").click()  # gradio 4: the accordion's header button
    enabled = wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, "#dnp_txt2img_enabled input[type=checkbox]"))
    )
    enabled.click()
    captioner_box = browser.find_element(By.CSS_SELECTOR, "#dnp_txt2img_captioner input")
    captioner_box.send_keys(Keys.CONTROL, "a")
    captioner_box.send_keys(captioner, Keys.ENTER)
    captioner_box.send_keys(Keys.TAB)
    browser.find_element(By.CSS_SELECTOR, "#txt2img_prompt textarea").send_keys("a photo of a cat")
    for elem_id, value in (("txt2img_width", 64), ("txt2img_height", 64), ("txt2img_steps", 4)):
        _set_number(browser, elem_id, value)
    browser.find_element(By.ID, "txt2img_generate").click()

    def info_text(driver):
        text = driver.find_element(By.ID, "html_info_txt2img").text
        return text if "Steps: 4" in text else False

    text = wait.until(info_text)
    assert "DNP caption: " in text and "DNP: " in text, text
    assert "DNP error" not in text, text
