"""The processes the cluster tooling starts: launched detached, recorded by PID (with the kernel's start
time, so a recycled PID is never mistaken for ours), and stopped only through those records."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    start_time: int
    argv: list[str]
    log: str


def _start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat: start time in clock ticks since boot; None if the PID is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it start past the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].split()[0] == "Z"


def record_path(pid_dir: Path, name: str) -> Path:
    return pid_dir / f"{name}.json"


def start(pid_dir: Path, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> ProcessRecord:
    """Start `argv` in its own session (it outlives this command) and record it."""
    pid_dir.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as log_file:
        log_file.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log_file.flush()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    start_time = _start_time(process.pid) or 0
    record = ProcessRecord(name, process.pid, start_time, argv, str(log))
    record_path(pid_dir, name).write_text(json.dumps(asdict(record)))
    return record


def load(pid_dir: Path, name: str) -> ProcessRecord | None:
    path = record_path(pid_dir, name)
    if not path.exists():
        return None
    return ProcessRecord(**json.loads(path.read_text()))


def records(pid_dir: Path) -> list[ProcessRecord]:
    if not pid_dir.exists():
        return []
    return [ProcessRecord(**json.loads(path.read_text())) for path in sorted(pid_dir.glob("*.json"))]


def is_alive(record: ProcessRecord) -> bool:
    return _start_time(record.pid) == record.start_time and not _is_zombie(record.pid)


def stop(pid_dir: Path, record: ProcessRecord, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; only if the PID is still the process we started."""
    if is_alive(record):
        os.kill(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while is_alive(record) and time.monotonic() < deadline:
            time.sleep(0.1)
        if is_alive(record):
            print(f"  {record.name} (pid {record.pid}) ignored SIGTERM for {grace:.0f}s: SIGKILL", flush=True)
            os.kill(record.pid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 5
            while is_alive(record) and time.monotonic() < kill_deadline:
                time.sleep(0.1)
    record_path(pid_dir, record.name).unlink(missing_ok=True)


def stop_pid(pid: int, grace: float = 5.0) -> None:
    """Stop a process whose PID our own state recorded (e.g. a containerd shim's shim.pid file)."""
    start_time = _start_time(pid)
    if start_time is None:
        return
    stop(Path("/nonexistent"), ProcessRecord(f"pid-{pid}", pid, start_time, [], ""), grace)


def argv_of(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def describe_pid(pid: int) -> str:
    argv = argv_of(pid)
    return f"pid {pid} ({' '.join(argv)[:120]})" if argv else f"pid {pid}"


_TCP_LISTEN = "0A"
_UDP_UNCONNECTED = "07"


def _decode_address(hex_address: str) -> tuple[str, int]:
    host_hex, port_hex = hex_address.split(":")
    raw = bytes.fromhex(host_hex)
    if len(raw) == 4:
        host = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:
        # /proc/net/*6 stores each 32-bit word in host (little-endian) order.
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        host = socket.inet_ntop(socket.AF_INET6, words)
        if host.startswith("::ffff:"):
            host = host[len("::ffff:") :]
    return host, int(port_hex, 16)


def _listening_inodes(port: int, host: str, protocol: str) -> list[int]:
    """Sockets already bound to `port` on `host` or on a wildcard address (which would clash too)."""
    wanted_state = _TCP_LISTEN if protocol == "tcp" else _UDP_UNCONNECTED
    inodes = []
    for table in (f"/proc/net/{protocol}", f"/proc/net/{protocol}6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            bound_host, bound_port = _decode_address(fields[1])
            if bound_port != port or fields[3] != wanted_state:
                continue
            if bound_host in (host, "0.0.0.0", "::"):
                inodes.append(int(fields[9]))
    return inodes


def _pids_holding(inodes: list[int]) -> list[int]:
    targets = {f"socket:[{inode}]" for inode in inodes}
    holders = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in targets:
                    holders.append(int(proc.name))
                    break
        except OSError:
            continue
    return holders


def port_holders(port: int, host: str, protocol: str) -> list[int]:
    """PIDs holding a socket that would stop us binding host:port (empty when the port is free)."""
    inodes = _listening_inodes(port, host, protocol)
    if not inodes:
        return []
    return _pids_holding(inodes) or [0]
