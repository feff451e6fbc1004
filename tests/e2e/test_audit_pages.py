"""audit and access-log in pages (issue 16), as items: --limit N and --after SEQ walk the
log in seq order with bounded replies ({"items": [...], "next": seq or null});
evidockctl without --limit asks for every page in turn. A log of a few thousand entries
comes back whole, each entry once and in order; a user without a role is refused; a
cursor past the log's end is refused saying so."""
import json
import os
import pwd
import subprocess
import tempfile
import time

import pytest

from helpers import control_request, random_file

NOBODY = "evd-t-pgnobody"


def request(station, cmd, args):
    return control_request(station.sock, cmd, args, timeout=120)


def walk(station, cmd, limit, **args):
    """Every page of cmd through the socket; the entries and the number of pages."""
    seen, after, pages = [], None, 0
    while True:
        q = dict(args, limit=limit)
        if after is not None:
            q["after"] = after
        reply = request(station, cmd, q)
        assert reply["ok"], reply
        page = reply["result"]
        assert set(page) == {"items", "next"} and len(page["items"]) <= limit
        pages += 1
        seen += page["items"]
        after = page["next"]
        if after is None:
            return seen, pages
        assert after == page["items"][-1]["seq"] and len(page["items"]) == limit


@pytest.fixture(scope="module")
def log():
    """A station whose log holds a few thousand entries: 100 items labelled 30 times
    over, with 60 accesses among them."""
    from conftest import Station, rmtree
    root = tempfile.mkdtemp(prefix="evd-e2e-")
    os.chmod(root, 0o755)  # the user without a role reaches the socket
    os.makedirs(os.path.join(root, "st"))
    st = Station(os.path.join(root, "st"))
    st.start()
    src = os.path.join(root, "src")
    for i in range(100):
        random_file(os.path.join(src, "DCIM/100MEDIA/VID%04d.MP4" % i), 500 + i, i)
    st.ctl("import", src, "--recorder", "PG-1", check=True)
    ids = [it["id"] for it in st.json("items")]
    for round_ in range(30):
        st.ctl("label", "--recorder", "PG-1", "--case", "X罚〔2026〕%d号" % round_, check=True)
        for k in range(2):
            st.ctl("access", ids[(2 * round_ + k) % len(ids)], "--requester", "a",
                   "--approver", "b", "--reason", "round %d" % round_, check=True)
    yield st
    assert st.stop() == 0
    rmtree(root)


def test_the_whole_log_once_in_order(log):
    everything = log.json("audit")  # evidockctl pages this by itself
    assert len(everything) > 3000
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    seen, pages = walk(log, "audit", 97)
    assert pages == (len(everything) + 96) // 97
    assert seen == everything
    # One page at a time from evidockctl, and the hint for the next on stderr.
    first = log.json("audit", "--limit", "1000")
    assert first["items"] == everything[:1000] and first["next"] == 1000
    rest = log.json("audit", "--after", "3000")
    assert rest["items"] == everything[3000:] and rest["next"] is None
    r = log.ctl("audit", "--limit", "3", "--after", "10", check=True)
    assert "more entries: ask again with --after 13" in r.stderr.decode()
    # --since chooses where to start; the pages go on by seq.
    since = everything[2000]["time"]
    want = [e for e in everything if e["time"] >= since]
    assert walk(log, "audit", 250, since=since)[0] == want
    assert log.json("audit", "--since", since) == want
    # The legacy from_seq still reads from there (a page's worth at most).
    reply = request(log, "audit", {"from_seq": len(everything) - 4})
    assert reply["ok"] and reply["result"] == everything[-5:], reply


def test_access_log_pages_through_a_long_log(log):
    everything = log.json("audit")
    want = [e for e in everything if e["event"] in ("item.accessed", "export.done")]
    assert len(want) == 60
    assert log.json("access-log") == want
    seen, pages = walk(log, "access-log", 7)
    assert seen == want and pages == 9
    page = log.json("access-log", "--limit", "10", "--after", str(want[9]["seq"]))
    assert page["items"] == want[10:20] and page["next"] == want[19]["seq"]
    until = want[29]["time"]
    assert walk(log, "access-log", 4, until=until)[0] == [e for e in want if e["time"] <= until]
    # csv through every page: one header and every row.
    csv = log.ctl("access-log", "--format", "csv", check=True).stdout.decode().splitlines()
    assert len([line for line in csv if "seq,time,local_time,operator" in line]) == 1
    assert len(csv) == 1 + 60


def test_follow_reads_every_page_then_waits(log):
    n = len(log.json("audit"))
    p = subprocess.Popen([log.evidockctl, "--socket", log.sock, "--json", "audit", "--follow"],
                         stdout=subprocess.PIPE)
    try:
        seqs = []
        while len(seqs) < n:
            line = p.stdout.readline()
            assert line, "audit --follow ended"
            seqs.append(json.loads(line)["seq"])
        assert seqs == list(range(1, n + 1))
        item = log.json("items", "--limit", "1")["items"][0]["id"]
        log.ctl("access", item, "--requester", "a", "--approver", "b", "--reason", "follow",
                check=True)
        e = json.loads(p.stdout.readline())
        assert e["seq"] == n + 1 and e["details"]["reason"] == "follow"
    finally:
        p.kill()
        p.wait()
    assert log.ctl("audit", "--follow", "--limit", "5").returncode == 2


def test_bad_cursors_and_limits_are_refused(log):
    head = log.json("audit", "--limit", "1", "--after", "1")["items"][0]["seq"]
    assert head == 2
    last = log.json("audit")[-1]["seq"]
    for cmd in ("audit", "access-log"):
        for bad in ("0", "-1", "1001", "abc", "99999999999999999999"):
            r = log.ctl(cmd, "--limit", bad)
            assert r.returncode == 2, (cmd, bad, r.stderr)
        for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "5"}, {"after": -3},
                    {"after": 1.5}, {"after": 0}, {"limit": True}):
            reply = request(log, cmd, bad)
            assert reply["ok"] is False and "must be a whole number" in reply["error"], reply
        reply = request(log, cmd, {"after": last + 1000})
        assert reply["ok"] is False, reply
        assert "no audit entry %d to list after (the log ends at %d)" % (last + 1000, last) \
            in reply["error"], reply
        r = log.ctl(cmd, "--after", str(last + 1000))
        assert r.returncode == 1 and "no audit entry %d" % (last + 1000) in r.stderr.decode()
    # The last entry is a cursor with nothing after it.
    assert log.json("audit", "--after", str(last)) == {"items": [], "next": None}
    assert log.ctl("status").returncode == 0


@pytest.fixture
def nobody():
    try:
        pwd.getpwnam(NOBODY)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", NOBODY], check=True)
    yield NOBODY
    subprocess.run(["userdel", NOBODY], check=False)


def test_no_role_is_refused(log, nobody):
    for args in (["audit"], ["audit", "--limit", "5"], ["audit", "--after", "3"],
                 ["access-log"], ["access-log", "--limit", "2", "--after", "1"]):
        r = log.ctl(*args, user=nobody)
        assert r.returncode == 1, (args, r.stdout)
        assert b"permission denied: " in r.stderr and b"archivist role" in r.stderr, r.stderr
        assert r.stdout == b""
    deadline = time.monotonic() + 120  # refusals are audited (the first at once)
    while time.monotonic() < deadline:
        if any(e["event"] == "request.refused" and e["actor"]["name"] == nobody
               for e in log.json("audit", "--since", "2000-01-01")):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the refusal was not audited")


def walk_back(station, cmd, limit, **args):
    """Every page of cmd newest first (newest_first, then before=next); the entries."""
    seen, before = [], None
    while True:
        q = dict(args, limit=limit)
        if before is None:
            q["newest_first"] = True
        else:
            q["before"] = before
        reply = request(station, cmd, q)
        assert reply["ok"], reply
        page = reply["result"]
        assert set(page) == {"items", "next"} and len(page["items"]) <= limit
        seen += page["items"]
        before = page["next"]
        if before is None:
            return seen
        assert before == page["items"][-1]["seq"] and len(page["items"]) == limit


def test_newest_first_pages_backward(log):
    everything = log.json("audit")
    newest = list(reversed(everything))
    first = request(log, "audit", {"newest_first": True, "limit": 10})["result"]
    assert first["items"] == newest[:10] and first["next"] == newest[9]["seq"]
    assert walk_back(log, "audit", 97) == newest
    # before alone: the entries before that seq, newest first; the head + 1 is the end.
    head = everything[-1]["seq"]
    page = request(log, "audit", {"before": 1001, "limit": 5})["result"]
    assert [e["seq"] for e in page["items"]] == [1000, 999, 998, 997, 996]
    assert page["next"] == 996
    assert request(log, "audit", {"before": head + 1, "limit": 3})["result"]["items"] == \
        newest[:3]
    assert request(log, "audit", {"before": 1, "limit": 3})["result"] == \
        {"items": [], "next": None}
    # The filters: event, actor (its name), text; backward and forward alike.
    accessed = [e for e in newest if e["event"] == "item.accessed"]
    got = walk_back(log, "audit", 7, event="item.acc")
    assert got == accessed
    assert walk(log, "audit", 7, event="item.acc")[0] == list(reversed(accessed))
    assert walk_back(log, "audit", 50, text="round 17") == \
        [e for e in accessed if e["details"]["reason"] == "round 17"]
    assert walk_back(log, "audit", 50, actor="no such actor") == []
    since = everything[2000]["time"]
    assert walk_back(log, "audit", 250, since=since) == \
        [e for e in newest if e["time"] >= since]
    # access-log the same way, and evidockctl's --newest-first / --before.
    want = [e for e in newest if e["event"] in ("item.accessed", "export.done")]
    assert walk_back(log, "access-log", 7) == want
    until = want[30]["time"]
    assert walk_back(log, "access-log", 4, until=until) == [e for e in want if e["time"] <= until]
    assert log.json("audit", "--newest-first") == newest
    assert log.json("access-log", "--newest-first") == want
    r = log.ctl("audit", "--limit", "3", "--before", "10", check=True)
    assert "more entries: ask again with --before 7" in r.stderr.decode()
    assert log.json("audit", "--before", "4") == {"items": everything[:3][::-1], "next": None}
    assert log.json("audit", "--event", "item.accessed", "--newest-first") == accessed


def test_bad_backward_cursors_are_refused(log):
    last = log.json("audit", "--newest-first", "--limit", "1")["items"][0]["seq"]
    for cmd in ("audit", "access-log"):
        for bad in ({"before": 0}, {"before": -1}, {"before": 2.5}, {"before": "7"},
                    {"before": True}):
            reply = request(log, cmd, bad)
            assert reply["ok"] is False and "must be a whole number" in reply["error"], reply
        assert request(log, cmd, {"before": 2 ** 63})["ok"] is False  # not JSON to jansson
        reply = request(log, cmd, {"before": last + 1000})
        assert reply["ok"] is False and \
            "no audit entry %d to list before (the log ends at %d)" % (last + 1000, last) \
            in reply["error"], reply
        for both in ({"before": 5, "after": 2}, {"newest_first": True, "after": 2},
                     {"newest_first": True, "from_seq": 4}):
            reply = request(log, cmd, both)
            assert reply["ok"] is False and "give one of them" in reply["error"], reply
        for bad in ({"newest_first": "yes"}, {"actor": 5}, {"text": ["x"]}):
            assert request(log, cmd, bad)["ok"] is False, (cmd, bad)
        for bad in ("0", "-2", "x", "99999999999999999999"):
            assert log.ctl(cmd, "--before", bad).returncode == 2
        assert log.ctl(cmd, "--before", "3", "--after", "1").returncode == 2
    assert log.ctl("audit", "--follow", "--newest-first").returncode == 2
    assert log.ctl("status").returncode == 0
