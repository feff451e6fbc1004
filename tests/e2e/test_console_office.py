"""The web console's signed-in pages, end to end with the real evidockd, real accounts
made with `evidockctl user add` + `user passwd`, the real evidock-console and a real
browser (headless Chromium): a clerk lists, opens and labels items and is refused the
archivist's pages and a forged POST; an archivist exports a case and downloads the
signed ISO (checked with `evidockctl verify-disc` and bsdtar), one download per volume
of a split export, registers a view and a copy (the original downloaded through it),
reads compliance and audit and runs verify; an admin sees recorders and accounts and
holds an item; five wrong passwords lock an account. Screenshots go to build/."""
import hashlib
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from selenium.webdriver.common.by import By

from helpers import random_file, sha256_file
from simstation import make_sim  # noqa: F401 (the console fixture asks for it)
from test_console import SHOTS, browser, console, http, no_alert, wait  # noqa: F401

CASE = "X罚〔2026〕17号"
HOSTILE = "<img src=x onerror=alert(1)>.mp4"
PW = {"张三": "clerk-pass-2026", "李四": "archivist-pass-2026", "王五": "admin-pass-2026",
      "钱七": "another-pass-2026"}
ROLES = {"张三": "clerk", "李四": "archivist", "王五": "admin", "钱七": "clerk"}
BAD_LOGIN = "用户名或密码错误。连续失败5次，账号将锁定5分钟。"


def passwd(station, name, password):
    p = subprocess.run([station.evidockctl, "--socket", station.sock, "user", "passwd", name],
                       input=password + "\n", capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


@pytest.fixture
def office(make_station, tmp):
    st = make_station(scrub__interval="off")
    st.start()
    st.ctl("keys", "init", check=True)
    src = os.path.join(tmp, "src")
    for i, (name, size) in enumerate([("CLIP0001.MP4", 600000), ("CLIP0002.MP4", 500000),
                                      ("CLIP0003.MP4", 400000), (HOSTILE, 1000)]):
        random_file(os.path.join(src, "DCIM", name), size, 300 + i)
    st.ctl("recorder", "add", "SN-0001", "--handler-id", "0451", "--handler-name", "赵承办",
           "--since", "2026-01-01", check=True)
    st.ctl("import", src, "--recorder", "SN-0001", check=True)
    for name, role in ROLES.items():
        st.ctl("user", "add", name, "--role", role, check=True)
        passwd(st, name, PW[name])
    st.src = src
    return st


def sign_in(drv, url, name, password, then="/items"):
    drv.delete_all_cookies()
    drv.get(url + then)
    wait(drv, lambda d: d.find_elements(By.NAME, "password"))
    drv.find_element(By.NAME, "user").send_keys(name)
    drv.find_element(By.NAME, "password").send_keys(password)
    drv.find_element(By.CSS_SELECTOR, "form.login button").click()


def signed_in(drv, url, name, then="/items"):
    sign_in(drv, url, name, PW[name], then)
    wait(drv, lambda d: d.current_url == url + then)
    return drv.get_cookie("evd_session")["value"]


def csrf_of(drv):
    return drv.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")


def downloads_to(drv, folder):
    os.makedirs(folder, exist_ok=True)
    drv.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow",
                                                        "downloadPath": folder})


def downloaded(folder, name, timeout=120):
    path = os.path.join(folder, name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and not any(f.endswith(".crdownload") for f in os.listdir(folder)):
            return path
        time.sleep(0.05)
    raise AssertionError(f"{name} not downloaded: {os.listdir(folder)}")


def test_clerk_pages_with_a_real_account(office, console, browser):
    st = office
    c = console(st)
    cookie = signed_in(browser, c.url, "张三")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.items tbody tr")
    assert len(rows) == 4
    assert "DCIM/" + HOSTILE in browser.find_element(By.CSS_SELECTOR, "table.items").text
    assert browser.find_elements(By.CSS_SELECTOR, "main img") == [] and no_alert(browser)
    # The clerk's nav has no archivist or admin pages.
    nav = browser.find_element(By.CSS_SELECTOR, "header nav").text
    assert "记录" in nav and "导出" not in nav and "管理" not in nav
    hostile = [it for it in st.json("items") if it["original_path"].endswith(HOSTILE)][0]
    browser.get(f"{c.url}/items/{hostile['id']}")
    assert HOSTILE in browser.find_element(By.ID, "item").text and no_alert(browser)
    browser.save_screenshot(os.path.join(SHOTS, "console-item.png"))
    ids = [str(it["id"]) for it in st.json("items")][:3]
    browser.get(f"{c.url}/label?item={ids[0]}&item={ids[1]}&item={ids[2]}")
    browser.find_element(By.ID, "f-case").send_keys(CASE)
    browser.find_element(By.ID, "f-party").send_keys("李某")
    browser.find_element(By.CSS_SELECTOR, "#label-form button").click()
    wait(browser, lambda d: d.find_elements(By.ID, "label-done"))
    assert browser.find_element(By.ID, "label-done").text.endswith("3")
    assert st.json("show", ids[0])["labels"]["case_no"] == CASE
    assert any(e["actor"]["name"] == "web:张三" and e["event"].startswith("item.")
               for e in st.json("audit"))
    # Refused: the archivist's pages, and a POST without the form's token.
    ck = {"Cookie": "evd_session=" + cookie}
    for page in ("/export", "/access", "/compliance", "/audit", "/admin"):
        assert http(c.url + page, None, ck)[0] == 403, page
    form = {"Content-Type": "application/x-www-form-urlencoded", **ck}
    body = f"item={ids[0]}&case=X罚〔2026〕1号&party=p".encode()
    assert http(c.url + "/label", body, form)[0] == 403
    assert http(c.url + "/label", body + b"&csrf=" + b"B" * 43, form)[0] == 403
    assert http(c.url + "/export", b"what=case&case=x&csrf=" + b"B" * 43, form)[0] == 403
    assert st.json("show", ids[0])["labels"]["case_no"] == CASE
    # The signed-in board adds status's warnings to the health (days left included).
    browser.get(c.url + "/board")
    wait(browser, lambda d: d.find_elements(By.ID, "station-status"))
    assert "按近期存储速度可用天数" in browser.find_element(By.ID, "health").text
    # Sign out: the daemon's session ends.
    browser.find_element(By.CSS_SELECTOR, ".who form button").click()
    wait(browser, lambda d: any(e["event"] == "user.logout" for e in st.json("audit")))
    assert http(c.url + "/items", None, ck)[0] == 303


def test_archivist_exports_registers_and_checks(office, console, browser, tmp):
    st = office
    by_name = {it["original_path"].split("/")[-1]: str(it["id"]) for it in st.json("items")}
    ids = [by_name[n] for n in ("CLIP0001.MP4", "CLIP0002.MP4", "CLIP0003.MP4")]
    st.ctl("label", *ids, "--case", CASE, "--party", "张三", check=True)
    c = console(st)
    signed_in(browser, c.url, "李四", "/export")
    folder = os.path.join(tmp, "dl")
    downloads_to(browser, folder)
    for field, value in (("case", "X罚[2026]17号"), ("maker", "王制作"), ("extractor", "李提取"),
                         ("approver", "张所长"), ("reason", "案件归档")):
        browser.find_element(By.ID, "f-" + field).send_keys(value)
    browser.save_screenshot(os.path.join(SHOTS, "console-export.png"))
    browser.find_element(By.CSS_SELECTOR, "#export-form button").click()
    wait(browser, lambda d: d.find_elements(By.ID, "export-done"))
    links = browser.find_elements(By.CSS_SELECTOR, "#export-done a.download")
    assert len(links) == 1
    links[0].click()
    iso = downloaded(folder, CASE + ".iso")
    assert oct(os.stat(iso).st_mode)[-3:] != "777"
    p = st.ctl("verify-disc", iso)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    listing = subprocess.run(["bsdtar", "-tf", iso], capture_output=True, text=True, check=True)
    assert "signature.p7s" in listing.stdout and "CLIP0001.MP4" in listing.stdout
    # The link served once: a second fetch, or someone else's, finds nothing.
    href = links[0].get_attribute("href")
    cookie = browser.get_cookie("evd_session")["value"]
    assert http(href, None, {"Cookie": "evd_session=" + cookie})[0] == 404
    # A split export (1.9 MB volumes, 1 MiB of each kept for the disc): one download per volume, named from the case.
    browser.get(c.url + "/export")
    body = urllib.parse.urlencode({"csrf": csrf_of(browser), "what": "case", "case": CASE,
                                   "maker": "王制作", "extractor": "李提取", "approver": "张所长",
                                   "reason": "分卷", "media": "1900000"}).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "evd_session=" + cookie}
    status, _, page = http(c.url + "/export", body, form)
    assert status == 200, page
    hrefs = re.findall(r'class="download" href="(/download/[A-Za-z0-9_-]+)"', page)
    assert len(hrefs) >= 2, page
    for n, h in enumerate(hrefs, 1):
        req = urllib.request.Request(c.url + h, headers={"Cookie": form["Cookie"]})
        with urllib.request.urlopen(req, timeout=60) as r:
            cd = r.headers["Content-Disposition"]
            data = r.read()
        assert cd.startswith("attachment; ") and \
            f"filename*=UTF-8''{urllib.parse.quote(f'{CASE}-{n}.iso', safe='')}" in cd, cd
        vol = os.path.join(tmp, f"vol-{n}.iso")
        with open(vol, "wb") as f:
            f.write(data)
        p = st.ctl("verify-disc", vol)
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    # The access register: a view, then a copy whose original is downloaded.
    browser.get(c.url + "/access")
    assert "导出" in browser.find_element(By.ID, "access-log").text  # the exports
    for field, value in (("item", ids[0]), ("requester", "刘律师"), ("approver", "张所长"),
                         ("reason", "阅卷")):
        browser.find_element(By.ID, "f-" + field).send_keys(value)
    browser.find_element(By.CSS_SELECTOR, "#access-form button").click()
    wait(browser, lambda d: d.find_elements(By.ID, "access-done"))
    assert browser.find_elements(By.CSS_SELECTOR, "#access-done a") == []
    for field, value in (("item", ids[1]), ("requester", "刘律师"), ("approver", "张所长"),
                         ("reason", "复制原件")):
        browser.find_element(By.ID, "f-" + field).send_keys(value)
    browser.find_element(By.ID, "r-kind-copy").click()
    browser.find_element(By.CSS_SELECTOR, "#access-form button").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#access-done a.download"))
    log = browser.find_element(By.ID, "access-log").text
    assert "调阅" in log and "复制" in log and "刘律师" in log
    browser.save_screenshot(os.path.join(SHOTS, "console-access.png"))
    browser.find_element(By.CSS_SELECTOR, "#access-done a.download").click()
    copy = downloaded(folder, f"{ids[1]}-CLIP0002.MP4")
    assert sha256_file(copy) == sha256_file(os.path.join(st.src, "DCIM", "CLIP0002.MP4"))
    assert http(c.url + "/download/" + "A" * 43, None, {"Cookie": form["Cookie"]})[0] == 404
    kinds = [e["event"] for e in st.json("access-log")]
    assert kinds.count("export.done") == 2 and kinds.count("item.accessed") == 2
    # Compliance: charts as inline SVG, the late and overdue lists.
    browser.get(c.url + "/compliance")
    wait(browser, lambda d: d.find_elements(By.ID, "chart-months"))
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-months rect.bar")
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-handlers rect.bar")
    assert browser.find_element(By.ID, "handlers").text
    browser.save_screenshot(os.path.join(SHOTS, "console-compliance.png"))
    # Audit: the account's actions under web:李四; verify gives its verdict.
    browser.get(c.url + "/audit?actor=" + urllib.parse.quote("web:李四"))
    text = browser.find_element(By.ID, "audit").text
    assert "export.done" in text and "item.accessed" in text
    browser.find_element(By.CSS_SELECTOR, "#verify button").click()
    wait(browser, lambda d: d.find_elements(By.ID, "verdict"))
    assert browser.find_element(By.CSS_SELECTOR, "#verdict h2").text == "校验通过"
    browser.save_screenshot(os.path.join(SHOTS, "console-audit.png"))
    assert http(c.url + "/admin", None, {"Cookie": form["Cookie"]})[0] == 403


def test_item_page_shows_its_history_hold_and_integrity(office, console, browser, tmp):
    st = office
    by_name = {it["original_path"].split("/")[-1]: str(it["id"]) for it in st.json("items")}
    item, other = by_name["CLIP0001.MP4"], by_name["CLIP0002.MP4"]
    st.ctl("label", item, "--case", CASE, "--party", "张三", check=True)
    st.ctl("hold", item, "--reason", "复议审查<中>", check=True)
    st.ctl("hold", other, "--reason", "别的记录", check=True)
    st.ctl("export", item, "--maker", "王制作", "--extractor", "李提取", "--approver", "张所长",
           "--reason", "案件归档", "-o", os.path.join(tmp, "one.iso"), check=True)
    # The daemon's audit --item: this item's entries only, in seq order, paged.
    mine = st.json("audit", "--item", item)
    events = [e["event"] for e in mine]
    assert events[:1] == ["item.stored"] and "item.labelled" in events, events
    assert "item.held" in events, events  # the export is in the item's exports
    assert {e["subject"] for e in mine} == {"item:" + item}
    assert [e["seq"] for e in mine] == sorted(e["seq"] for e in mine)
    assert st.json("audit", "--item", item, "--after", mine[1]["seq"], "--limit", "1")["items"] \
        == mine[2:3]
    for bad, why in (("99999", "no such item"), ("1 OR 1", "neither an item id")):
        p = st.ctl("audit", "--item", bad)
        assert p.returncode != 0 and why in p.stderr.decode(), p.stderr
    c = console(st)
    signed_in(browser, c.url, "李四", "/items/" + item)
    hist = browser.find_element(By.ID, "history").text
    for ev in ("item.stored", "item.labelled", "item.held", "root"):
        assert ev in hist, (ev, hist)
    assert "别的记录" not in hist
    assert browser.find_element(By.ID, "hold-reason").text == "复议审查<中>"
    assert no_alert(browser)
    integrity = browser.find_element(By.CSS_SELECTOR, "#integrity td")
    assert integrity.get_attribute("data-value") == "not-media"
    assert integrity.text == "不是音视频文件"
    assert "王制作" in browser.find_element(By.ID, "exports").text
    assert browser.find_element(By.CSS_SELECTOR, "#time-source td").text
    browser.save_screenshot(os.path.join(SHOTS, "console-item-history.png"))
    browser.get(c.url + "/lang/en?next=/items/" + item)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "html[lang=en] #integrity"))
    assert browser.find_element(By.CSS_SELECTOR, "#integrity td").text == "not a media file"
    assert "Audit history" in browser.page_source
    # A clerk sees the item and its hold, not the log: audit is the archivist's.
    signed_in(browser, c.url, "张三", "/items/" + item)
    assert browser.find_element(By.ID, "hold-reason").text == "复议审查<中>"
    assert not browser.find_elements(By.ID, "history")


def test_admin_page_and_lockout(office, console, browser):
    st = office
    ids = [str(it["id"]) for it in st.json("items")]
    c = console(st)
    signed_in(browser, c.url, "王五", "/admin")
    assert "SN-0001" in browser.find_element(By.ID, "recorders").text
    assert "赵承办" in browser.find_element(By.ID, "recorders").text
    accounts = browser.find_element(By.ID, "accounts").text
    assert "张三" in accounts and "clerk" in accounts and "active" in accounts
    form = browser.find_element(By.ID, "form-hold")
    form.find_element(By.NAME, "items").send_keys(ids[0])
    form.find_element(By.NAME, "reason").send_keys("诉讼保全")
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait(browser, lambda d: d.find_elements(By.ID, "admin-done"))
    assert st.json("show", ids[0])["hold"] is True
    form = browser.find_element(By.ID, "form-purge")
    form.find_element(By.NAME, "approver").send_keys("张所长")
    form.find_element(By.NAME, "reason").send_keys("年度清理")
    form.find_element(By.CSS_SELECTOR, "button").click()  # dry run is ticked by default
    wait(browser, lambda d: d.find_elements(By.ID, "admin-done"))
    assert len(st.json("items")) == 4
    browser.save_screenshot(os.path.join(SHOTS, "console-admin.png"))
    # Five wrong passwords lock the account: then even the right one is refused, and
    # the page never says which part was wrong.
    for _ in range(5):
        sign_in(browser, c.url, "钱七", "wrong-password")
        wait(browser, lambda d: d.find_elements(By.ID, "login-error"))
        assert browser.find_element(By.ID, "login-error").text == BAD_LOGIN
    sign_in(browser, c.url, "钱七", PW["钱七"])
    wait(browser, lambda d: d.find_elements(By.ID, "login-error"))
    assert browser.find_element(By.ID, "login-error").text == BAD_LOGIN
    assert [u for u in st.json("user", "list") if u["name"] == "钱七"][0]["locked"] is True
    failed = [e for e in st.json("audit") if e["event"] == "user.login_failed"]
    assert len(failed) == 6 and failed[-1]["details"]["client"] == "127.0.0.1"
    assert hashlib.sha256(PW["钱七"].encode()).hexdigest() not in c.read_log()
    assert PW["钱七"] not in c.read_log()
