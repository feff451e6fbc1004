"""The test harness's own Ceph RGW (tests/ceph/rgw.py): it starts, takes a user, and
keeps an object under Object Lock COMPLIANCE, checked with clients we did not write
(curl's SigV4, s3cmd). If it cannot start, this fails: nothing here is skipped."""
import base64
import datetime
import hashlib
import os
import re
import subprocess


def test_rgw_object_lock_compliance(rgw, tmp):
    assert rgw.start_seconds < 60
    bucket = rgw.make_bucket("evd-harness")
    status, body = rgw.curl(f"{rgw.endpoint}/{bucket}?object-lock=")
    assert status == 200 and "<ObjectLockEnabled>Enabled</ObjectLockEnabled>" in body
    status, body = rgw.curl(f"{rgw.endpoint}/{bucket}?versioning=")
    assert status == 200 and "<Status>Enabled</Status>" in body

    data = os.urandom(4096)
    src = os.path.join(tmp, "obj")
    with open(src, "wb") as f:
        f.write(data)
    until = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2))
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    status, body = rgw.curl("-X", "PUT", "--data-binary", f"@{src}", "-H", f"Content-MD5: {md5}",
                            "-H", "x-amz-object-lock-mode: COMPLIANCE", "-H",
                            f"x-amz-object-lock-retain-until-date: {until:%Y-%m-%dT%H:%M:%SZ}",
                            "-D", "-", f"{rgw.endpoint}/{bucket}/locked")
    assert status == 200, body
    version = re.search(r"x-amz-version-id: (\S+)", body, re.I).group(1)
    status, body = rgw.curl("-X", "DELETE", f"{rgw.endpoint}/{bucket}/locked?versionId={version}")
    assert status == 403, body

    cfg = rgw.s3cmd_config(os.path.join(tmp, "s3cfg"))
    out = os.path.join(tmp, "back")
    subprocess.run(["s3cmd", "-c", cfg, "get", f"s3://{bucket}/locked", out], check=True,
                   capture_output=True, timeout=60)
    with open(out, "rb") as f:
        assert f.read() == data
