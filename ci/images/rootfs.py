"""Debian root filesystems: one debootstrapped base, copied per image, changed inside a chroot."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import hostcfg

SUITE = "bookworm"
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Build-only files: created before each chroot step, removed after it.
_BUILD_DIR = "tmp/.image-build"
_POLICY_RC = "usr/sbin/policy-rc.d"

# Like debian:*-slim: no docs, man pages or translations, but keep licence files.
_DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
"""

# Runs once in the fresh debootstrap tree. Part of the base key: editing it makes a new base.
_BASE_SCRIPT = """\
export DEBIAN_FRONTEND=noninteractive
find /usr/share/doc -mindepth 2 ! -name copyright ! -type d -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/locale/* /usr/share/lintian/*
apt-get update -qq
apt-get -y -qq dist-upgrade
"""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "airflow-k8s" / "images"


@dataclass
class ChrootHost:
    """What a chroot step needs from the host, read once per run."""

    mirrors: hostcfg.DebianMirrors
    pip: hostcfg.PipConfig
    apt_conf: str

    @classmethod
    def discover(cls, mirror_override: str | None) -> ChrootHost:
        return cls(
            hostcfg.debian_mirrors(SUITE, mirror_override),
            hostcfg.pip_config(),
            hostcfg.apt_acquire_config(),
        )

    def sources_list(self) -> str:
        lines = [
            f"deb {self.mirrors.archive} {SUITE} main",
            f"deb {self.mirrors.archive} {SUITE}-updates main",
        ]
        if self.mirrors.security:
            lines.append(f"deb {self.mirrors.security} {SUITE}-security main")
        return "\n".join(lines) + "\n"


def base_key() -> str:
    return hashlib.sha256(f"{SUITE}\nminbase\n{_DPKG_EXCLUDES}\n{_BASE_SCRIPT}".encode()).hexdigest()[:16]


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def base_path() -> Path:
    return cache_dir() / "base" / base_key()


def ensure_base(host: ChrootHost, log: TextIO) -> bool:
    """Debootstrap the base rootfs unless it is cached (~1 min); True if it was built now."""
    final = base_path()
    if (final / "etc" / "debian_version").is_file():
        return False
    tmp = final.with_name(final.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    _run(["debootstrap", "--variant=minbase", SUITE, str(tmp), host.mirrors.archive], log)
    # debootstrap copies the host's name and resolver; images must not carry them.
    _write(tmp / "etc/hostname", "")
    _write(tmp / "etc/apt/sources.list", host.sources_list())
    _write(tmp / "etc/dpkg/dpkg.cfg.d/excludes", _DPKG_EXCLUDES)
    # Package postinsts must not start daemons in the build chroot.
    _write(tmp / _POLICY_RC, "#!/bin/sh\nexit 101\n", 0o755)
    run_in_chroot(tmp, _BASE_SCRIPT, host, log)
    clean(tmp, keep_policy_rc=True)
    os.replace(tmp, final)
    return True


def copy_tree(src: Path, dst: Path) -> None:
    """Fresh copy of `src` at `dst` (cp -a keeps owners, modes, hard links and device nodes)."""
    if dst.exists():
        subprocess.run(["rm", "-rf", str(dst)], check=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(src), str(dst)], check=True)


def _run(cmd: list[str], log: TextIO, **kw: object) -> None:
    log.write("$ " + shlex.join(cmd) + "\n")
    log.flush()
    result = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False, **kw)  # type: ignore[call-overload]
    if result.returncode:
        raise subprocess.CalledProcessError(result.returncode, cmd)


@contextmanager
def _build_files(root: Path, host: ChrootHost) -> Iterator[dict[str, str]]:
    """Put resolver, CA bundle, pip and apt settings into the chroot; always take them out again."""
    build = root / _BUILD_DIR
    build.mkdir(parents=True, exist_ok=True)
    resolv = root / "etc/resolv.conf"
    created: list[Path] = [resolv, root / "etc/pip.conf", root / "etc/apt/apt.conf.d/99image-build"]
    env = {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    try:
        if resolv.is_symlink():
            resolv.unlink()
        shutil.copyfile("/etc/resolv.conf", resolv)
        # The host's mirror of today, not the one the cached base was made with.
        _write(root / "etc/apt/sources.list", host.sources_list())
        cert = None
        if host.pip.ca_bundle:
            shutil.copyfile(host.pip.ca_bundle, build / "ca.pem")
            cert = "/" + _BUILD_DIR + "/ca.pem"
            # git, curl and requests inside the build trust the same CAs as the host.
            env["SSL_CERT_FILE"] = env["GIT_SSL_CAINFO"] = env["REQUESTS_CA_BUNDLE"] = cert
        _write(root / "etc/pip.conf", hostcfg.render_pip_conf(host.pip.settings, cert))
        apt_conf = host.apt_conf
        if cert:
            apt_conf += f'Acquire::https::CAInfo "{cert}";\n'
        _write(root / "etc/apt/apt.conf.d/99image-build", apt_conf)
        yield env
    finally:
        shutil.rmtree(build, ignore_errors=True)
        for path in created:
            path.unlink(missing_ok=True)
        # An empty resolv.conf is what the runtime bind-mounts over.
        _write(resolv, "")


def run_in_chroot(
    root: Path,
    script: str,
    host: ChrootHost,
    log: TextIO,
    binds: dict[Path, str] | None = None,
    inputs: dict[str, str] | None = None,
    outputs: Path | None = None,
) -> None:
    """Run a bash script as root inside `root`, in a private mount namespace.

    The namespace dies with the step, so /proc, /dev and cache bind mounts can never leak onto the
    host or be left behind by a failed build. The environment is cleared: host PIP_*/SSL_* variables
    name host paths that do not exist in the chroot. `inputs` become files in $IN; files the script
    writes to $OUT land in the host directory `outputs`.
    """
    binds = dict(binds or {})
    if outputs is not None:
        binds[outputs] = f"/{_BUILD_DIR}/out"
    with _build_files(root, host) as env:
        env["IN"] = f"/{_BUILD_DIR}"
        env["OUT"] = f"/{_BUILD_DIR}/out"
        for name, text in (inputs or {}).items():
            _write(root / _BUILD_DIR / name, text)
        step = root / _BUILD_DIR / "step.sh"
        _write(step, "set -euo pipefail\n" + script, 0o755)
        mounts = ["set -e", 'R="$1"', 'mount -t proc proc "$R/proc"', 'mount --rbind /dev "$R/dev"']
        for src, target in binds.items():
            src.mkdir(parents=True, exist_ok=True)
            (root / target.lstrip("/")).mkdir(parents=True, exist_ok=True)
            mounts.append(f'mount --bind {shlex.quote(str(src))} "$R"{shlex.quote(target)}')
        env_args = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        mounts.append(f'exec chroot "$R" /usr/bin/env -i {env_args} /bin/bash /{_BUILD_DIR}/step.sh')
        _run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                "-c",
                "\n".join(mounts),
                "sh",
                str(root),
            ],
            log,
        )


def clean(root: Path, keep_policy_rc: bool = False) -> None:
    """Drop caches and build leftovers that should not ship in an image."""
    for pattern in (
        "var/lib/apt/lists/*",
        "var/cache/apt/*.bin",
        "var/cache/apt/archives/*.deb",
        "var/cache/debconf/*-old",
        "var/lib/dpkg/*-old",
        "var/log/*.log",
        "var/log/apt/*",
        "tmp/*",
        "tmp/.[!.]*",
        "root/.cache",
        "var/tmp/*",
    ):
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    if not keep_policy_rc:
        (root / _POLICY_RC).unlink(missing_ok=True)
    _write(root / "etc/machine-id", "")
