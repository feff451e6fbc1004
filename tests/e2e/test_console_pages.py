"""The web console over plain HTTP (no browser), with a real evidockd and the real
evidock-console: the items page walks the daemon's `items --limit --after` cursor (the
console never asks for the whole list), its links keep the filters; the admin page's
account forms (set a password, disable an account) send `user.passwd` / `user.disable`
for an admin only, with the form's CSRF token, and the password travels in the POST
body only and is never echoed or logged; an item's occurrences, notes and sequence gaps
are rows a person reads, not JSON."""
import html
import os
import re
import subprocess
import urllib.parse
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from helpers import random_file
from simstation import make_sim  # noqa: F401 (the console fixture asks for it)
from test_console import console, http  # noqa: F401

PW = {"admin1": "admin-pass-2026", "clerk1": "clerk-pass-2026", "clerk2": "second-pass-2026"}
ROLES = {"admin1": "admin", "clerk1": "clerk", "clerk2": "clerk"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def passwd(station, name, password):
    p = subprocess.run([station.evidockctl, "--socket", station.sock, "user", "passwd", name],
                       input=password + "\n", capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def sign_in(url, name, password):
    """(status, session cookie or None) of a sign-in through the form."""
    status, headers, body = http(url + "/login")
    assert status == 200
    pre = headers["Set-Cookie"].split(";")[0]
    token = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
    form = urllib.parse.urlencode({"user": name, "password": password, "next": "/items",
                                   "csrf": token}).encode()
    status, headers, _ = http(url + "/login", form, dict(FORM, Cookie=pre))
    cookies = headers.get_all("Set-Cookie") or []
    session = [c.split(";")[0] for c in cookies if c.startswith("evd_session=")]
    return status, (session[0] if session and session[0] != "evd_session=" else None)


def session_of(url, name):
    status, cookie = sign_in(url, name, PW[name])
    assert status == 303 and cookie, (name, status)
    return cookie


def get(url, cookie):
    return http(url, None, {"Cookie": cookie})


def csrf(url, cookie, path):
    status, _, body = get(url + path, cookie)
    assert status == 200, (path, status)
    return re.search(r'name="csrf" value="([^"]+)"', body).group(1)


@pytest.fixture
def accounts(make_station):
    st = make_station(scrub__interval="off")
    st.start()
    for name, role in ROLES.items():
        st.ctl("user", "add", name, "--role", role, check=True)
        passwd(st, name, PW[name])
    return st


def ids_of(body):
    return [int(i) for i in re.findall(r'<a href="/items/(\d+)">', body)]


def next_link(body):
    m = re.search(r'id="next-page" href="([^"]+)"', body)
    return html.unescape(m.group(1)) if m else None


def test_items_pages_follow_the_daemons_cursor_and_keep_filters(accounts, console, tmp):
    st = accounts
    for serial, n in [("PAGE-A", 120), ("PAGE-B", 7)]:
        src = os.path.join(tmp, serial)
        for i in range(n):
            random_file(os.path.join(src, "DCIM/100MEDIA/V%04d.MP4" % i), 500 + i,
                        hash(serial) % 1000 + i)
        st.ctl("import", src, "--recorder", serial, check=True)
    every_a = [it["id"] for it in st.json("items", "--recorder", "PAGE-A")]
    assert len(every_a) == 120
    c = console(st)
    cookie = session_of(c.url, "clerk1")

    # Page by page through the filter: 50, 50, 20, in the daemon's order, no item twice,
    # no item of the other recorder, each next link keeping the filter.
    seen, path, pages = [], "/items?recorder=PAGE-A", []
    while path:
        status, _, body = get(c.url + path, cookie)
        assert status == 200, (path, body)
        pages.append(ids_of(body))
        seen += pages[-1]
        path = next_link(body)
        if path:
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            assert q["recorder"] == ["PAGE-A"] and q["after"] == [str(seen[-1])], path
            assert 'id="first-page"' in get(c.url + path, cookie)[2]
    assert [len(p) for p in pages] == [50, 50, 20]
    assert seen == every_a
    assert len(set(seen)) == len(seen)
    # The first page has no link back to itself; the unfiltered listing pages the whole
    # catalogue (127 items) the same way.
    status, _, body = get(c.url + "/items", cookie)
    assert 'id="first-page"' not in body and len(ids_of(body)) == 50
    everything = [it["id"] for it in st.json("items")]
    status, _, body = get(c.url + next_link(body), cookie)
    assert ids_of(body) == everything[50:100]
    # Hostile cursors: not a number, zero, huge, negative (refused); an item that does
    # not exist (the daemon's no such item).
    for bad in ["abc", "0", "-1", "99999999999999999999999", "1x", " 1"]:
        q = urllib.parse.urlencode({"after": bad})
        assert get(c.url + "/items?" + q, cookie)[0] == 400, bad
    assert get(c.url + "/items?after=999999", cookie)[0] == 404


def test_admin_sets_passwords_and_disables_accounts(accounts, console):
    st = accounts
    c = console(st)
    admin = session_of(c.url, "admin1")
    clerk = session_of(c.url, "clerk1")
    token = csrf(c.url, admin, "/admin")
    status, _, body = get(c.url + "/admin", admin)
    assert 'id="form-passwd"' in body and 'id="form-disable"' in body
    assert 'name="password" type="password"' in body

    def post(cookie, what, fields, query=""):
        return http(c.url + "/admin/" + what + query, urllib.parse.urlencode(fields).encode(),
                    dict(FORM, Cookie=cookie))

    # A clerk posting the admin's form (with the clerk's own valid token) is refused.
    clerk_token = csrf(c.url, clerk, "/items")
    status, _, _ = post(clerk, "disable", {"name": "clerk2", "csrf": clerk_token})
    assert status == 403
    status, _, _ = post(clerk, "passwd", {"name": "admin1", "password": "taken-over-2026",
                                          "csrf": clerk_token})
    assert status == 403
    # The admin without the token, or with a wrong one, is refused too.
    assert post(admin, "disable", {"name": "clerk2"})[0] == 403
    assert post(admin, "disable", {"name": "clerk2", "csrf": "A" * 43})[0] == 403
    assert sign_in(c.url, "admin1", PW["admin1"])[1]  # nothing changed
    users = {u["name"]: u for u in st.json("user", "list")}
    assert not users["clerk2"].get("disabled") and not users["admin1"].get("disabled")

    # A new password, in the body: the old one stops working, the new one works, and
    # neither the page nor the console's log shows it.
    new = "new-secret-pass-2026"
    status, _, body = post(admin, "passwd", {"name": "clerk2", "password": new, "csrf": token})
    assert status == 200 and 'id="admin-done"' in body, body
    assert new not in body
    assert sign_in(c.url, "clerk2", PW["clerk2"]) == (401, None)
    assert sign_in(c.url, "clerk2", new)[1]
    # A password in the URL is refused, even with the body's as well.
    status, _, body = post(admin, "passwd", {"name": "clerk2", "password": new, "csrf": token},
                           "?password=in-the-url-2026")
    assert status == 400 and "in-the-url-2026" not in body
    assert sign_in(c.url, "clerk2", "in-the-url-2026") == (401, None)
    # The daemon's rule on length is its own: a short one is refused, not echoed.
    status, _, body = post(admin, "passwd", {"name": "clerk2", "password": "short",
                                             "csrf": token})
    assert status == 400 and 'id="admin-error"' in body and "short" not in body.split("<main")[-1]

    # Disabled: the account can no longer sign in.
    status, _, body = post(admin, "disable", {"name": "clerk2", "csrf": token})
    assert status == 200 and 'id="admin-done"' in body
    assert sign_in(c.url, "clerk2", new) == (401, None)
    assert [u for u in st.json("user", "list") if u["name"] == "clerk2"][0]["disabled"]
    # An account that does not exist: the daemon's refusal on the page.
    status, _, body = post(admin, "disable", {"name": "nobody", "csrf": token})
    assert status == 400 and 'id="admin-error"' in body
    log = c.read_log()
    assert new not in log and PW["clerk2"] not in log and "in-the-url-2026" not in log
    # Audited once each (three passwords set at the start, one here), as the admin.
    audit = st.json("audit")
    events = [e["event"] for e in audit]
    assert events.count("user.disabled") == 1 and events.count("user.password") == 3 + 1
    assert [e for e in audit if e["event"] == "user.disabled"][0]["actor"]["name"] == "web:admin1"


def cells(body, table_id):
    """The rows of table id as lists of cell texts (tags dropped, entities decoded)."""
    m = re.search(r'<table class="list" id="%s">.*?<tbody>(.*?)</tbody>' % table_id, body, re.S)
    assert m, table_id
    rows = re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c))
             for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


def test_item_page_shows_occurrences_notes_and_gaps_as_rows(make_station, console, tmp):
    st = make_station(scrub__interval="off", ingest__sequence_pattern=r"CLIP([0-9]{4})\.MP4$")
    st.start()
    st.ctl("user", "add", "clerk1", "--role", "clerk", check=True)
    passwd(st, "clerk1", PW["clerk1"])
    src = os.path.join(tmp, "a")
    for n in (1, 2, 5):  # 3 and 4 missing
        random_file(os.path.join(src, "DCIM/100MEDIA/CLIP%04d.MP4" % n), 4000 + n, 700 + n)
    st.ctl("import", src, "--recorder", "SN-GAP", check=True)
    # The same bytes as CLIP0005 on another recorder: an occurrence.
    other = os.path.join(tmp, "b")
    random_file(os.path.join(other, "DCIM/<b>拷贝</b>.MP4"), 4005, 705)
    st.ctl("import", other, "--recorder", "SN-OTHER", check=True)
    ids = {it["original_path"].split("/")[-1]: it["id"] for it in st.json("items")}
    item, before = ids["CLIP0005.MP4"], ids["CLIP0002.MP4"]
    c = console(st)
    cookie = session_of(c.url, "clerk1")

    status, _, body = get(c.url + "/items/%d" % item, cookie)
    assert status == 200, body
    assert "missing_from" not in body and "{&quot;" not in body  # no JSON on the page
    assert cells(body, "gaps") == [["DCIM/100MEDIA/", "3–4", "%d – %d" % (before, item), "未说明"]]
    assert '<a href="/items/%d">' % before in body
    [occ] = cells(body, "occurrences")
    assert occ[0] == "SN-OTHER" and occ[1] == "DCIM/<b>拷贝</b>.MP4" and occ[2] == "3.9 KiB", occ
    assert occ[4].endswith("(+08:00)"), occ
    assert "<b>拷贝" not in body  # escaped
    assert 'id="notes"' not in body

    # A note (Chinese, two lines, markup typed in) explains the gap.
    text = "电池耗尽，录像中断 10 分钟\n<script>alert(1)</script>"
    st.ctl("note", str(item), "--text", text, check=True)
    note = st.json("show", str(item))["notes"][0]
    status, _, body = get(c.url + "/items/%d" % item, cookie)
    assert status == 200
    local = datetime.fromisoformat(note["time"].replace("Z", "+00:00")).astimezone(
        ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M (+08:00)")
    assert cells(body, "notes") == [[local, note["by"], text]]
    assert "<script>alert" not in body
    assert cells(body, "gaps")[0][3] == "已说明"
    # In English too.
    status, _, body = get(c.url + "/items/%d" % item, cookie + "; evd_lang=en")
    assert cells(body, "gaps")[0][3] == "explained" and "<th>Written by</th>" in body
