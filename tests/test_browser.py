"""End to end: ``moviegenre app`` on a free loopback port, driven by Debian's headless Chromium.

Types a description, clicks Predict and checks that the page names the genre the library gives
for that text with the same model (the bundled default when it is there). The screenshot the
README shows is written only when asked: MOVIEGENRE_SCREENSHOT=docs/screenshots/app.png.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import (
    hostile_genres,
    hostile_name,
    save_hostile_model,
    tiny_multi_dataset,
    tiny_rows,
)

from moviegenre.classifier import BUNDLED_MODEL_DIR, GenreClassifier
from moviegenre.examples import EXAMPLES

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Where to save the page's screenshot; unset (the default): no file is written.
SCREENSHOT_ENV = "MOVIEGENRE_SCREENSHOT"
START_TIMEOUT_S = 90

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver: apt-get install chromium "
        "chromium-driver (the CI script installs them)",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail early if the server process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        try:  # the poll interval: returns at once if the server died
            process.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"the server exited with code {process.returncode}")
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir: Path) -> Path:
    return BUNDLED_MODEL_DIR if (BUNDLED_MODEL_DIR / "model.json").exists() else tiny_model_dir


@contextmanager
def serving_page(model_dir: Path, home: Path) -> Iterator[str]:
    """``moviegenre app --model MODEL_DIR`` on a free loopback port, stopped on exit."""
    port = free_port()
    command = [sys.executable, "-m", "moviegenre.cli", "app", "--port", str(port)]
    command += ["--host", "127.0.0.1", "--model", str(model_dir)]
    env = dict(os.environ, HOME=str(home), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: streamlit runs as a child of the CLI
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/_stcore/health", process, START_TIMEOUT_S)
        yield f"http://127.0.0.1:{port}/"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def page_url(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # its own HOME keeps ~/.streamlit untouched
    with serving_page(model_dir, tmp_path_factory.mktemp("streamlit_home")) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1400,1400")
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_type_predict_read_genre(page_url: str, browser, model_dir: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    text = EXAMPLES["Haunted lighthouse"]
    heading = type_and_predict(browser, page_url, text)
    genre = heading.find_element(By.TAG_NAME, "strong").text.strip()
    [[(expected, _)]] = GenreClassifier.load(model_dir).predict(text, top_k=1)
    assert genre == expected
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "mark")))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "canvas, svg.marks")))
    if os.environ.get(SCREENSHOT_ENV):
        target = Path(os.environ[SCREENSHOT_ENV])
        target.parent.mkdir(parents=True, exist_ok=True)
        shot = target.with_suffix(".tmp.png")
        assert browser.save_screenshot(str(shot))
        shutil.move(shot, target)
        assert target.stat().st_size > 10_000


def type_and_predict(browser, url: str, text: str, heading: str = "Most likely genre"):
    """Open the page, type ``text``, press Predict; the heading that starts with ``heading``
    ("Genres:" for a multi-label model)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(url)
    box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "textarea")))
    box.send_keys(text)
    box.send_keys(Keys.CONTROL, Keys.ENTER)  # Streamlit applies a text area on Ctrl+Enter
    n_words = len(text.split())
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), f"{n_words} words"))
    predict = browser.find_element(By.XPATH, "//button[.//p[normalize-space()='Predict']]")
    predict.click()
    return wait.until(
        ec.visibility_of_element_located((By.XPATH, f"//h3[contains(., '{heading}')]"))
    )


# -- a hostile model: its strings are shown as text, never fetched or rendered -----------------


class _Sentinel(BaseHTTPRequestHandler):
    """Records every request: a page that renders a model's Markdown image would fetch one."""

    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.seen.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def sentinel_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sentinel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_hostile_model_strings_are_plain_text_in_the_browser(
    browser, sentinel_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A model whose genres, name and metric keys are Markdown images, HTML, Rich and
    Streamlit markup: the visitor sees each literally and the browser fetches nothing (the
    metric key sits in the side panel's table, which draws on a canvas; the sentinel would
    see its image if it were rendered)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    model = save_hostile_model(tmp_path_factory.mktemp("hostile") / "model", sentinel_url)
    _, _, tiny_genre, text = tiny_rows(1, seed=9)[0]
    genre = hostile_genres(sentinel_url)[tiny_genre]
    with serving_page(model, tmp_path_factory.mktemp("streamlit_home")) as url:
        heading = type_and_predict(browser, url, text)
        wait = WebDriverWait(browser, 60)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "canvas, svg.marks")))
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), f"Why {genre}?"))
        body = browser.find_element(By.TAG_NAME, "body").text
        images = [i.get_attribute("src") or "" for i in browser.find_elements(By.TAG_NAME, "img")]
    assert heading.find_element(By.TAG_NAME, "strong").text.strip() == genre
    assert f"name: {hostile_name(sentinel_url)}" in body
    assert not [src for src in images if src.startswith(sentinel_url)]
    assert _Sentinel.seen == [], f"the page fetched {_Sentinel.seen} from a model's markup"


def test_a_hostile_multi_label_models_genres_are_plain_text_in_the_browser(
    browser, sentinel_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 22: the genres a multi-label model assigns lead the page ("Genres: ..."); genres
    that are markup are shown literally there too, and nothing is fetched."""
    from dataclasses import replace

    from selenium.webdriver.common.by import By

    from moviegenre.training import TrainSettings, train

    genres = hostile_genres(sentinel_url)
    data = tiny_multi_dataset()
    data = replace(data, labels=[tuple(genres[g] for g in s) for s in data.labels])
    settings = TrainSettings(params={"C": 0.5}, name=hostile_name(sentinel_url))
    model = train(data, settings).classifier.save(tmp_path_factory.mktemp("hostile-multi") / "m")
    text = tiny_multi_dataset().texts[0]  # two genres
    want = GenreClassifier.load(model).classify([text])[0].labels
    assert want is not None and len(want) == 2
    with serving_page(model, tmp_path_factory.mktemp("streamlit_home")) as url:
        heading = type_and_predict(browser, url, text, heading="Genres:")
        shown = [strong.text.strip() for strong in heading.find_elements(By.TAG_NAME, "strong")]
        images = [i.get_attribute("src") or "" for i in browser.find_elements(By.TAG_NAME, "img")]
    assert shown == [g for g, _ in want]
    assert not [src for src in images if src.startswith(sentinel_url)]
    assert _Sentinel.seen == [], f"the page fetched {_Sentinel.seen} from a model's markup"
