"""The web console's audit page on a log longer than a page, TLS serving, and labelling
a dock session through the label form, end to end with the real evidockd,
evidock-console and (for the pages) headless Chromium.

The audit page asks the daemon for exactly one page, newest first (audit's
newest_first / before / after with the form's filters): its first row is the log's
newest entry however long the log, its older and newer links walk it, and hostile
cursors are refused. Under tls_cert/tls_key the console speaks HTTPS only and its
cookies carry Secure, HttpOnly and SameSite=Strict."""
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from http import client as http_client

import pytest
from selenium.webdriver.common.by import By

from helpers import random_file
from simstation import make_sim, mkimage  # noqa: F401 (the console fixture asks for it)
from test_console import CONSOLE, browser, console, free_port, http, wait  # noqa: F401
from test_console_office import PW as ACCOUNTS, passwd, signed_in

PW = ACCOUNTS["李四"]  # the archivist's, as signed_in knows it


def audit_rows(drv):
    """The audit table's rows as (seq, event, text), read in one script."""
    rows = drv.execute_script(
        "return Array.from(document.querySelectorAll('#audit tbody tr'))"
        ".map(r => Array.from(r.cells).map(c => c.innerText));")
    return [(int(r[0]), r[2], " ".join(r)) for r in rows]


def newest_seq(st):
    return st.json("audit", "--newest-first", "--limit", "1")["items"][0]["seq"]


@pytest.fixture
def long_log(make_station, tmp):
    """A station whose log is a few pages long: 3 items and 300 notes on them."""
    st = make_station(scrub__interval="off")
    st.start()
    src = os.path.join(tmp, "src")
    for i in range(3):
        random_file(os.path.join(src, "DCIM", "CLIP%04d.MP4" % i), 2000 + i, 40 + i)
    st.ctl("import", src, "--recorder", "SN-LOG", check=True)
    st.ctl("user", "add", "李四", "--role", "archivist", check=True)
    passwd(st, "李四", PW)
    ids = [it["id"] for it in st.json("items")]
    for n in range(300):
        st.ctl("note", str(ids[n % 3]), "--text", "批注 note %d" % n, check=True)
    return st


def test_audit_page_is_the_newest_page_of_a_long_log(long_log, console, browser):
    st = long_log
    c = console(st)
    signed_in(browser, c.url, "李四", "/audit")
    head = newest_seq(st)
    assert head > 300
    rows = audit_rows(browser)
    assert len(rows) == 100
    assert rows[0][0] == head  # the newest entry first, whatever the log's length
    assert [r[0] for r in rows] == sorted((r[0] for r in rows), reverse=True)
    # Older: the next 100 below, then back to the newest through "newer".
    browser.find_element(By.CSS_SELECTOR, "a[rel=next]").click()
    wait(browser, lambda d: audit_rows(d) and audit_rows(d)[0][0] < rows[-1][0])
    older = audit_rows(browser)
    assert len(older) == 100 and older[0][0] == rows[-1][0] - 1
    browser.find_element(By.CSS_SELECTOR, "a[rel=prev]").click()
    wait(browser, lambda d: audit_rows(d) and audit_rows(d)[0][0] == head)
    assert not browser.find_elements(By.CSS_SELECTOR, "a[rel=prev]")
    # Walk to the oldest page: its last row is entry 1 and it has no older link.
    browser.get(c.url + "/audit?before=150")
    last = audit_rows(browser)
    assert [r[0] for r in last] == list(range(149, 49, -1))
    browser.find_element(By.CSS_SELECTOR, "a[rel=next]").click()
    wait(browser, lambda d: audit_rows(d) and audit_rows(d)[-1][0] == 1)
    assert not browser.find_elements(By.CSS_SELECTOR, "a[rel=next]")
    # Filters go to the daemon: text (Chinese too), event, actor; the page is still
    # the newest matches first, and the links keep the filters.
    browser.get(c.url + "/audit?q=" + urllib.parse.quote("批注 note 1"))
    got = audit_rows(browser)
    want = [n for n in range(299, -1, -1) if str(n).startswith("1")]  # 111 of them
    assert len(got) == 100 and all("批注 note 1" in r[2] for r in got)
    assert "note %d" % want[0] in got[0][2]
    browser.find_element(By.CSS_SELECTOR, "a[rel=next]").click()
    wait(browser, lambda d: "before=" in d.current_url)
    assert "q=" in browser.current_url
    rest = audit_rows(browser)
    assert len(got) + len(rest) == len(want) and all("note 1" in r[2] for r in rest)
    browser.get(c.url + "/audit?event=item.noted&actor=" + urllib.parse.quote("nobody-here"))
    assert audit_rows(browser) == []
    # Hostile cursors are refused, not guessed at.
    cookie = {"Cookie": "evd_session=" + browser.get_cookie("evd_session")["value"]}
    for bad in ("before=abc", "before=0", "before=-5", "after=1e3", "before=1&after=2",
                "before=99999999999999999999", "after=%s" % ("9" * 400)):
        status, _, body = http(c.url + "/audit?" + bad, None, cookie)
        assert status == 400, (bad, status, body)
    status, _, body = http(c.url + "/audit?before=%d" % (head + 1000), None, cookie)
    assert status == 404 and "no audit entry %d to list before" % (head + 1000) in body, body
    status, _, body = http(c.url + "/audit?after=%d" % (head + 1000), None, cookie)
    assert status == 404 and "to list after" in body
    # Without a session, the cursor reaches nothing.
    assert http(c.url + "/audit?before=10")[0] in (302, 303)


def make_cert(folder):
    key, cert = os.path.join(folder, "console.key"), os.path.join(folder, "console.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    os.chmod(key, 0o644)  # the console may run as another user in other tests' setups
    return cert, key


def test_console_serves_https_only_with_secure_cookies(make_station, tmp):
    cert, key = make_cert(tmp)
    port = free_port()
    st = make_station(console__listen="127.0.0.1:%d" % port, console__tls_cert=cert,
                      console__tls_key=key)
    st.start()
    log = open(os.path.join(tmp, "console.log"), "ab")
    proc = subprocess.Popen([CONSOLE, "-c", st.conf], stdout=log, stderr=log)
    ctx = ssl.create_default_context(cafile=cert)
    url = "https://127.0.0.1:%d" % port
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, open(os.path.join(tmp, "console.log")).read()
            try:
                with urllib.request.urlopen(url + "/board", context=ctx, timeout=5) as r:
                    assert r.status == 200 and "看板" in r.read().decode()
                    break
            except (OSError, urllib.error.URLError):
                assert time.monotonic() < deadline, "no HTTPS on %s" % url
                time.sleep(0.05)
        # The sign-in page sets the pre-session CSRF cookie: Secure, HttpOnly, Strict.
        with urllib.request.urlopen(url + "/login", context=ctx, timeout=30) as r:
            cookies = r.headers.get_all("Set-Cookie") or []
            page = r.read().decode()
        assert cookies, "no cookie on the sign-in page"
        for ck in cookies:
            assert "; Secure" in ck and "HttpOnly" in ck and "SameSite=Strict" in ck, ck
        # Signing in: the session cookie carries the same.
        st.ctl("user", "add", "李四", "--role", "archivist", check=True)
        passwd(st, "李四", PW)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        pre = "; ".join(ck.split(";")[0] for ck in cookies)
        body = urllib.parse.urlencode({"csrf": csrf, "user": "李四", "password": PW}).encode()
        req = urllib.request.Request(url + "/login", data=body, headers={
            "Cookie": pre, "Origin": url, "Content-Type": "application/x-www-form-urlencoded"})

        class Keep(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), Keep)
        try:
            resp = opener.open(req, timeout=30)
            headers = resp.headers
        except urllib.error.HTTPError as e:
            headers = e.headers
        session = [ck for ck in headers.get_all("Set-Cookie") or [] if "evd_session=" in ck]
        assert session, headers
        assert "; Secure" in session[0] and "HttpOnly" in session[0] and \
            "SameSite=Strict" in session[0], session
        # Plain HTTP on the same port gets no page.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /board HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            got = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            except (ConnectionResetError, socket.timeout):
                pass
        assert not got.startswith(b"HTTP/1.1 200") and "看板".encode() not in got, got[:200]
        status = None
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/board" % port, timeout=30) as r:
                status = r.status
        except (OSError, urllib.error.URLError, http_client.HTTPException):
            status = "refused"
        assert status == "refused"
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        log.close()


def test_label_a_dock_session_through_the_form(make_sim, console, browser, tmp):
    st = make_sim()
    st.start()
    st.register("REC-S1", handler="张三")
    st.register("REC-S2", handler="张三", handler_id="H002")
    imgs = []
    for n in (1, 2):
        img = os.path.join(tmp, "rec%d.img" % n)
        # different lengths: different content (the same would be one item twice seen)
        mkimage(img, "--fs", "fat32", "--clips", "2", "--size", "64M", "--seconds", str(n + 1))
        imgs.append(img)
    st.dock(1, "REC-S1", imgs[0])
    first = st.wait_dock("REC-S1", ("done",), timeout=300)
    st.dock(2, "REC-S2", imgs[1])
    st.wait_dock("REC-S2", ("done",), timeout=300)
    session = first["session"]
    ours = {it["id"] for it in st.json("items") if it["recorder"] == "REC-S1"}
    others = {it["id"] for it in st.json("items") if it["recorder"] == "REC-S2"}
    assert ours and others
    st.ctl("user", "add", "张三", "--role", "clerk", check=True)
    passwd(st, "张三", ACCOUNTS["张三"])
    c = console(st)
    signed_in(browser, c.url, "张三", "/label")
    # A session number that is not one is refused beside its field, labelling nothing.
    browser.find_element(By.ID, "f-session").send_keys("abc")
    browser.find_element(By.ID, "f-case").send_keys("X罚〔2026〕21号")
    browser.find_element(By.ID, "f-party").send_keys("王某")
    browser.find_element(By.CSS_SELECTOR, "#label-form button").click()
    wait(browser, lambda d: any(e.text for e in d.find_elements(By.CSS_SELECTOR, ".error")))
    assert all(not it["labels"].get("case_no") for it in st.json("items"))
    # The dock session: everything it brought in, nothing else.
    browser.get(c.url + "/label")
    browser.find_element(By.ID, "f-session").send_keys(str(session))
    browser.find_element(By.ID, "f-case").send_keys("X罚〔2026〕21号")
    browser.find_element(By.ID, "f-party").send_keys("王某")
    browser.find_element(By.CSS_SELECTOR, "#label-form button").click()
    wait(browser, lambda d: d.find_elements(By.ID, "label-done"))
    assert browser.find_element(By.ID, "label-done").text.endswith(": %d" % len(ours))
    items = {it["id"]: it for it in st.json("items")}
    assert all(items[i]["labels"]["case_no"] == "X罚〔2026〕21号" and
               items[i]["labels"]["party"] == "王某" for i in ours)
    assert all(not items[i]["labels"].get("case_no") for i in others)
    labelled = [e for e in st.json("audit", "--event", "item.labelled", "--newest-first")
                if e["actor"]["name"] == "web:张三"]
    assert {int(e["subject"].split(":")[1]) for e in labelled} == ours
    st.undock(1)
    st.undock(2)
