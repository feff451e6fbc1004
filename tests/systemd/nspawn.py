"""A Debian 12 container booted with systemd-nspawn, so the shipped units run under a
real systemd (the build machines' PID 1 is not systemd).

The root filesystem is made once with debootstrap (minbase, systemd, and the runtime
libraries of evidockd and evidockctl, found from their NEEDED entries) and cached
under /var/cache/evidock-nspawn/KEY, KEY a hash of the package list: a changed list
makes a new one. Each boot mounts the cache read-only under a tmpfs overlay
(--volatile=overlay), so runs never change the cache or each other.

    python3 tests/systemd/nspawn.py rootfs BUILD   # make (or find) the cached rootfs
"""
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time

CACHE = os.environ.get("EVIDOCK_NSPAWN_CACHE", "/var/cache/evidock-nspawn")
MIRROR = os.environ.get("EVIDOCK_NSPAWN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
# systemd and what the tests use inside; the libraries come from the binaries.
BASE_PACKAGES = ["systemd", "dbus", "udev", "passwd", "util-linux", "procps"]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ContainerError(Exception):
    pass


def runtime_packages(binaries):
    """The Debian packages holding the shared libraries the binaries link with."""
    needed = set()
    for b in binaries:
        out = subprocess.run(["objdump", "-p", b], check=True, capture_output=True,
                             text=True).stdout
        needed.update(line.split()[1] for line in out.splitlines()
                      if line.strip().startswith("NEEDED"))
    cache = subprocess.run(["ldconfig", "-p"], check=True, capture_output=True,
                           text=True).stdout
    paths = {}
    for line in cache.splitlines():
        parts = line.split()
        if parts and parts[0] in needed and "x86-64" in line and parts[0] not in paths:
            paths[parts[0]] = os.path.realpath(parts[-1])
    missing = needed - set(paths)
    if missing:
        raise ContainerError(f"libraries not found on this machine: {sorted(missing)}")
    pkgs = set()
    for lib, path in paths.items():
        # usrmerge: dpkg may know the file under /lib or /usr/lib.
        for cand in (path, "/usr" + path, path.removeprefix("/usr")):
            r = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
            if r.returncode == 0:
                pkgs.add(r.stdout.split(":")[0])
                break
        else:
            raise ContainerError(f"no Debian package holds {lib} ({path})")
    return sorted(pkgs)


def package_list(binaries):
    return sorted(set(BASE_PACKAGES) | set(runtime_packages(binaries)))


def rootfs(binaries, log=sys.stderr):
    """The cached root filesystem for these binaries, made if missing (under a lock,
    so parallel runs make it once). Returns its path."""
    pkgs = package_list(binaries)
    key = hashlib.sha256((SUITE + " " + MIRROR + " " + " ".join(pkgs)).encode()).hexdigest()[:16]
    root = os.path.join(CACHE, key)
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(root, ".complete")):
            return root
        tmp = root + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        started = time.monotonic()
        print(f"nspawn: making {root} (debootstrap {SUITE}: {' '.join(pkgs)})", file=log)
        r = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(pkgs),
                            SUITE, tmp, MIRROR], capture_output=True, text=True)
        if r.returncode != 0:
            raise ContainerError(f"debootstrap failed ({r.returncode}):\n{r.stdout[-3000:]}\n"
                                 f"{r.stderr[-3000:]}")
        # Smaller, and no leftovers a boot would trip over.
        shutil.rmtree(os.path.join(tmp, "var/cache/apt/archives"), ignore_errors=True)
        os.makedirs(os.path.join(tmp, "var/cache/apt/archives/partial"), exist_ok=True)
        for f in ("etc/machine-id", "etc/hostname"):
            try:
                os.unlink(os.path.join(tmp, f))
            except FileNotFoundError:
                pass
        with open(os.path.join(tmp, "etc/hostname"), "w") as f:
            f.write("evidock-test\n")
        with open(os.path.join(tmp, "packages.txt"), "w") as f:
            f.write("\n".join(pkgs) + "\n")
        open(os.path.join(tmp, ".complete"), "w").close()
        os.rename(tmp, root)
        print(f"nspawn: rootfs made in {time.monotonic() - started:.0f} s", file=log)
        return root


class Container:
    """One booted container over the cached rootfs. run() executes a command inside
    (nsenter into all its namespaces), as root or as a named user."""

    def __init__(self, root, name, log_path):
        self.root = root
        self.name = name
        self.log_path = log_path
        self.proc = None
        self.pid = None  # the container's PID 1 (systemd), seen from the host

    def boot(self, timeout=180):
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", self.root, "--machine", self.name, "--boot",
             "--volatile=overlay", "--console=passive", "--register=no", "--keep-unit",
             "--link-journal=no"],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while self.pid is None:
            self._check_alive()
            self.pid = self._init_pid()
            if self.pid is None:
                if time.monotonic() > deadline:
                    raise ContainerError("container init did not appear")
                time.sleep(0.05)
        # Boot done: is-system-running --wait returns once the boot job queue is empty;
        # before systemd listens on its private socket it fails, so try again.
        state = ""
        while True:
            self._check_alive()
            left = deadline - time.monotonic()
            if left <= 0:
                raise ContainerError(f"container did not finish booting (state {state!r})")
            try:
                r = self.run(["systemctl", "is-system-running", "--wait"], timeout=left)
            except subprocess.TimeoutExpired:
                continue
            state = r.stdout.strip()
            if state in ("running", "degraded"):
                return state
            # "offline": systemctl could not reach PID 1 yet (a loaded machine boots
            # slowly); the deadline above bounds the wait.
            if state in ("maintenance", "stopping"):
                raise ContainerError(f"container boot ended {state!r}")
            time.sleep(0.1)

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise ContainerError(f"systemd-nspawn exited {self.proc.returncode}; see {self.log_path}")

    def _init_pid(self):
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                with open(f"/proc/{self.proc.pid}/task/{task}/children") as f:
                    kids = f.read().split()
            except FileNotFoundError:
                continue
            for kid in kids:
                try:
                    with open(f"/proc/{kid}/comm") as f:
                        if f.read().strip() == "systemd":
                            return int(kid)
                except FileNotFoundError:
                    pass
        return None

    @property
    def rootdir(self):
        """The container's root as seen from the host (through its mount namespace)."""
        return f"/proc/{self.pid}/root"

    def run(self, argv, user=None, check=False, timeout=120, input=None):
        env = ["env", "-i", f"PATH={PATH}", "LANG=C.UTF-8", "SYSTEMD_PAGER=cat",
               "SYSTEMD_COLORS=0"]
        if user is None:
            cmd = env + ["HOME=/root", "USER=root"] + list(argv)
        else:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                   "--inh-caps=-all"] + env + [f"HOME=/home/{user}", f"USER={user}"] + list(argv)
        r = subprocess.run(["nsenter", "-t", str(self.pid), "-a", "--wd=/"] + cmd,
                           capture_output=True, text=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise ContainerError(f"{' '.join(argv)} (as {user or 'root'}) exited "
                                 f"{r.returncode}:\n{r.stdout}\n{r.stderr}")
        return r

    def poweroff(self, timeout=90):
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.pid is not None:
            try:
                self.run(["systemctl", "poweroff", "--no-block"], timeout=30)
            except (subprocess.TimeoutExpired, OSError):
                pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # SIGTERM asks nspawn to shut the container down; SIGKILL tears it down.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "rootfs":
        sys.exit("usage: nspawn.py rootfs BUILD")
    build = sys.argv[2]
    print(rootfs([os.path.join(build, "evidockd"), os.path.join(build, "evidockctl")]))
