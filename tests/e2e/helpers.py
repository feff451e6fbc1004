"""Small helpers for end-to-end tests."""
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import threading


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def random_file(path, size, seed):
    """A file of size bytes whose content depends on seed (fast, not cryptographic)."""
    block = hashlib.sha256(str(seed).encode()).digest() * 32768  # 1 MiB
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = size
        n = 0
        while left > 0:
            chunk = block[: min(left, len(block))]
            # vary each block so that files do not share blocks
            f.write((n.to_bytes(8, "little") + chunk[8:])[: len(chunk)])
            left -= len(chunk)
            n += 1
    return path


@contextlib.contextmanager
def system_users(users):
    """users {name: group or None}: made fresh (groups too) as system users for the
    test, removed afterwards."""
    for user, group in users.items():
        if group:
            subprocess.run(["groupadd", "-f", "--system", group], check=True)
        subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["useradd", "--system", "--no-create-home"] +
                       (["-G", group] if group else []) + [user], check=True)
    try:
        yield
    finally:
        for user in users:
            subprocess.run(["userdel", user], check=False)


def control_request(sock, cmd, args, timeout=120):
    """One request on the control socket at sock (as this process's user): its final
    reply line, past any progress lines."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock)
        s.sendall(json.dumps({"cmd": cmd, "args": args}).encode() + b"\n")
        buf = b""
        while True:
            data = s.recv(65536)
            assert data, "connection closed"
            buf += data
            for line in buf.split(b"\n")[:-1]:
                reply = json.loads(line)
                if "progress" not in reply:
                    return reply


class TcpProxy:
    """A TCP proxy on 127.0.0.1 to port (a fault-injecting stand-in for the network
    between the station and its archive). Each connection is relayed both ways by up()
    and down(); subclasses change one of them. Set attributes before __init__: the
    first connection may come at once."""

    def __init__(self, port):
        self.upstream = port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self.up, args=(c, u), daemon=True).start()
            threading.Thread(target=self.down, args=(u, c), daemon=True).start()

    def relay(self, src, dst, change=None):
        """Copy src to dst until either closes; change(data) (may be None) gives what
        goes on, or None for nothing."""
        try:
            while data := src.recv(65536):
                if change:
                    data = change(data)
                if data:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()
            src.close()

    def up(self, src, dst):
        self.relay(src, dst)

    def down(self, src, dst):
        self.relay(src, dst)

    def close(self):
        self.sock.close()
