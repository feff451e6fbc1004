"""A bucket that cannot keep the promise is refused, and evidockd knows it (issue 13):
the replicator tells it over the control socket, `status` carries the alarm, the audit
log has one entry however often systemd starts the replicator again, and a reload
(SIGHUP) checks the bucket again. Against a real Ceph RGW."""
import signal

from helpers import TcpProxy
from test_replicate import Replicator, raw, wait_until


def refusals(st):
    return [e for e in st.json("audit") if e["event"] == "replication.bucket-refused"]


def alarms(st):
    return [w for w in st.json("status")["warnings"] if "archive bucket" in w]


def set_bucket(st, old, new):
    with open(st.conf) as f:
        text = f.read()
    with open(st.conf, "w") as f:
        f.write(text.replace(f"bucket = {old}\n", f"bucket = {new}\n"))


def test_refused_bucket_alarmed_audited_once_and_checked_again_on_reload(make_station, rgw):
    nolock = rgw.make_bucket("evd-ref-nolock", lock=False)
    good = rgw.make_bucket("evd-ref-good")
    st = make_station()
    rep = Replicator(st, rgw, nolock)
    st.start()
    assert not alarms(st)
    for _ in range(3):  # systemd starts it again and again
        rc, log = rep.run_once()
        assert rc == 1 and "refusing to replicate" in log and "Object Lock" in log, log
    (w,) = alarms(st)
    assert w.startswith(f"ALARM: the archive bucket {nolock} was refused") and "Object Lock" in w
    assert "Object Lock" in raw(st.sock, "replication")["result"]["bucket_refused"]
    assert st.ctl("replication").returncode == 1  # an alarm
    assert len(refusals(st)) == 1
    # a good bucket: accepted, the alarm goes, audited once
    set_bucket(st, nolock, good)
    rep.start()
    try:
        wait_until("the bucket accepted", lambda: not alarms(st), why=rep.read_log)
        events = [e["event"] for e in st.json("audit")]
        assert events.count("replication.bucket-accepted") == 1
        # reload onto the bucket without Object Lock: checked again, refused
        set_bucket(st, good, nolock)
        rep.proc.send_signal(signal.SIGHUP)
        assert rep.proc.wait(timeout=60) == 1
        rep.proc = None
        rep.logf.close()
    finally:
        rep.stop()
    assert "reloading" in rep.read_log()
    assert len(alarms(st)) == 1 and len(refusals(st)) == 2


class LyingProxy(TcpProxy):
    """A proxy to RGW that answers every DELETE "204 No Content" itself: a store that
    says it deleted an object it was told to keep."""

    def __init__(self, port):
        self.lied = 0
        super().__init__(port)

    def up(self, src, dst):
        def lie(data):
            if not data.startswith(b"DELETE "):
                return data
            self.lied += 1
            src.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            return None

        self.relay(src, dst, lie)


def test_bucket_that_deletes_a_compliance_object_refused(make_station, rgw):
    bucket = rgw.make_bucket("evd-ref-liar")
    proxy = LyingProxy(rgw.port)
    st = make_station()
    rep = Replicator(st, rgw, bucket, endpoint=f"http://127.0.0.1:{proxy.port}")
    st.start()
    rc, log = rep.run_once()
    assert proxy.lied == 1
    assert rc == 1 and "deleted an object under COMPLIANCE" in log, log
    (w,) = alarms(st)
    assert "deleted an object under COMPLIANCE" in w
    assert len(refusals(st)) == 1


def test_only_the_replicator_reports_the_bucket(station, tmp):
    import grp
    import os
    import pwd
    import subprocess
    os.chmod(tmp, 0o755)  # another user reaches the socket
    os.chmod(station.root, 0o755)
    try:
        grp.getgrnam("evidock-admin")
    except KeyError:
        subprocess.run(["groupadd", "--system", "evidock-admin"], check=True)
    user = "evd-t-badmin"
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", user], check=True)
    subprocess.run(["usermod", "-a", "-G", "evidock-admin", user], check=True)
    try:
        r = raw(station.sock, "bucket-checked", {"refused": "made up"}, user=user)
        assert not r["ok"] and "replicator role" in r["error"]
    finally:
        subprocess.run(["userdel", user], check=False)
    r = raw(station.sock, "bucket-checked", {"refused": ""})  # the replicator: no reason
    assert not r["ok"] and "reason" in r["error"]
    r = raw(station.sock, "bucket-checked", {"refused": "a\nb"})
    assert not r["ok"] and "control character" in r["error"]
    assert not [e for e in station.json("audit") if e["event"].startswith("replication.bucket")]
