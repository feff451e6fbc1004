"""kill -9 of evidockd at random moments during docked ingest (issue 7: at least 50
rounds here, 1,000 in make soak): after each restart tmp/ is empty, every item's
object exists and verifies, the audit log verifies, and docking again completes the
set with every recording equal to what mcopy extracts."""
import os
import random
import signal
import time

from simstation import VIDPID, make_sim, mkimage  # noqa: F401
from test_dock import ENDED, check_stored

ROUNDS = int(os.environ.get("EVD_DOCK_CRASH_ROUNDS", "50"))


def test_kill_9_during_docked_ingest(make_sim, tmp):
    img = os.path.join(tmp, "rec.img")
    manifest = mkimage(img, "--fs", "fat32", "--clips", "8", "--size", "160M", "--big", "96M")
    st = make_sim()
    st.start()
    st.register("REC-CRASH")
    assert st.stop() == 0
    rng = random.Random(int(os.environ.get("EVD_SEED", "7")))
    dock = f"dock 1 REC-CRASH {VIDPID} {img}"
    states = []
    for i in range(ROUNDS):
        st.start()
        # Before anything is docked again: nothing half-copied, everything verifies.
        assert os.listdir(os.path.join(st.state, "tmp")) == []
        result = st.json("verify")
        assert result["ok"] is True, result
        st.dock(1, "REC-CRASH", img)
        time.sleep(rng.uniform(0.0, 0.5))
        states.append([d["state"] for d in st.docks()])
        os.kill(st.daemon_pid(), signal.SIGKILL)
        st.proc.wait(timeout=60)
        st.proc = None
        st.logf.close()
    # Docked before the daemon starts: picked up at start, and the set completes.
    st.start(defer_cmds=[dock])
    d = st.wait_dock("REC-CRASH", ENDED, timeout=300)
    assert d["state"] == "done", d
    check_stored(st, "REC-CRASH", manifest)
    assert st.json("verify")["ok"] is True
    # Some kills did land while copying.
    assert any("copying" in s for s in states), states
