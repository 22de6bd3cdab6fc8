"""The care-plan desk in a real browser: headless Chromium driven by Selenium through Debian's
chromium-driver (/usr/bin/chromedriver; .ci/run installs it), against ``exporter desk``
running as its own process on a copy of the synced sandbox agency archive.

The screenshots of the search page and of a client page are taken here: into the test's own
folder, or into docs/screenshots/ (desk-search.png, desk-client.png, committed) when
EXPORTER_SCREENSHOTS=docs/screenshots is set, so that a plain test run leaves the tree clean."""

from __future__ import annotations

import io
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from pypdf import PdfReader

from tests.desk_support import PASSWORD, RunningDesk, make_desk_archive, start_desk, write_config
from tests.test_careplan import Agency, agency  # noqa: F401 (fixture)
from tests.test_careplan_offline import _offline

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _driver(tmp: Path) -> webdriver.Chrome:
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        pytest.fail("chromedriver is needed for the browser tests: apt-get install -y "
                    "chromium chromium-driver (CI installs them in .ci/run)")
    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-background-networking",
                 "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-component-update", "--disable-sync", "--lang=en-US",
                 "--window-size=1280,1000", f"--user-data-dir={tmp / 'profile'}"):
        options.add_argument(flag)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        options.binary_location = chromium
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(120)
    return driver


@pytest.fixture(scope="module")
def desk(agency: Agency, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
         ) -> Iterator[RunningDesk]:
    config = make_desk_archive(agency.dir, tmp_path_factory.mktemp("desk"))
    running = start_desk(config)
    yield running
    running.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = _driver(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


def click_and_wait(driver: webdriver.Chrome, element_id: str) -> None:
    """Click a button that loads a new page, and wait for that page."""
    follow(driver, driver.find_element(By.ID, element_id))


def _gone(element: WebElement) -> Callable[[webdriver.Chrome], bool]:
    """Whether the page holding ``element`` has been replaced. Chromium answers an element
    of a page being torn down either as stale or, mid-navigation, with the inspector error
    "Node with given id does not belong to the document" (selenium's staleness_of lets
    that one through as a failure)."""
    def check(_driver: webdriver.Chrome) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False
    return check


def follow(driver: webdriver.Chrome, button: WebElement) -> None:
    """Click a link or button that loads a new page, and wait for that page (reading the
    page before the old one is gone finds nodes that vanish under a busy machine)."""
    button.click()
    WebDriverWait(driver, 60).until(_gone(button))
    WebDriverWait(driver, 60).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def log_in(driver: webdriver.Chrome, desk: RunningDesk, name: str,
           password: str = PASSWORD) -> None:
    driver.get(desk.url + "login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    click_and_wait(driver, "login")


def search(driver: webdriver.Chrome, text: str) -> list[str]:
    box = driver.find_element(By.ID, "q")
    box.clear()
    box.send_keys(text)
    click_and_wait(driver, "search")
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.client-link")]


def pdf_text(driver: webdriver.Chrome, url: str) -> str:
    """The PDF behind the page's Print (PDF) link, fetched with the browser's session."""
    cookie = driver.get_cookie("desk_session")
    assert cookie is not None
    s = requests.Session()
    s.trust_env = False
    got = s.get(url, cookies={"desk_session": cookie["value"]}, timeout=120)
    assert got.status_code == 200 and got.headers["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(got.content))
    return " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)


def _text(driver: webdriver.Chrome, css: str) -> str:
    return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, css))


def test_log_in_search_open_a_plan_and_print_it(desk: RunningDesk, browser: webdriver.Chrome,
                                               tmp_path: Path) -> None:
    log_in(browser, desk, "nora")
    assert browser.find_element(By.ID, "q")
    assert "Backed up as of" in browser.find_element(By.ID, "backed-up").text
    names = search(browser, "zoë mül")  # an accented partial name
    assert "Zoë Müller" in names
    shots = ROOT / os.environ["EXPORTER_SCREENSHOTS"] if os.environ.get(
        "EXPORTER_SCREENSHOTS") else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shots / "desk-search.png"))
    follow(browser, browser.find_element(By.LINK_TEXT, "Zoë Müller"))
    assert browser.find_element(By.CSS_SELECTOR, ".plan-title h1").text == "Zoë Müller"
    from urllib.parse import unquote

    address = unquote(browser.current_url)
    assert "/client/" in address  # an opaque token: no name, number or birth date
    assert not re.search(r"Zo|M[uü]ller|C-?000|1938", address.split("/client/")[1])
    code = _text(browser, '[data-section="code_status"] td.code')
    allergies = [e.text for e in browser.find_elements(
        By.CSS_SELECTOR, '[data-section="allergies"] table.records tbody.rec tr td:first-child')]
    assert code and allergies, browser.page_source[:2000]
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 120, 2200))
    assert browser.save_screenshot(str(shots / "desk-client.png"))
    browser.set_window_size(1280, 1000)
    link = browser.find_element(By.ID, "print-pdf").get_attribute("href")
    assert link and link.endswith("/plan.pdf")
    text = pdf_text(browser, link)
    assert "Zoë Müller" in text and code in text
    for allergy in allergies:
        assert allergy in text
    assert browser.find_element(By.ID, "print-page").get_attribute("data-print") is not None


def test_a_print_role_is_refused_documents_and_staff_management(
        desk: RunningDesk, browser: webdriver.Chrome) -> None:
    log_in(browser, desk, "nora")
    search(browser, "zoe muller")
    follow(browser, browser.find_element(By.LINK_TEXT, "Zoë Müller"))
    assert not browser.find_elements(By.ID, "documents")  # no button for the print role
    client_url = browser.current_url
    browser.get(client_url + "/documents")
    assert browser.find_element(By.ID, "message-heading").text == "Not for your role"
    browser.get(desk.url + "staff")
    assert browser.find_element(By.ID, "message-heading").text == "Not for your role"
    assert not browser.find_elements(By.LINK_TEXT, "Staff")


def test_a_forged_form_is_refused_and_logout_ends_the_session(
        desk: RunningDesk, browser: webdriver.Chrome) -> None:
    log_in(browser, desk, "olga")
    browser.execute_script(  # what a page on another site could not know: the token
        "document.querySelector('form.search input[name=csrf]').value = 'forged';")
    search(browser, "zoe")
    assert browser.find_element(By.ID, "message-heading").text == "This form has expired"
    browser.get(desk.url)
    click_and_wait(browser, "logout")
    assert "You are logged out" in browser.find_element(By.ID, "notice").text
    browser.get(desk.url)
    assert "/login" in browser.current_url
    assert browser.find_elements(By.ID, "password")


def test_lockout_after_repeated_wrong_passwords(agency: Agency, tmp_path: Path,  # noqa: F811
                                                browser: webdriver.Chrome) -> None:
    desk = start_desk(make_desk_archive(agency.dir, tmp_path / "d"))
    try:
        for _ in range(5):
            log_in(browser, desk, "nora", "not the password")
        assert "locked for 15 minutes" in browser.find_element(By.ID, "problem").text
        log_in(browser, desk, "nora")  # the right one, too late
        assert "locked" in browser.find_element(By.ID, "problem").text
        assert browser.find_elements(By.ID, "password")
    finally:
        desk.stop()


def test_the_session_expires_when_left_alone(agency: Agency, tmp_path: Path,  # noqa: F811
                                             browser: webdriver.Chrome) -> None:
    config = make_desk_archive(agency.dir, tmp_path / "d")
    write_config(config.parent, "[desk]\nsession_minutes = 0.05\n")
    desk = start_desk(config)
    try:
        log_in(browser, desk, "nora")
        assert browser.find_elements(By.ID, "q")
        time.sleep(4.5)
        browser.get(desk.url + "visits")
        assert "/login" in browser.current_url
        assert "without use" in browser.find_element(By.ID, "notice").text
    finally:
        desk.stop()


def test_offline_the_desk_serves_pages_and_prints(agency: Agency, tmp_path: Path,  # noqa: F811
                                                  browser: webdriver.Chrome) -> None:
    """The agency was synced and its sandbox stopped; the desk's process cannot open a
    connection or look up a name (every attempt is written down), and Chromium runs with
    background networking off: pages and the PDF still come."""
    _prefix, env, attempts = _offline(tmp_path)
    config = make_desk_archive(agency.dir, tmp_path / "d")
    desk = start_desk(config, env={k: env[k] for k in ("PYTHONPATH", "NO_NETWORK_LOG")})
    try:
        log_in(browser, desk, "olga")
        assert "Zoë Müller" in search(browser, "muller")
        follow(browser, browser.find_element(By.LINK_TEXT, "Zoë Müller"))
        assert browser.find_element(By.ID, "alerts")
        text = pdf_text(browser, browser.find_element(By.ID, "print-pdf").get_attribute("href"))
        assert "Zoë Müller" in text
        click_and_wait(browser, "documents")
        assert browser.find_elements(By.CSS_SELECTOR, "#document-list a")
        browser.get(desk.url + "visits")
        assert browser.find_element(By.ID, "week")
    finally:
        output = desk.stop()
    assert not attempts.exists() or attempts.read_text() == "", output
    assert not re.search(r"Traceback", output)
