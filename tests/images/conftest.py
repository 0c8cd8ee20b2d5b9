"""Image tests: the OCI writer and recipes offline; the built archives (when present) in a chroot."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES_DIR = ROOT / "ci" / "images"
ARCHIVES = ROOT / ".state" / "images"
sys.path.insert(0, str(IMAGES_DIR))

# The build modules are scripts in ci/images, not an installed package; tests import them from here.
import build  # noqa: E402
import hostcfg  # noqa: E402
import oci  # noqa: E402
import recipes  # noqa: E402

__all__ = ["build", "hostcfg", "oci", "recipes"]


def _archive_or_skip(name: str) -> Path:
    archive = ARCHIVES / f"{name}.tar"
    if archive.is_file():
        return archive
    if os.environ.get("CI") == "true":
        pytest.fail(f"{archive.relative_to(ROOT)} missing: CI must run `python3 ci/images/build.py` before tests")
    pytest.skip(f"{archive.relative_to(ROOT)} not built (python3 ci/images/build.py)")


def _chroot_or_skip() -> None:
    if os.geteuid() != 0:
        pytest.skip("running an image rootfs needs root (chroot, mount namespaces)")
    if not (shutil.which("unshare") and shutil.which("chroot")):
        pytest.skip("needs unshare and chroot (util-linux, coreutils)")


# Runs in the new mount and pid namespaces: kernel filesystems in, then chroot as the image user.
# The image's environment arrives as the process environment (chroot keeps it), so images without
# /usr/bin/env (pause) run too; a WorkingDir other than / needs env -C from the image.
_ENTER = """set -e
R="$1"; U="$_USERSPEC"; shift; unset _USERSPEC
mkdir -p "$R/proc" "$R/dev"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
exec "$_CHROOT" --userspec="$U" "$R" "$@"
"""


class ImageRoot:
    """An archive's single layer unpacked into a directory, run like a container with chroot."""

    def __init__(self, image: oci.ReadImage, root: Path) -> None:
        self.image = image
        self.root = root
        self.config: dict[str, Any] = image.config["config"]  # type: ignore[assignment]

    def _passwd(self, uid: str) -> list[str] | None:
        passwd = self.root / "etc" / "passwd"
        lines = passwd.read_text().splitlines() if passwd.exists() else []
        return next((f for f in (line.split(":") for line in lines) if len(f) >= 7 and f[2] == uid), None)

    def command(
        self, args: list[str], *, user: str | None = None, env: dict[str, str] | None = None
    ) -> tuple[list[str], dict[str, str]]:
        """(argv, environment) running ENTRYPOINT + args as runc would: the image's Env, WorkingDir and
        User (primary group and HOME from the image's passwd when not given), the entrypoint looked up
        on the image's PATH, PID 1 of a new pid namespace.
        """
        uid, _, gid = (user or self.config.get("User") or "0").partition(":")
        entry = self._passwd(uid)
        proc_env = dict(e.split("=", 1) for e in self.config.get("Env") or [])
        if "HOME" not in proc_env:
            proc_env["HOME"] = entry[5] if entry else "/"
        proc_env.update(env or {})
        proc_env["_USERSPEC"] = f"{uid}:{gid or (entry[3] if entry else '0')}"
        proc_env["_CHROOT"] = shutil.which("chroot") or "chroot"
        workdir = self.config.get("WorkingDir") or "/"
        chdir = [] if workdir == "/" else ["/usr/bin/env", "-C", workdir]
        unshare = shutil.which("unshare") or "unshare"
        argv = [unshare, "--mount", "--pid", "--fork", "--propagation", "private", "--"]
        argv += ["/bin/sh", "-c", _ENTER, "sh", str(self.root), *chdir, *self.config["Entrypoint"], *args]
        return argv, proc_env

    def run(self, args: list[str], timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
        argv, env = self.command(args, **kw)
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)

    def start(self, args: list[str], **kw: Any) -> subprocess.Popen[str]:
        argv, env = self.command(args, **kw)
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    @staticmethod
    def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 60) -> str:
        """Signal the container's PID 1 (unshare's child; unshare itself ignores SIGTERM) and collect output."""
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        pids = children.read_text().split() if children.exists() else []
        for pid in pids:
            os.kill(int(pid), sig)
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for pid in pids:
                os.kill(int(pid), signal.SIGKILL)
            output, _ = proc.communicate()
            pytest.fail(f"container did not stop on signal {sig}:\n{output}")
        return output


def _unpack(archive: Path, dest: Path) -> ImageRoot:
    image = oci.read_image(archive)
    (member,) = image.layer_members
    dest.chmod(0o755)  # the layer has no "." entry; runtimes create the root 0755 too
    # GNU tar pipes the layer straight out of the archive; --numeric-owner keeps image uids exact.
    with subprocess.Popen(["tar", "-xOf", str(archive), member], stdout=subprocess.PIPE) as outer:
        subprocess.run(["tar", "-x", "-p", "--numeric-owner", "-C", str(dest)], stdin=outer.stdout, check=True)
    assert outer.returncode == 0
    return ImageRoot(image, dest)


@pytest.fixture(scope="session")
def unpack_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], ImageRoot]]:
    """Unpack a built image once per session (the Airflow one is ~700 MB); skip if it is not built."""
    roots: dict[str, ImageRoot] = {}

    def unpack(name: str) -> ImageRoot:
        if name not in roots:
            archive = _archive_or_skip(name)
            _chroot_or_skip()
            roots[name] = _unpack(archive, tmp_path_factory.mktemp(f"rootfs-{name}"))
        return roots[name]

    yield unpack
    # rm is several times faster than shutil.rmtree on the ~40k files of the Airflow image.
    subprocess.run(["rm", "-rf", *(str(r.root) for r in roots.values())], check=False)
