#!/usr/bin/env python3
"""make bench (the web console): two figures, each beside a peer measured in the same run.

(a) Board latency: a recorder docked through tests/sim (an image of BENCH_CONSOLE_MB
    MiB) under the real evidockd, the real evidock-console in front of it. A probe asks
    the daemon's `board` on the control socket every 5 ms and notes when each dock state
    (serial, state, files_done, bytes_done) first appears; a client of the console's
    server-sent events (/board/events) notes when it receives it. The peer is
    `evidockctl --json status` run every 200 ms (the console's own poll period) noting
    the same states. Latency = first seen by the client - first seen by the probe, over
    the states both saw, BENCH_CONSOLE_ROUNDS docks. Goal (issue 14): under 500 ms. The
    same to the DOM: the board page open in headless Chromium (selenium), where a
    MutationObserver notes when each state first shows on a card.
(b) Items page: tests/bench/fill writes BENCH_CONSOLE_ITEMS (100,000) items; a clerk
    signed in asks /items (page 1), /items?case=C (a filtered page) and /items?after=ID
    (a deep page through the cursor) BENCH_CONSOLE_REQUESTS (50) times each, timed over
    HTTP on loopback. The peer is `evidockctl --json items --limit 50` with the same
    filter or cursor (each time includes evidockctl's own start). Goal: under 200 ms.
Prints median and p95 in ms, the goal and the ratio to the peer. Never fails on a figure.

  tests/bench/console.py BUILD_DIR"""
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build"))
os.environ["EVIDOCK_BUILD"] = BUILD
sys.path.insert(0, os.path.join(REPO, "tests/e2e"))
from conftest import Station  # noqa: E402
from simstation import SimStation, mkimage  # noqa: E402

CONSOLE = os.path.join(BUILD, "evidock-console")
MB = int(os.environ.get("BENCH_CONSOLE_MB", "400"))
ROUNDS = int(os.environ.get("BENCH_CONSOLE_ROUNDS", "3"))
ITEMS = int(os.environ.get("BENCH_CONSOLE_ITEMS", "100000"))
REQUESTS = int(os.environ.get("BENCH_CONSOLE_REQUESTS", "50"))
CASE = "X罚〔2025〕42号"  # one of fill.c's cases
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_console(station):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(os.path.join(station.root, "console.log"), "ab")
    proc = subprocess.Popen([CONSOLE, "-c", station.conf, "--listen", f"127.0.0.1:{port}"],
                            stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/board", timeout=5):
                return proc, url
        except OSError:
            assert proc.poll() is None, "evidock-console exited"
            time.sleep(0.05)
    raise RuntimeError("evidock-console did not come up")


def stop(proc):
    proc.terminate()
    proc.wait(timeout=30)


def stats(xs):
    xs = sorted(xs)
    if not xs:
        return float("nan"), float("nan")
    return statistics.median(xs), xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def keys(board):
    return {(d.get("serial"), d.get("state"), d.get("files_done"), d.get("bytes_done"))
            for d in board.get("docks", [])}


def ask(sock, cmd):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(sock)
        s.sendall(json.dumps({"cmd": cmd}).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            data = s.recv(65536)
            if not data:
                break
            buf += data
    reply = json.loads(buf.split(b"\n")[0])
    return reply.get("result", reply)


class Seen:
    """When each dock state was first seen by one observer (wall-clock seconds, the
    clock the browser's page has too)."""

    def __init__(self):
        self.first = {}

    def note(self, board, t):
        for k in keys(board):
            self.first.setdefault(k, t)


def watch(stop_ev, period, fetch, seen):
    while not stop_ev.is_set():
        try:
            board = fetch()
            seen.note(board, time.time())
        except (OSError, ValueError):
            pass
        stop_ev.wait(period)


def sse(url, stop_ev, seen):
    with urllib.request.urlopen(url + "/board/events", timeout=60) as r:
        for line in r:
            if stop_ev.is_set():
                return
            if line.startswith(b"data: "):
                seen.note(json.loads(line[6:]), time.time())


DOM_OBSERVER = """
    window.__seen = {};
    new MutationObserver(() => {
      const t = (performance.timeOrigin + performance.now()) / 1000;
      for (const c of document.querySelectorAll('#docks .card')) {
        const k = [c.dataset.serial, c.dataset.state, c.dataset.files, c.dataset.bytes].join('|');
        if (!(k in window.__seen)) window.__seen[k] = t;
      }
    }).observe(document.getElementById('docks'), {childList: true, subtree: true});"""


def open_board(url, profile):
    """Headless Chromium on the board page, a MutationObserver noting each card state."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-dev-shm-usage",
              f"--user-data-dir={profile}"]:
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.get(url + "/board")
    deadline = time.monotonic() + 60
    while not drv.execute_script("return !!document.querySelector('#docks .empty');"):
        if time.monotonic() > deadline:
            raise RuntimeError("the board page did not draw")
        time.sleep(0.05)
    drv.execute_script(DOM_OBSERVER)
    return drv


def dom_seen(drv):
    seen = Seen()
    for k, t in drv.execute_script("return window.__seen;").items():
        serial, state, files, nbytes = k.split("|")
        seen.first[(serial, state, int(files), int(nbytes))] = t
    return seen


def board_latency(work):
    os.makedirs(os.path.join(work, "sim"))
    st = SimStation(os.path.join(work, "sim"), scrub__interval="off")
    img = os.path.join(work, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "3", "--size", f"{MB + 100}M", "--big", f"{MB}M",
            manifest=False)
    st.start()
    st.register("BENCH-0001", handler="bench")
    proc, url = start_console(st)
    drv = open_board(url, os.path.join(work, "chromium"))
    probe, client, peer = Seen(), Seen(), Seen()
    stop_ev = threading.Event()
    ctl = [st.evidockctl, "--socket", st.sock, "--json", "status"]
    threads = [
        threading.Thread(target=watch, args=(stop_ev, 0.005, lambda: ask(st.sock, "board"), probe)),
        threading.Thread(target=watch, args=(stop_ev, 0.2, lambda: json.loads(
            subprocess.run(ctl, capture_output=True, check=True).stdout), peer)),
        threading.Thread(target=sse, args=(url, stop_ev, client), daemon=True),
    ]
    try:
        for t in threads:
            t.start()
        for _ in range(ROUNDS):
            st.dock(1, "BENCH-0001", img)
            st.wait_dock("BENCH-0001", ["done", "failed"], timeout=600)
            time.sleep(0.5)  # the last state reaches every observer (not a test)
            st.undock(1)
            st.wait_gone("BENCH-0001")
    finally:
        stop_ev.set()
        for t in threads[:2]:
            t.join()
        try:
            dom = dom_seen(drv)
        finally:
            drv.quit()
            stop(proc)
            st.stop()

    def after_probe(seen):  # [(ms, state)], slowest first
        return sorted(((seen.first[k] - t) * 1000, k) for k, t in probe.first.items()
                      if k in seen.first)[::-1]
    return after_probe(client), after_probe(dom), after_probe(peer), len(probe.first)


def http(url, data=None, headers=None):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=120) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def sign_in(url, name, password):
    _, headers, body = http(url + "/login")
    pre = headers["Set-Cookie"].split(";")[0]
    token = re.search(rb'name="csrf" value="([^"]+)"', body).group(1).decode()
    form = urllib.parse.urlencode({"user": name, "password": password, "csrf": token}).encode()
    status, headers, _ = http(url + "/login", form, dict(FORM, Cookie=pre))
    assert status == 303, status
    return [c.split(";")[0] for c in headers.get_all("Set-Cookie")
            if c.startswith("evd_session=")][0]


def items_pages(work):
    os.makedirs(os.path.join(work, "cat"))
    st = Station(os.path.join(work, "cat"), scrub__interval="off")
    t0 = time.monotonic()
    subprocess.run([os.path.join(BUILD, "fill"), st.state, str(ITEMS)], check=True)
    fill_s = time.monotonic() - t0
    st.start()
    st.ctl("user", "add", "bench", "--role", "clerk", check=True)
    subprocess.run([st.evidockctl, "--socket", st.sock, "user", "passwd", "bench"],
                   input="bench-pass-2026\n", text=True, check=True, capture_output=True)
    proc, url = start_console(st)
    deep = str(ITEMS // 2)
    queries = [("page 1", "/items", []),
               ("filtered (--case)", "/items?" + urllib.parse.urlencode({"case": CASE}),
                ["--case", CASE]),
               ("deep (after=%s)" % deep, "/items?after=" + deep, ["--after", deep])]
    out = []
    try:
        cookie = sign_in(url, "bench", "bench-pass-2026")
        for name, path, args in queries:
            web, peer = [], []
            for _ in range(REQUESTS):
                t = time.perf_counter()
                status, _, body = http(url + path, None, {"Cookie": cookie})
                web.append((time.perf_counter() - t) * 1000)
                assert status == 200, (path, status)
                t = time.perf_counter()
                st.ctl("--json", "items", "--limit", "50", *args, check=True)
                peer.append((time.perf_counter() - t) * 1000)
            out.append((name, stats(web), stats(peer)))
    finally:
        stop(proc)
        st.stop()
    return fill_s, out


def main():
    work = tempfile.mkdtemp(prefix="evidock-consolebench-", dir="/var/tmp")
    try:
        lat, dlat, plat, states = board_latency(work)
        fill_s, pages = items_pages(work)
    finally:
        # the station's store is write-once (immutable files): rmtree alone leaves it
        subprocess.run(["chattr", "-R", "-i", work], stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(work, ignore_errors=True)
    (m, p), (dm, dp), (pm, pp) = [stats([ms for ms, _ in x]) for x in (lat, dlat, plat)]
    print(f"\nweb console: board latency, daemon state -> SSE client and -> DOM ({ROUNDS} "
          f"docks of {MB} MiB, {states} states seen by a 5 ms probe; {len(lat)} reached the "
          f"SSE client, {len(dlat)} the DOM, {len(plat)} the peer)")
    print(f"{'':34}{'median ms':>10}{'p95 ms':>10}{'goal ms':>10}")
    print(f"{'console SSE (poll 200 ms)':34}{m:10.0f}{p:10.0f}{500:10}")
    print(f"{'console DOM (headless Chromium)':34}{dm:10.0f}{dp:10.0f}{500:10}")
    print(f"{'peer: evidockctl status / 200 ms':34}{pm:10.0f}{pp:10.0f}{'':>10}")
    print(f"{'ratio console SSE/peer':34}{m / pm:10.2f}{p / pp:10.2f}")
    print(f"{'ratio console DOM/peer':34}{dm / pm:10.2f}{dp / pp:10.2f}")
    for name, x in (("SSE", lat), ("DOM", dlat), ("peer", plat)):
        if x:
            print(f"slowest to the {name}: {x[0][0]:.0f} ms, state {x[0][1]}")
    print(f"\nweb console: items page with {ITEMS} items (fill {fill_s:.0f} s), "
          f"{REQUESTS} requests each; peer evidockctl --json items --limit 50")
    print(f"{'':26}{'web med':>9}{'web p95':>9}{'ctl med':>9}{'ctl p95':>9}{'goal':>6}"
          f"{'ratio med':>10}{'ratio p95':>10}")
    for name, (wm, wp), (cm, cp) in pages:
        print(f"{name:26}{wm:9.1f}{wp:9.1f}{cm:9.1f}{cp:9.1f}{200:6}{wm / cm:10.2f}"
              f"{wp / cp:10.2f}")


if __name__ == "__main__":
    main()
