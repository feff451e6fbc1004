"""evidock-replicate as its own user, as its unit runs it: a member of the station's
group (read access to the catalogue and the objects; lock.mdb is group-writable because
an LMDB reader needs a slot in its reader table) and of evidock-replicator. It copies
everything and can change nothing local."""
import grp
import os
import pwd
import subprocess

from conftest import client_for_users
from test_replicate import REPLICATE, drained, import_files, wait_until

USER, GROUP = "evd-t-replicate", "evd-t-station"


def ensure(user, groups):
    for g in groups:
        try:
            grp.getgrnam(g)
        except KeyError:
            subprocess.run(["groupadd", "--system", g], check=True)
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", user], check=True)
    for g in groups:
        subprocess.run(["usermod", "-a", "-G", g, user], check=True)


def test_replicator_as_its_own_user(make_station, rgw, tmp):
    ensure(USER, [GROUP, "evidock-replicator"])
    gid = grp.getgrnam(GROUP).gr_gid
    uid = pwd.getpwnam(USER).pw_uid
    bucket = rgw.make_bucket("evd-rep-own-user")
    st = make_station()
    os.chmod(tmp, 0o755)
    os.chmod(st.root, 0o755)
    os.makedirs(st.state)
    os.chown(st.state, 0, gid)
    os.chmod(st.state, 0o2750)  # what StateDirectory= and the group give in production
    creds = os.path.join(st.root, "s3.cred")
    with open(creds, "w") as f:
        f.write(f"access_key = {rgw.access_key}\nsecret_key = {rgw.secret_key}\n")
    os.chown(creds, uid, 0)
    os.chmod(creds, 0o600)
    with open(st.conf, "a") as f:
        f.write(f"[replication]\nendpoint = {rgw.endpoint}\nbucket = {bucket}\n"
                f"region = {rgw.region}\ncredentials = {creds}\n")
    st.start()
    import_files(st, tmp, "a", [20_000, 30_000], 300)
    cat = os.path.join(st.state, "catalog")
    assert os.stat(os.path.join(cat, "lock.mdb")).st_mode & 0o777 == 0o660
    assert os.stat(os.path.join(cat, "data.mdb")).st_mode & 0o777 == 0o640
    log = open(os.path.join(st.root, "rep-user.log"), "ab")
    p = subprocess.Popen(["runuser", "-u", USER, "--", client_for_users(REPLICATE), "-c",
                          st.conf], stdout=log, stderr=log)
    try:
        wait_until("replicated by its own user", lambda: drained(st, 2))
        # the same user cannot change the catalogue or an object
        item = st.json("items")[0]
        for path in (os.path.join(cat, "data.mdb"), st.object_path(item["sha256"])):
            r = subprocess.run(["runuser", "-u", USER, "--", "/usr/bin/python3", "-c",
                                f"open({path!r}, 'r+b')"], capture_output=True, text=True)
            assert r.returncode != 0 and "PermissionError" in r.stderr, (path, r.stderr)
    finally:
        p.terminate()
        p.wait(timeout=60)
        log.close()
        subprocess.run(["userdel", USER], check=False)
