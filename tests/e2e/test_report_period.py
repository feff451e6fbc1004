"""The report reads only its period: the items recorded in it (by recording time) and the
audit entries that can fall in it (the log's time index, audit.h). A catalogue with
recordings and events before, inside and after the period, an event in the period about
a recording made years before, and a clock set back into the period (its entries come
after later ones in the log) gives the same reports, JSON and CSV, as the full pass over
every item and the whole log, which the station makes on a log without the index."""
import itertools
import os

import lmdb

from test_report import by_name, recording

PERIODS = [("--year", "2024"), ("--year", "2025"), ("--year", "2026"),
           ("--from", "2025-06-01", "--to", "2026-01-31"),
           ("--from", "2025-11-01", "--to", "2025-11-30")]
SEEDS = itertools.count(50)  # each recording its own content


def imported(station, folder, files, recorder="BWC-1"):
    for name, when in files:
        recording(folder, name, when, next(SEEDS))
    station.ctl("import", folder, "--recorder", recorder, check=True)
    return by_name(station)


def access(station, item_id, approver):
    station.ctl("access", item_id, "--requester", "赵", "--approver", approver, "--reason",
                "复核", check=True)


def reports(station):
    out = {}
    for args in PERIODS:
        r = station.json("report", *args)
        r.pop("generated_at")
        csv_text = station.ctl("report", *args, "--format", "csv", check=True).stdout
        out[args] = (r, csv_text)
    return out


def index_keys(catalog, drop=False):
    env = lmdb.open(catalog, max_dbs=64, subdir=True)
    try:
        meta = env.open_db(b"meta")
        with env.begin(write=drop, db=meta) as txn:
            keys = [k for k, _ in txn.cursor() if k == b"audit_times" or
                    k.startswith(b"audit_back:") or k.startswith(b"audit_run:")]
            for k in keys if drop else []:
                txn.delete(k)
    finally:
        env.close()
    return keys


def test_report_of_a_period_equals_the_full_pass(make_station, tmp):
    station = make_station(ingest__sequence_pattern=r"FILE([0-9]{4})\.MP4$",
                           retention__default="10 years")
    # 2024: recordings of 2023 (years before the 2025 report) and of 2024.
    station.start(at="2024-06-03 10:00:00")
    for serial, handler in (("BWC-1", "李四"), ("BWC-2", "王五")):
        station.ctl("recorder", "add", serial, "--handler-id", serial[-1], "--handler-name",
                    handler, "--since", "2020-01-01T00:00:00Z", check=True)
    items = imported(station, os.path.join(tmp, "a"), [
        ("DCIM/100MEDIA/FILE0001.MP4", "2023-05-02 09:30"),
        ("DCIM/100MEDIA/FILE0003.MP4", "2024-06-01 11:00"),  # a gap before it
    ])
    old = items["DCIM/100MEDIA/FILE0001.MP4"]["id"]
    access(station, old, "张局长")  # before the 2025 period
    assert station.stop() == 0

    # 2025: recordings of the period, and events in it about the 2023 recording.
    station.start(at="2025-03-04 10:00:00")
    items = imported(station, os.path.join(tmp, "b"), [
        ("DCIM/101MEDIA/FILE0001.MP4", "2025-03-03 09:00"),
        ("DCIM/101MEDIA/FILE0004.MP4", "2025-02-20 09:00"),  # late, a gap before it
    ], recorder="BWC-2")
    access(station, old, "钱局长")
    station.ctl("hold", old, "--reason", "复议", check=True)
    station.ctl("label", items["DCIM/101MEDIA/FILE0001.MP4"]["id"], "--case", "X罚〔2025〕1号",
                "--party", "张三", check=True)
    assert station.stop() == 0

    # 2026: after the period.
    station.start(at="2026-02-02 10:00:00")
    items = imported(station, os.path.join(tmp, "c"), [
        ("DCIM/102MEDIA/FILE0001.MP4", "2026-02-01 08:00")])
    access(station, old, "孙局长")
    access(station, items["DCIM/101MEDIA/FILE0004.MP4"]["id"], "孙局长")
    assert station.stop() == 0

    # The clock set back into November 2025: these entries follow 2026's in the log.
    station.start(at="2025-11-05 10:00:00")
    items = imported(station, os.path.join(tmp, "d"), [
        ("DCIM/103MEDIA/FILE0001.MP4", "2025-11-04 16:00")], recorder="BWC-2")
    access(station, old, "周局长")
    station.ctl("hold", items["DCIM/100MEDIA/FILE0003.MP4"]["id"], "--reason", "复议",
                check=True)
    station.kill()  # a power cut: the run ends at its last entry

    station.start(at="2027-01-10 10:00:00")
    indexed = reports(station)
    assert station.stop() == 0
    catalog = os.path.join(station.state, "catalog")
    keys = index_keys(catalog)
    assert b"audit_times" in keys and any(k.startswith(b"audit_back:") for k in keys)

    # The same catalogue without the index: the full pass.
    index_keys(catalog, drop=True)
    assert index_keys(catalog) == []
    station.start(at="2027-01-10 10:00:00")
    full = reports(station)
    assert index_keys(catalog)[:1] != [b"audit_times"]  # still the full pass
    for args in PERIODS:
        for key in full[args][0]:
            assert indexed[args][0][key] == full[args][0][key], (args, key)
        assert indexed[args] == full[args], args

    r2025 = indexed[("--year", "2025")][0]
    months = {m["month"]: m for m in r2025["months"]}
    assert months["2025-03"]["accesses_view"] == 1 and months["2025-11"]["accesses_view"] == 1
    assert months["2025-03"]["holds"] == 1 and months["2025-11"]["holds"] == 1
    assert months["2025-11"]["recordings"] == 1 and months["2025-02"]["recordings"] == 1
    li = {h["handler"]: h for h in r2025["handlers"]}["李四"]
    assert li["accesses_view"] == 2 and li["holds"] == 2  # the 2023 recording's handler
    assert months["2025-11"]["period_s"] > 0 and months["2025-01"]["availability_pct"] == 0
    assert r2025["totals"]["sequence_gaps"] >= 1
