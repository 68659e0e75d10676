"""A real single-node SLURM cluster (Debian's slurmctld + slurmd + munge) on loopback, all state in one folder.

Used by test_slurm.py (docs/testing.md); each setting's reason is in a comment beside it. ``why_not()`` says why this machine cannot run
it (the test is then skipped with that reason); ``Cluster`` installs the packages when missing, starts the three
daemons as child processes and stops exactly those PIDs.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
ETC_CONF = Path("/etc/slurm/slurm.conf")  # the plugin's job step strips SLURM_CONF, so srun reads this one
NODE = "cddnode"


def why_not() -> str | None:
    """None when this machine can run the cluster, else the reason it cannot."""
    if os.name != "posix" or os.geteuid() != 0:
        return "the SLURM test needs root (it runs munged, slurmctld and slurmd and writes /etc/slurm/slurm.conf)"
    if all(shutil.which(p) for p in ("slurmctld", "slurmd", "munged", "sbatch")):
        return None
    if not shutil.which("apt-get"):
        return "slurmctld/slurmd/munge are not installed and there is no apt-get to install them"
    return None


def install() -> None:
    """apt-get the packages, with a policy-rc.d that stops their scripts from starting system daemons."""
    if all(shutil.which(p) for p in ("slurmctld", "slurmd", "munged", "sbatch")):
        return
    policy = Path("/usr/sbin/policy-rc.d")
    ours = not policy.exists()
    if ours:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], check=True, env=env,
                       timeout=900)
    finally:
        if ours:
            policy.unlink()


class Cluster:
    """``with Cluster(folder) as c:`` a running one-node cluster; ``c.jobcomp()`` lists every finished job."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.conf = self.root / "slurm.conf"
        self.procs: list[subprocess.Popen] = []
        self._etc_backup: bytes | None = None

    def __enter__(self) -> "Cluster":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start(self) -> None:
        r = self.root
        for d in ("munge", "state", "spool", "log"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "munge").chmod(0o755)  # munged refuses a socket folder others can write to
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        socket = r / "munge" / "munge.socket"
        self._spawn(["munged", "--foreground", "--force", f"--key-file={key}", f"--socket={socket}",
                     f"--pid-file={r / 'munge' / 'munged.pid'}", f"--seed-file={r / 'munge' / 'seed'}",
                     f"--log-file={r / 'log' / 'munged.log'}"], r / "log" / "munged.out")
        _wait(lambda: socket.exists(), 10, "munged socket")
        hw = dict(kv.split("=", 1) for kv in subprocess.run(["slurmd", "-C"], capture_output=True, text=True,
                                                             check=True).stdout.split() if "=" in kv)
        mem = int(int(hw["RealMemory"]) * 0.9)
        self.cpus, self.mem_mb = int(hw["CPUs"]), mem
        self.conf.write_text(f"""\
ClusterName=cddtest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket}
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={r / 'jobcomp.txt'}
MinJobAge=300
ReturnToService=2
StateSaveLocation={r / 'state'}
SlurmdSpoolDir={r / 'spool'}
SlurmctldPidFile={r / 'slurmctld.pid'}
SlurmdPidFile={r / 'slurmd.pid'}
SlurmctldLogFile={r / 'log' / 'slurmctld.log'}
SlurmdLogFile={r / 'log' / 'slurmd.log'}
NodeName={NODE} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
""")
        ETC_CONF.parent.mkdir(parents=True, exist_ok=True)
        self._etc_backup = ETC_CONF.read_bytes() if ETC_CONF.exists() else b""
        shutil.copy(self.conf, ETC_CONF)
        self._spawn(["slurmctld", "-D", "-i", "-f", str(self.conf)], r / "log" / "slurmctld.out")
        self._spawn(["slurmd", "-D", "-N", NODE, "-f", str(self.conf)], r / "log" / "slurmd.out")
        _wait(self._node_idle, 60, f"node {NODE} idle in sinfo")

    def _spawn(self, cmd: list[str], out: Path) -> None:
        with open(out, "w") as f:
            self.procs.append(subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT))

    def _node_idle(self) -> bool:
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[0]} exited with {p.returncode}: see {self.root / 'log'}")
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True, env=self.env())
        return out.returncode == 0 and f"{NODE} idle" in out.stdout

    def env(self, base: dict | None = None) -> dict:
        """``base`` (default: this process's environment) with the client tools pointed at this cluster."""
        return {**(os.environ if base is None else base), "SLURM_CONF": str(self.conf)}

    def jobcomp(self) -> list[dict]:
        """Slurm's own record of every finished job (jobcomp/filetxt: works without slurmdbd, unlike sacct)."""
        path = self.root / "jobcomp.txt"
        if not path.exists():
            return []
        return [dict(kv.split("=", 1) for kv in line.split() if "=" in kv) for line in path.read_text().splitlines()]

    def stop(self) -> None:
        """Stop only the daemons this object started (by PID), then put /etc/slurm/slurm.conf back."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        if self._etc_backup is not None:
            if self._etc_backup:
                ETC_CONF.write_bytes(self._etc_backup)
            else:
                ETC_CONF.unlink(missing_ok=True)
            self._etc_backup = None


def _wait(ok, seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if ok():
            return
        time.sleep(0.2)
    raise TimeoutError(f"SLURM test cluster: no {what} after {seconds} s")
