"""evidock-replicate's remaining promises against a real Ceph RGW: a body flipped in
transit is refused and retried until it goes through (single PUT and multipart part),
alarm_after raises and clears its alarm, bandwidth_mb caps all connections together,
parallel uploads replicate everything, no [replication] section means nothing to do,
systemd's LoadCredential= directory is read, and wrong keys are a clear failure."""
import json
import os
import re
import subprocess
import time

from helpers import TcpProxy, random_file, sha256_file
from test_replicate import REPLICATE, S3TOOL, Replicator, drained, import_files, raw, s3tool, \
    wait_until


class FlipProxy(TcpProxy):
    """A TCP proxy that, while flipping is on, flips byte 100 of the body of each PUT
    over 1000 bytes whose request line holds `match`."""

    def __init__(self, port, match=b""):
        self.match = match
        self.flipping, self.flipped, self.puts = True, 0, 0
        super().__init__(port)

    def up(self, src, dst):
        buf, left, flip_at = b"", 0, -1

        def flip(data):
            nonlocal buf, left, flip_at
            out = bytearray()
            while data:
                if left:
                    n = min(left, len(data))
                    chunk = bytearray(data[:n])
                    if 0 <= flip_at < n:
                        chunk[flip_at] ^= 1
                        self.flipped += 1
                        flip_at = -1
                    elif flip_at >= 0:
                        flip_at -= n
                    out += chunk
                    data, left = data[n:], left - n
                    continue
                buf, data = buf + data, b""
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head, data, buf = buf[:end + 4], buf[end + 4:], b""
                out += head
                m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                left = int(m.group(1)) if m else 0
                line = head.split(b"\r\n", 1)[0]
                put = line.startswith(b"PUT ") and left > 1000 and self.match in line
                self.puts += put
                flip_at = 100 if put and self.flipping else -1
            return bytes(out)

        self.relay(src, dst, flip)


def later(days):
    import datetime
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def records(st):
    return raw(st.sock, "replication", {"items": True})["result"]["records"]


def test_flipped_upload_refused_retried_then_stored(make_station, rgw, tmp):
    bucket = rgw.make_bucket("evd-more-flip")
    proxy = FlipProxy(rgw.port)
    st = make_station()
    rep = Replicator(st, rgw, bucket, endpoint=f"http://127.0.0.1:{proxy.port}")
    st.start()
    import_files(st, tmp, "a", [200_000], 90)
    item = st.json("items")[0]
    key = f"e2e/objects/{item['sha256'][:2]}/{item['sha256'][2:4]}/{item['sha256']}"
    rep.start()
    try:
        seen = lambda: json.dumps(records(st)) + "\n" + rep.read_log()  # noqa: E731
        wait_until("two corrupted uploads", lambda: proxy.flipped >= 2, why=seen)
        assert s3tool(rgw, bucket, "head", key)[0] != 0  # the server kept nothing
        assert raw(st.sock, "replication")["result"]["confirmed"] == 0
        wait_until("the refusal recorded", lambda: "BadDigest" in seen() or "SHA256" in seen(),
                   why=seen)
        proxy.flipping = False
        wait_until("stored once the bytes arrive intact", lambda: drained(st, 1), timeout=180,
                   why=seen)
        out = os.path.join(tmp, "back")
        assert s3tool(rgw, bucket, "get", key, out)[0] == 0 and sha256_file(out) == item["sha256"]
        rc, head = s3tool(rgw, bucket, "head", key)
        assert head["mode"] == "COMPLIANCE" and head["retain_until"] == item["retain_until"]
    finally:
        rep.stop()
        proxy.close()


def test_corrupted_multipart_part_refused(rgw, tmp):
    bucket = rgw.make_bucket("evd-more-flip-part")
    proxy = FlipProxy(rgw.port, match=b"partNumber=2")
    src = random_file(os.path.join(tmp, "big"), (11 << 20) + 5, 91)
    env = dict(os.environ, S3_ENDPOINT=f"http://127.0.0.1:{proxy.port}", S3_BUCKET=bucket,
               S3_REGION=rgw.region, S3_ACCESS_KEY=rgw.access_key,
               S3_SECRET_KEY=rgw.secret_key, S3_PART_SIZE=str(5 << 20))
    p = subprocess.run([S3TOOL, "put", "big", src, sha256_file(src), later(1)], env=env,
                       capture_output=True, timeout=300)
    out = json.loads(p.stdout)
    proxy.close()
    assert proxy.flipped == 1 and p.returncode == 1 and out["errno"] == 74, out
    assert any(w in out["error"] for w in ("BadDigest", "SHA256Mismatch")), out
    assert s3tool(rgw, bucket, "head", "big")[1]["errno"] == 2  # never completed


def test_alarm_after_raised_then_cleared(make_station, rgw, tmp):
    bucket = rgw.make_bucket("evd-more-alarm")
    st = make_station()
    rep = Replicator(st, rgw, bucket, alarm_after="2 s")
    st.start()  # the replicator is not running: items wait
    import_files(st, tmp, "a", [20_000], 92)
    alarms = lambda: raw(st.sock, "replication")["result"].get("alarms") or []  # noqa: E731
    wait_until("the lag alarm", lambda: any("ALARM: replication lags" in a for a in alarms()),
               timeout=90)
    assert any("ALARM: replication lags" in w for w in st.json("status")["warnings"])
    rep.start()
    try:
        wait_until("replication drained", lambda: drained(st, 1))
        assert alarms() == []
        assert not any("replication lags" in w for w in st.json("status")["warnings"])
    finally:
        rep.stop()


def test_bandwidth_caps_all_connections_together(make_station, rgw, tmp):
    bucket = rgw.make_bucket("evd-more-bandwidth")
    st = make_station()
    rep = Replicator(st, rgw, bucket, bandwidth_mb="1", parallel="2")
    st.start()
    rep.start()
    try:
        wait_until("the replicator ready", lambda: "replicating to" in rep.read_log())
        t0 = time.monotonic()
        import_files(st, tmp, "a", [3_000_000, 3_000_000], 93)  # two at once, 6 MB in all
        wait_until("replication drained", lambda: drained(st, 2), timeout=180)
        took = time.monotonic() - t0
        # 6 MB at 1 MB/s in all: about 6 s; two connections at 1 MB/s each would take 3 s
        assert took >= 6 * 0.8, took
    finally:
        rep.stop()


def test_parallel_uploads_replicate_everything(make_station, rgw, tmp):
    bucket = rgw.make_bucket("evd-more-parallel")
    st = make_station()
    rep = Replicator(st, rgw, bucket, parallel="4")
    st.start()
    import_files(st, tmp, "a", [10_000 * (i + 1) for i in range(7)] + [(6 << 20) + 1], 94)
    rep.start()
    try:
        wait_until("replication drained", lambda: drained(st, 8), timeout=180)
        items = st.json("items")
        assert len(items) == 8
        for it in items:
            sha = it["sha256"]
            key = f"e2e/objects/{sha[:2]}/{sha[2:4]}/{sha}"
            out = os.path.join(tmp, sha)
            assert s3tool(rgw, bucket, "get", key, out)[0] == 0 and sha256_file(out) == sha
            rc, head = s3tool(rgw, bucket, "head", key)
            assert head["mode"] == "COMPLIANCE" and head["retain_until"] == it["retain_until"]
        assert all(r["state"] == "confirmed" for r in records(st))
    finally:
        rep.stop()


def test_no_replication_section(station):
    p = subprocess.run([REPLICATE, "-c", station.conf], capture_output=True, timeout=60,
                       text=True)
    assert p.returncode == 0 and "no [replication] section: nothing to replicate" in p.stderr
    assert station.json("status")["replication"] == {"enabled": False}
    assert raw(station.sock, "replication")["result"] == {"enabled": False}


def drop_credentials_key(st):
    with open(st.conf) as f:
        text = f.read()
    with open(st.conf, "w") as f:
        f.write(re.sub(r"(?m)^credentials = .*\n", "", text))


def test_systemd_credentials_directory(make_station, rgw, tmp):
    bucket = rgw.make_bucket("evd-more-loadcred")
    st = make_station()
    rep = Replicator(st, rgw, bucket)
    drop_credentials_key(st)
    rc, log = rep.run_once()  # neither a key nor LoadCredential=
    assert rc == 1 and "no S3 credentials" in log and "LoadCredential" in log, log
    creds = os.path.join(tmp, "credentials")
    os.mkdir(creds, 0o700)
    os.rename(rep.creds, os.path.join(creds, "s3"))
    st.start()
    import_files(st, tmp, "a", [30_000], 95)
    rep.logf = open(rep.log, "ab")
    rep.proc = subprocess.Popen([REPLICATE, "-c", st.conf], stdout=rep.logf, stderr=rep.logf,
                                env=dict(os.environ, CREDENTIALS_DIRECTORY=creds))
    try:
        wait_until("replication drained", lambda: drained(st, 1), why=rep.read_log)
    finally:
        rep.stop()


def test_wrong_keys_are_a_clear_failure(make_station, rgw, tmp):
    bucket = rgw.make_bucket("evd-more-badkeys")
    st = make_station()
    rep = Replicator(st, rgw, bucket)
    st.start()
    import_files(st, tmp, "a", [30_000], 96)
    for access, secret, code in ((rgw.access_key, "x" * 40, "SignatureDoesNotMatch"),
                                 ("NOSUCHKEY0123456789", rgw.secret_key, "InvalidAccessKeyId")):
        with open(rep.creds, "w") as f:
            f.write(f"access_key = {access}\nsecret_key = {secret}\n")
        rc, log = rep.run_once()
        assert rc == 1 and "refusing to replicate" in log and code in log, log
        assert secret not in log
    s = raw(st.sock, "replication")["result"]
    assert s["confirmed"] == 0 and s["pending"] == 1
    rc, keys = s3tool(rgw, bucket, "list", "e2e/")
    assert rc == 0 and keys == []
