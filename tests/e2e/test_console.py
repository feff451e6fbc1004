"""The web console, end to end: a real evidockd under the recorder simulator, a real
evidock-console talking to it over the control socket, and a real browser (Debian's
headless Chromium through chromedriver). Screenshots go to build/ for people to look
at. The signed-in pages are tested with real accounts in test_console_office.py."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import BUILD, REPO, rmtree
from simstation import make_sim, mkimage  # noqa: F401

CONSOLE = os.path.join(BUILD, "evidock-console")
SHOTS = os.path.join(REPO, "build")
HOSTILE_SERIAL = "<img src=x onerror=alert(1)>"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Console:
    def __init__(self, station, port=None):
        self.station = station
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(station.root, "console.log")
        self.proc = None

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([CONSOLE, "-c", self.station.conf, "--listen",
                                      f"127.0.0.1:{self.port}"], stdout=self.logf,
                                     stderr=self.logf)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/board", timeout=5) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError):
                pass
            assert self.proc.poll() is None, self.read_log()
            time.sleep(0.05)
        raise AssertionError("evidock-console did not come up: " + self.read_log())

    def stop(self, sig=signal.SIGTERM):
        if self.proc:
            self.proc.send_signal(sig)
            rc = self.proc.wait(timeout=30)
            self.proc = None
            self.logf.close()
            return rc
        return 0

    def read_log(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def http(url, data=None, headers=None):
    """(status, headers, body) without following redirects."""
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


@pytest.fixture
def console(make_sim):
    made = []

    def make(station):
        c = Console(station).start()
        made.append(c)
        return c

    yield make
    for c in made:
        if c.proc:
            assert c.stop() == 0, c.read_log()


@pytest.fixture
def browser():
    """Headless Chromium; if it cannot start, the test fails."""
    profile = tempfile.mkdtemp(prefix="evd-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              "--disable-dev-shm-usage", "--window-size=1280,900", f"--user-data-dir={profile}"]:
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()
        rmtree(profile)


def wait(drv, cond, timeout=120):
    return WebDriverWait(drv, timeout, poll_frequency=0.02).until(lambda d: cond(d))


def card_state(drv, serial):
    return drv.execute_script(
        "for (const c of document.querySelectorAll('#docks .card'))"
        " if (c.dataset.serial === arguments[0]) return c.dataset.state; return null;", serial)


def card_text(drv, serial, selector=None):
    """The text of serial's card (or of selector within it); cards are redrawn on
    every update, so they are read in one script rather than held."""
    return drv.execute_script(
        "for (const c of document.querySelectorAll('#docks .card'))"
        " if (c.dataset.serial === arguments[0]) {"
        "   const e = arguments[1] ? c.querySelector(arguments[1]) : c;"
        "   return e ? e.innerText : null; }"
        " return null;", serial, selector)


def no_alert(drv):
    try:
        drv.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def test_board_follows_a_dock_to_safe_to_remove_without_reload(make_sim, console, browser, tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "3", "--size", "300M", "--big", "200M")
    st = make_sim()
    st.start()
    st.register("REC-0001", handler="张三")
    c = console(st)
    browser.get(c.url + "/board")
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#docks .empty").text == "暂无记录仪接入")
    assert "采集站状态" in browser.find_element(By.ID, "health").text
    browser.execute_script("window.__same_page = 42;")
    # The time each state first shows on the page (browser clock = our clock).
    browser.execute_script("""
        window.__seen = {};
        new MutationObserver(() => {
          for (const c of document.querySelectorAll('#docks .card'))
            if (!(c.dataset.state in window.__seen)) window.__seen[c.dataset.state] = Date.now();
        }).observe(document.getElementById('docks'), {childList: true, subtree: true});""")
    st.dock(1, "REC-0001", img)
    wait(browser, lambda d: card_state(d, "REC-0001") == "copying")
    wait(browser, lambda d: "MB/s" in (card_text(d, "REC-0001") or ""))
    assert "张三" in card_text(browser, "REC-0001")
    browser.save_screenshot(os.path.join(SHOTS, "console-board-copying.png"))
    # The daemon's last answer before done is an upper bound on when it became done.
    last_not_done = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        t = time.time()
        d = [x for x in st.docks() if x["serial"] == "REC-0001"][0]
        if d["state"] == "done":
            break
        last_not_done = t
        time.sleep(0.02)
    assert d["state"] == "done", d
    wait(browser, lambda d: card_state(d, "REC-0001") == "done")
    seen = browser.execute_script("return window.__seen;")
    latency_ms = seen["done"] - last_not_done * 1000
    print(f"board latency (daemon done -> DOM): at most {latency_ms:.0f} ms")
    assert latency_ms < 2000, latency_ms
    assert card_text(browser, "REC-0001", ".safe") == "可以拔出"
    assert browser.execute_script("return window.__same_page;") == 42  # no reload
    browser.save_screenshot(os.path.join(SHOTS, "console-board.png"))
    # English on request.
    browser.find_element(By.ID, "lang").click()
    wait(browser, lambda d: "Safe to remove" in d.find_element(By.ID, "docks").text)
    st.undock(1)
    wait(browser, lambda d: card_state(d, "REC-0001") is None)


def card_look(drv, serial):
    """(class, border-top colour, reason text) of serial's card, read in one script."""
    return drv.execute_script(
        "for (const c of document.querySelectorAll('#docks .card'))"
        " if (c.dataset.serial === arguments[0]) {"
        "   const r = c.querySelector('.reason');"
        "   return [c.className, getComputedStyle(c).borderTopColor, r ? r.textContent : null]; }"
        " return null;", serial)


def test_failed_dock_card_turns_red_with_the_reason(make_sim, console, browser, tmp):
    # A recorder whose disk holds no filesystem it can read: the dock fails while the
    # recorder stays docked, and its card says so in red with the daemon's reason.
    img = os.path.join(tmp, "garbage.img")
    with open(img, "wb") as f:
        f.write(bytes(range(256)) * (32 << 10))  # 8 MiB, no boot sector
    st = make_sim(usb__settle_seconds="1")
    st.start()
    st.register("REC-BAD1", handler="王五")
    c = console(st)
    browser.get(c.url + "/board")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#docks .empty"))
    browser.execute_script("window.__same_page = 7;")
    st.dock(5, "REC-BAD1", img)
    wait(browser, lambda d: card_state(d, "REC-BAD1") == "failed")
    d = st.wait_dock("REC-BAD1", ("failed",))
    assert d["error"] and not d["safe_to_remove"], d
    cls, colour, reason = card_look(browser, "REC-BAD1")
    assert "state-failed" in cls.split(), cls
    assert colour == "rgb(198, 40, 40)", colour  # app.css: failed, interrupted, rejected
    assert reason == d["error"], (reason, d)
    assert "失败" in card_text(browser, "REC-BAD1", ".state")
    assert card_text(browser, "REC-BAD1", ".safe") is None  # never "safe to remove"
    assert browser.execute_script("return window.__same_page;") == 7  # no reload
    browser.save_screenshot(os.path.join(SHOTS, "console-board-failed.png"))
    # A good dock beside it is not red.
    good = os.path.join(tmp, "good.img")
    mkimage(good, "--fs", "fat32", "--clips", "1")
    st.register("REC-GOOD")
    st.dock(6, "REC-GOOD", good)
    wait(browser, lambda d: card_state(d, "REC-GOOD") == "done")
    cls, colour, reason = card_look(browser, "REC-GOOD")
    assert "state-done" in cls.split() and colour != "rgb(198, 40, 40)" and reason is None
    assert card_state(browser, "REC-BAD1") == "failed"
    # Pulled, the failed recorder's card goes.
    st.undock(5)
    wait(browser, lambda d: card_state(d, "REC-BAD1") is None)


def test_hostile_serial_renders_as_text(make_sim, console, browser, tmp):
    st = make_sim()
    st.start()
    c = console(st)
    browser.get(c.url + "/board")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#docks .empty"))
    st.dock(2, urllib.parse.quote(HOSTILE_SERIAL, safe="<>=()"), "-")
    wait(browser, lambda d: card_state(d, HOSTILE_SERIAL) == "rejected")
    assert card_text(browser, HOSTILE_SERIAL, ".serial") == HOSTILE_SERIAL
    assert "未读取的设备" in card_text(browser, HOSTILE_SERIAL)
    assert browser.find_elements(By.CSS_SELECTOR, "#board img") == []
    assert no_alert(browser)
    browser.save_screenshot(os.path.join(SHOTS, "console-board-rejected.png"))


def test_root_leads_the_kiosk_to_the_public_board(make_sim, console, browser):
    # The kiosk unit runs `chromium --kiosk http://127.0.0.1:8080/`: with no session, /
    # on the loopback listener is the board, not a sign-in page.
    st = make_sim()
    st.start()
    c = console(st)
    status, headers, _ = http(c.url + "/")
    assert status == 303 and headers["Location"] == "/board", (status, dict(headers))
    status, _, body = http(c.url + headers["Location"])
    assert status == 200 and 'id="board"' in body and 'name="password"' not in body
    browser.delete_all_cookies()
    browser.get(c.url + "/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#docks .empty"))
    assert browser.current_url == c.url + "/board"
    assert not browser.find_elements(By.NAME, "password")
    with open(os.path.join(REPO, "systemd/evidock-kiosk.service.example")) as f:
        unit = f.read()
    assert "--kiosk" in unit and "http://127.0.0.1:8080/\n" in unit, unit


def test_pages_need_sign_in_and_forms_need_their_token(make_sim, console, browser):
    st = make_sim()
    st.start()
    c = console(st)
    # Every page but the board sends a visitor to sign in, and comes back after.
    for path in ["/items", "/items/1", "/label", "/export", "/audit", "/admin"]:
        status, headers, _ = http(c.url + path)
        assert status == 303, path
        assert headers["Location"] == "/login?next=" + urllib.parse.quote(path, safe=""), path
    browser.get(c.url + "/items?case=1")
    wait(browser, lambda d: d.current_url.startswith(c.url + "/login"))
    assert browser.find_element(By.NAME, "password").get_attribute("type") == "password"
    # Every response forbids inline script and framing.
    status, headers, body = http(c.url + "/board")
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "<script>" not in body and " style=" not in body
    # Sign-in: the form's token comes in a SameSite=Strict, HttpOnly cookie.
    status, headers, body = http(c.url + "/login")
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    pre = cookie.split(";")[0]
    token = pre.split("=", 1)[1]
    assert f'name="csrf" value="{token}"' in body
    form = urllib.parse.urlencode({"user": "张三", "password": "x", "next": "/items"}).encode()
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    # Forged: no token, a wrong token, the right token from another origin.
    assert http(c.url + "/login", form, dict(ctype, Cookie=pre))[0] == 403
    forged = form + b"&csrf=" + b"A" * 43
    assert http(c.url + "/login", forged, dict(ctype, Cookie=pre))[0] == 403
    good = form + b"&csrf=" + token.encode()
    assert http(c.url + "/login", good, dict(ctype, Cookie=pre, Origin="http://evil.example"))[0] == 403
    assert http(c.url + "/login", good, ctype)[0] == 403  # the cookie is missing
    # With its token the sign-in reaches the daemon, which decides (no such account:
    # refused, without saying which part was wrong, and no session cookie is set).
    status, headers, body = http(c.url + "/login", good, dict(ctype, Cookie=pre))
    assert status == 401 and "用户名或密码错误" in body
    assert "evd_session" not in (headers.get("Set-Cookie") or "")
    # A forged state change without a session is sent to sign in, changing nothing.
    status, headers, _ = http(c.url + "/label", b"item=1&case=x&party=y", ctype)
    assert status == 303 and headers["Location"].startswith("/login")
    # A made-up session cookie is no session.
    status, _, _ = http(c.url + "/items", None, {"Cookie": "evd_session=" + "A" * 43})
    assert status == 303
    # Requests too large are refused.
    status, _, _ = http(c.url + "/login", b"a=" + b"x" * 70000, dict(ctype, Cookie=pre))
    assert status == 413
    browser.get(c.url + "/login")
    browser.save_screenshot(os.path.join(SHOTS, "console-login.png"))


def test_killing_the_console_mid_dock_leaves_the_dock_alone(make_sim, console, browser, tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "2", "--size", "300M", "--big", "200M")
    st = make_sim()
    st.start()
    st.register("REC-0002")
    c = console(st)
    browser.get(c.url + "/board")
    st.dock(3, "REC-0002", img)
    wait(browser, lambda d: card_state(d, "REC-0002") in ("copying", "done"))
    c.stop(signal.SIGKILL)
    d = st.wait_dock("REC-0002", ("done", "failed", "interrupted"), timeout=300)
    assert d["state"] == "done" and d["safe_to_remove"], d
    assert d["files_done"] == d["files_total"] > 0 and d["files_failed"] == 0, d
    # A new console shows it.
    c2 = console(st)
    browser.get(c2.url + "/board")
    wait(browser, lambda d: card_state(d, "REC-0002") == "done")


def test_listen_elsewhere_needs_tls(make_sim, tmp):
    st = make_sim()
    with open(st.conf, "a") as f:
        f.write("[console]\nlisten = 0.0.0.0:8443\n")
    p = subprocess.run([CONSOLE, "-c", st.conf], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "tls_cert" in p.stderr, p.stderr
    p = subprocess.run([CONSOLE, "-c", os.path.join(REPO, "config/evidock.conf"), "--listen",
                        "0.0.0.0:8080"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr


ASK = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
for cmd in sys.argv[2:]:
    f.write(json.dumps({"cmd": cmd, "args": {"warnings": True} if cmd == "board" else {}}) + "\n")
    f.flush()
    print(f.readline().strip())
"""


def test_board_is_open_to_no_role_and_holds_no_recording_content(make_sim, tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "2")
    st = make_sim()
    st.start()
    st.register("REC-0003", handler="李四")
    st.dock(4, "REC-0003", img)
    st.wait_dock("REC-0003", ("done",))
    # nobody has no role: the board answers, status does not.
    os.chmod(tmp, 0o755)
    os.chmod(st.root, 0o755)
    p = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", ASK, st.sock,
                        "board", "status"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    board, status = [json.loads(line) for line in p.stdout.splitlines()]
    assert status["ok"] is False and "permission" in status["error"], status
    assert board["ok"] is True, board
    b = board["result"]
    d = [x for x in b["docks"] if x["serial"] == "REC-0003"][0]
    assert d["state"] == "done" and d["safe_to_remove"] and d["holder"] == "李四", d
    assert d["files_done"] == d["files_total"] > 0 and d["eta_s"] is None
    assert set(b["health"]) >= {"free_bytes", "items_total", "scrub", "warnings"}
    # No recording content: no paths, hashes, labels or item ids.
    text = json.dumps(b)
    for word in ("original_path", "sha256", "labels", "DCIM", ".MP4", ".mp4", "case_no"):
        assert word not in text, word


ASK_LINES = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
for line in sys.argv[2:]:
    f.write(line + "\n")
    f.flush()
    print(f.readline().strip())
"""


def ask_as_nobody(st, tmp, *requests):
    """Each request ({"cmd", "args"}) over the control socket as nobody (no role)."""
    os.chmod(tmp, 0o755)
    os.chmod(st.root, 0o755)
    p = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", ASK_LINES,
                        st.sock] + [json.dumps(r) for r in requests],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def import_one(st, tmp, name):
    src = os.path.join(tmp, name)
    os.makedirs(os.path.join(src, "DCIM"))
    with open(os.path.join(src, "DCIM", "CLIP0001.MP4"), "wb") as f:
        f.write(os.urandom(300000))
    st.ctl("recorder", "add", "SN-0009", "--handler-id", "0009", "--handler-name", "孙九", check=True)
    st.ctl("import", src, "--recorder", "SN-0009", check=True)


def test_public_board_health_has_days_left_and_replication_lag(make_station, console, browser,
                                                               tmp):
    # Without [replication]: days left at the week's rate; replication off.
    st = make_station(scrub__interval="off")
    st.start()
    import_one(st, tmp, "a")
    [board, audit] = ask_as_nobody(st, tmp, {"cmd": "board", "args": {}},
                                   {"cmd": "audit", "args": {"item": "1"}})
    assert board["ok"] and not audit["ok"] and "permission" in audit["error"], (board, audit)
    h = board["result"]["health"]
    assert isinstance(h["days_left"], int) and h["days_left"] > 0, h
    assert h["replication"] == {"enabled": False, "alarms": 0}, h
    assert st.stop() == 0
    # With [replication] (no S3 needed: the daemon keeps the backlog, the replicator
    # is another process): the pending count, bytes and the oldest's age, and nothing
    # of the endpoint, bucket or items.
    creds = os.path.join(tmp, "s3.cred")
    with open(creds, "w") as f:
        f.write("access_key = AKIAEXAMPLE\nsecret_key = not-a-real-secret\n")
    os.chmod(creds, 0o600)
    st2 = make_station(scrub__interval="off", replication__endpoint="http://127.0.0.1:9",
                       replication__bucket="evd-secret-bucket", replication__credentials=creds)
    st2.start()
    import_one(st2, tmp, "b")
    [board] = ask_as_nobody(st2, tmp, {"cmd": "board", "args": {"warnings": True}})
    assert board["ok"], board
    r = board["result"]["health"]["replication"]
    assert r["enabled"] is True and r["items"] == 1 and r["pending"] == 1, r
    assert r["pending_bytes"] == 300000 and r["oldest_pending_s"] >= 0 and r["alarms"] == 0, r
    text = json.dumps(board["result"])
    for word in ("127.0.0.1:9", "evd-secret-bucket", "last_reconciliation", "CLIP0001"):
        assert word not in text, word
    # The public board (no sign-in) shows both.
    c = console(st2)
    browser.delete_all_cookies()
    browser.get(c.url + "/board")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#health .replication"))
    # One read of both (the health is redrawn as the oldest's age grows).
    days, lag = browser.execute_script(
        "const h = document.getElementById('health');"
        "return [h.querySelector('.daysleft').textContent, h.querySelector('.replication').textContent];")
    assert "按近期存储速度可用天数" in days and any(ch.isdigit() for ch in days), days
    assert "异地备份延迟" in lag and "1 / 1" in lag, lag
    assert not browser.find_elements(By.ID, "station-status")
