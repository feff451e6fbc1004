"""lib/s3.c against a real Ceph RGW (tests/ceph/rgw.py), driven through build/s3tool:
objects under COMPLIANCE cannot be deleted, retention only grows, legal holds go on and
off, multipart uploads get their lock after completion, listings follow continuation,
and a body corrupted in transit is refused by the server."""
import datetime
import hashlib
import json
import os
import subprocess

import pytest

from conftest import BUILD
from helpers import TcpProxy, random_file, sha256_file

S3TOOL = os.path.join(BUILD, "s3tool")


def later(days):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Tool:
    def __init__(self, rgw, bucket, endpoint=None, **extra):
        self.env = dict(os.environ, S3_ENDPOINT=endpoint or rgw.endpoint, S3_BUCKET=bucket,
                        S3_REGION=rgw.region, S3_ACCESS_KEY=rgw.access_key,
                        S3_SECRET_KEY=rgw.secret_key, **extra)

    def run(self, *args):
        p = subprocess.run([S3TOOL, *args], env=self.env, capture_output=True, timeout=300)
        return p.returncode, json.loads(p.stdout or b"null")

    def ok(self, *args):
        rc, out = self.run(*args)
        assert rc == 0, out
        return out


@pytest.fixture(scope="module")
def bucket(rgw):
    return rgw.make_bucket("evd-s3-client")


def test_put_locked_cannot_be_deleted_or_shortened(rgw, bucket, tmp):
    s3 = Tool(rgw, bucket)
    assert s3.ok("bucket") == {"versioning": True, "object_lock": True}
    src = random_file(os.path.join(tmp, "a"), 100_000, 1)
    sha = sha256_file(src)
    key = "st/objects/ab/cd/" + sha + " ü+"  # a key that needs encoding
    until = later(3)
    put = s3.ok("put", key, src, sha, until)
    assert put["version_id"] and put["size"] == 100_000
    assert put["etag"] == hashlib.md5(open(src, "rb").read()).hexdigest()
    head = s3.ok("head", key)
    assert head["mode"] == "COMPLIANCE" and head["retain_until"] == until
    assert not head["legal_hold"]

    rc, out = s3.run("delete", key, put["version_id"])
    assert rc == 1 and out["errno"] == 13 and "403 AccessDenied" in out["error"]
    rc, out = s3.run("retention", key, put["version_id"], later(2))
    assert rc == 1 and out["errno"] == 13  # shortening refused
    longer = later(10)
    assert s3.ok("retention", key, put["version_id"], longer)["retain_until"] == longer
    assert s3.ok("hold", key, put["version_id"], "on") == {"legal_hold": True}
    assert s3.ok("hold", key, put["version_id"], "off") == {"legal_hold": False}
    assert s3.ok("get", key, "-")["sha256"] == sha
    assert s3.ok("head", key, put["version_id"])["retain_until"] == longer


def test_legal_hold_and_refused_local_corruption(rgw, bucket, tmp):
    s3 = Tool(rgw, bucket)
    src = random_file(os.path.join(tmp, "b"), 5000, 2)
    put = s3.ok("put", "held", src, sha256_file(src), later(1), "hold")
    assert s3.ok("head", "held", put["version_id"])["legal_hold"]
    rc, out = s3.run("delete", "held", put["version_id"])
    assert rc == 1 and out["errno"] == 13
    # a local object that does not hash to what the station knows is never sent
    rc, out = s3.run("put", "bad", src, "00" * 32, later(1))
    assert rc == 1 and "do not match" in out["error"]
    assert s3.run("head", "bad")[1]["errno"] == 2


def test_multipart_gets_its_lock_after_completion(rgw, bucket, tmp):
    s3 = Tool(rgw, bucket, S3_PART_SIZE=str(5 << 20))
    src = random_file(os.path.join(tmp, "big"), (11 << 20) + 3, 3)
    sha = sha256_file(src)
    until = later(4)
    put = s3.ok("put", "big", src, sha, until, "hold")
    assert put["etag"].endswith("-3")  # three parts
    head = s3.ok("head", "big", put["version_id"])
    assert head["mode"] == "COMPLIANCE" and head["retain_until"] == until and head["legal_hold"]
    rc, out = s3.run("delete", "big", put["version_id"])
    assert rc == 1 and out["errno"] == 13
    out = os.path.join(tmp, "big.back")
    assert s3.ok("get", "big", out) == {"sha256": sha, "size": (11 << 20) + 3}
    assert sha256_file(out) == sha
    # the local copy going bad between parts abandons the upload
    rc, out = s3.run("put", "big2", src, "11" * 32, until)
    assert rc == 1 and "do not match" in out["error"]


def test_list_with_prefix_and_continuation(rgw, tmp):
    b = rgw.make_bucket("evd-s3-list")
    s3 = Tool(rgw, b)
    src = random_file(os.path.join(tmp, "c"), 10, 4)
    for i in range(1005):  # past one page of 1000
        rgw.curl("-X", "PUT", "--data-binary", f"@{src}", f"{rgw.endpoint}/{b}/p/{i:04d}")
    s3.ok("put", "q/other", src)
    keys = [e["key"] for e in s3.ok("list", "p/")]
    assert keys == [f"p/{i:04d}" for i in range(1005)]
    assert [e["key"] for e in s3.ok("list", "q/")] == ["q/other"]


class FlipProxy(TcpProxy):
    """A TCP proxy that flips one byte of the first request body it forwards."""

    def __init__(self, port):
        self.flipped = 0
        super().__init__(port)

    def up(self, src, dst):
        seen = b""

        def flip(data):
            nonlocal seen
            if not self.flipped:
                seen += data
                end = seen.find(b"\r\n\r\n")
                if end >= 0 and len(seen) > end + 100:
                    at = len(data) - (len(seen) - (end + 100))
                    if 0 <= at < len(data):
                        data = data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]
                        self.flipped += 1
            return data

        self.relay(src, dst, flip)


def test_body_corrupted_in_transit_is_refused(rgw, bucket, tmp):
    proxy = FlipProxy(rgw.port)
    s3 = Tool(rgw, bucket, endpoint=f"http://127.0.0.1:{proxy.port}")
    src = random_file(os.path.join(tmp, "d"), 200_000, 5)
    rc, out = s3.run("put", "flipped", src, sha256_file(src), later(1))
    assert proxy.flipped == 1
    assert rc == 1 and out["errno"] == 74, out  # EBADMSG
    assert "BadDigest" in out["error"] or "SHA256" in out["error"]
    assert Tool(rgw, bucket).run("head", "flipped")[1]["errno"] == 2  # nothing stored


def test_client_refuses_plain_http_off_loopback(rgw, bucket):
    rc, out = Tool(rgw, bucket, endpoint="http://192.0.2.1:7480").run("bucket")
    assert rc == 1 and "loopback" in out["error"]


def test_bucket_without_object_lock(rgw, tmp):
    b = rgw.make_bucket("evd-s3-nolock", lock=False)
    assert Tool(rgw, b).ok("bucket") == {"versioning": False, "object_lock": False}
