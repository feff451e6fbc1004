"""An https endpoint whose certificate the station cannot verify is refused with a clear
message; with the private CA given as [replication] ca_file the same endpoint works.
A TLS proxy (python ssl, a self-signed certificate made with openssl) sits in front of
the real RGW."""
import os
import socket
import ssl
import subprocess
import threading

import pytest

from test_replicate import Replicator, drained, import_files, wait_until


class TLSProxy:
    """https on 127.0.0.1:port, forwarded in the clear to the RGW."""

    def __init__(self, cert, key, target):
        self.target = target
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        up = socket.create_connection(self.target)

        def pump(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(up, tls), daemon=True).start()
        pump(tls, up)

    def close(self):
        self.stopped = True
        self.sock.close()


@pytest.fixture
def proxy(rgw, tmp):
    cert, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=evidock test archive",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    host, port = rgw.endpoint.split("//")[1].split(":")
    p = TLSProxy(cert, key, (host, int(port)))
    yield p, cert
    p.close()


def test_bad_certificate_refused_and_private_ca_accepted(make_station, rgw, tmp, proxy):
    p, cert = proxy
    bucket = rgw.make_bucket("evd-tls")
    endpoint = f"https://127.0.0.1:{p.port}"
    st = make_station()
    rep = Replicator(st, rgw, bucket, endpoint=endpoint)
    rc, log = rep.run_once()
    assert rc == 1, log
    assert "refusing to replicate" in log and "TLS certificate cannot be verified" in log, log
    assert "ca_file" in log
    # the same endpoint with its CA given: replication works through TLS
    st2 = make_station()
    rep2 = Replicator(st2, rgw, bucket, endpoint=endpoint, ca_file=cert)
    st2.start()
    import_files(st2, tmp, "a", [25_000], 5)
    rep2.start()
    try:
        wait_until("replicated over TLS", lambda: drained(st2, 1))
    finally:
        rep2.stop()
