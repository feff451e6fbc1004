"""items in pages (issue 16): --limit N and --after ID walk the catalogue in recording-
time order with bounded replies; evidockctl without --limit asks for every page in turn
and gives what one reply used to. Hostile limits and cursors are refused."""
import os

from helpers import control_request, random_file


def request(station, cmd, args):
    return control_request(station.sock, cmd, args, timeout=60)


def fill(station, tmp, n=23):
    src = os.path.join(tmp, "src")
    for i in range(n):
        random_file(os.path.join(src, "DCIM/100MEDIA/VID%04d.MP4" % i), 1000 + i, i)
    station.ctl("import", src, "--recorder", "PAGE-1", check=True)


def test_pages_cover_the_listing_once_in_order(station, tmp):
    fill(station, tmp)
    everything = station.json("items")  # evidockctl pages this by itself
    assert len(everything) == 23
    order = [(it["recorded_at"], it["id"]) for it in everything]
    assert order == sorted(order)

    seen, after = [], None
    while True:
        args = ["items", "--limit", "5"] + (["--after", str(after)] if after else [])
        page = station.json(*args)
        assert len(page["items"]) <= 5
        seen += page["items"]
        after = page["next"]
        if after is None:
            break
        assert after == page["items"][-1]["id"]
    assert [it["id"] for it in seen] == [it["id"] for it in everything]

    # The filters page the same way, from their index.
    first = station.json("items", "--recorder", "PAGE-1", "--limit", "10")
    assert [it["id"] for it in first["items"]] == [it["id"] for it in everything[:10]]
    rest = station.json("items", "--recorder", "PAGE-1", "--after", str(first["next"]))
    assert [it["id"] for it in rest["items"]] == [it["id"] for it in everything[10:]]
    assert rest["next"] is None
    assert station.json("items", "--unlabeled", "--limit", "1000")["next"] is None

    # A table, and the hint for the next page on stderr.
    r = station.ctl("items", "--limit", "3", check=True)
    assert "--after %d" % everything[2]["id"] in r.stderr.decode()


def test_hostile_limits_and_cursors_are_refused(station, tmp):
    fill(station, tmp, 3)
    for bad in ("0", "-1", "1001", "abc", "99999999999999999999"):
        r = station.ctl("items", "--limit", bad)
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
    for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "5"}, {"after": -3},
                {"after": 1.5}, {"limit": True}):
        reply = request(station, "items", bad)
        assert reply["ok"] is False and "must be a whole number" in reply["error"], (bad, reply)
    reply = request(station, "items", {"after": 987654})
    assert reply["ok"] is False and "no item 987654" in reply["error"], reply
    r = station.ctl("items", "--after", "987654")
    assert r.returncode == 1 and "no item 987654" in r.stderr.decode()
    # The station goes on answering.
    assert request(station, "items", {"limit": 2})["ok"] is True
