"""Small helpers for end-to-end tests."""
import hashlib
import os


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
