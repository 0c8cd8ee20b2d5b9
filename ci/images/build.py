#!/usr/bin/env python3
"""Build the chart's images from Debian packages and PyPI into OCI archives, without Docker.

    python3 ci/images/build.py                 # all images into .state/images/<name>.tar
    python3 ci/images/build.py --only airflow  # one image
    python3 ci/images/build.py --import        # and load them into the local cluster's containerd

An image is rebuilt only when its inputs change (recipe, entrypoint files, pip lock, base recipe);
the key is stored beside the archive in <name>.json. Needs root (chroot, mounts), debootstrap, gcc.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import ctrimport
import oci
import rootfs
from recipes import FILES, HERE, RECIPES, Recipe

REPO = HERE.parents[1]
STATE = REPO / ".state" / "images"
# One containerd per node of the local cluster (ci/cluster): each node needs every image.
NODE_SOCKETS = ".state/cluster/nodes/*/containerd/containerd.sock"
# Bump when a change to the writer or rootfs handling changes archive contents: forces rebuilds.
BUILDER_VERSION = "1"
# Mount points and kernel filesystems: the runtime provides their contents.
SKIP_CONTENTS_OF = frozenset({"dev", "proc", "sys"})


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"


def inputs_key(recipe: Recipe) -> str:
    """Hash of everything that decides the image's content."""
    parts = {
        "builder": BUILDER_VERSION,
        "ref": recipe.ref,
        "config": recipe.config.to_json(),
        "script": recipe.script,
        "prelude": "" if recipe.static_binary else _PRELUDE,
        "pip": list(recipe.pip_requirements),
        "lock": _sha256_file(recipe.lock_path) if recipe.pip_requirements else "",
        "files": {dst: [_sha256_file(FILES / src), mode] for dst, (src, mode) in recipe.files.items()},
        "static": _sha256_file(HERE / recipe.static_binary) if recipe.static_binary else "",
        "go": recipe.go_module,
        "base": rootfs.base_key() if recipe.debian else "",
    }
    return hashlib.sha256(oci.canonical_json(parts)).hexdigest()


def archive_path(recipe: Recipe) -> Path:
    return STATE / f"{recipe.name}.tar"


@dataclass(frozen=True)
class ImageMeta:
    """Stored beside the archive as <name>.json: the cache key and what the importer compares."""

    inputs: str
    ref: str
    digest: str
    size: int
    seconds: float

    @staticmethod
    def path(recipe: Recipe) -> Path:
        return STATE / f"{recipe.name}.json"

    @classmethod
    def load(cls, recipe: Recipe) -> ImageMeta | None:
        try:
            return cls(**json.loads(cls.path(recipe).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, recipe: Recipe) -> None:
        self.path(recipe).write_text(json.dumps(asdict(self), indent=2) + "\n")


def cached_meta(recipe: Recipe) -> ImageMeta | None:
    meta = ImageMeta.load(recipe)
    if meta is None or not archive_path(recipe).is_file() or meta.inputs != inputs_key(recipe):
        return None
    return meta


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _write_archive(recipe: Recipe, layer: oci.LayerProducer) -> oci.Descriptor:
    return oci.write_image(
        archive_path(recipe),
        recipe.ref,
        recipe.config,
        [layer],
        created=_now(),
        history=f"ci/images/build.py ({recipe.name})",
    )


def build_static(recipe: Recipe, log: TextIO) -> oci.Descriptor:
    """An image holding one statically linked binary (the pause image)."""
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "out"
        cmd = [
            "gcc",
            "-Os",
            "-static",
            "-s",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-o",
            str(binary),
            str(HERE / recipe.static_binary),
        ]
        log.write("$ " + " ".join(cmd) + "\n")
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
        name = recipe.config.entrypoint[0].lstrip("/")
        content = binary.read_bytes()
    return _write_archive(recipe, lambda sink: oci.write_files_layer(sink, {name: (content, 0o755)}))


def build_go(recipe: Recipe, log: TextIO) -> oci.Descriptor:
    """An image holding one Go command built from its module (`go install module@version`), static."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["go", "install", "-trimpath", "-ldflags=-s -w", recipe.go_module]
        # -mod=mod: a module@version install resolves its own go.mod; CGO off makes the binary static.
        env = {**os.environ, "GOBIN": tmp, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=1800)
        command = recipe.go_module.split("@", 1)[0].rsplit("/", 1)[-1]
        content = (Path(tmp) / command).read_bytes()
    name = recipe.config.entrypoint[0].lstrip("/")
    return _write_archive(recipe, lambda sink: oci.write_files_layer(sink, {name: (content, 0o755)}))


_PRELUDE = """\
PS4='+ $(date +%T) '
set -x
# unsafe-io: no fsync per file; a crashed build is thrown away anyway.
apt_install() {
    apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 \\
        -o Dpkg::Options::=--force-unsafe-io "$@"
}
# Installs from a wheelhouse kept in the host cache: pip's own HTTP cache keys on Cache-Control, which
# egress proxies may strip (ours does). Online only when a pinned wheel is missing, or to relock.
WHEELS=/root/.cache/wheels
pip_install() {
    local reqs=(-r "$IN/requirements.txt" -c "$IN/constraints.txt")
    local install=(pip install --no-input --root-user-action=ignore --no-index --find-links "$WHEELS" --no-compile)
    if [[ ! -s "$IN/constraints.txt" ]] || ! "${install[@]}" "${reqs[@]}"; then
        pip download --no-input --progress-bar off -d "$WHEELS" "${reqs[@]}"
        "${install[@]}" "${reqs[@]}"
    fi
    local site
    site="$(python3 -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
    pip freeze --path "$site" >"$OUT/freeze.txt"
}
apt-get update -qq
"""


def build_debian(recipe: Recipe, host: rootfs.ChrootHost, log: TextIO, relock: bool) -> oci.Descriptor:
    """Copy the base rootfs, run the recipe in it, write it as a single-layer image."""
    cache = rootfs.cache_dir()
    work = cache / "work" / recipe.name
    rootfs.copy_tree(rootfs.base_path(), work)
    try:
        for dst, (src, mode) in recipe.files.items():
            target = work / dst.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(FILES / src, target)
            target.chmod(mode)
        inputs = {}
        if recipe.pip_requirements:
            lock = recipe.lock_path
            inputs["requirements.txt"] = "\n".join(recipe.pip_requirements) + "\n"
            inputs["constraints.txt"] = "" if relock or not lock.is_file() else lock.read_text()
        out = cache / "out" / recipe.name
        shutil.rmtree(out, ignore_errors=True)
        rootfs.run_in_chroot(
            work,
            _PRELUDE + recipe.script,
            host,
            log,
            # Per-image apt cache: apt locks its archive directory, and builds may run side by side.
            binds={cache / "apt" / recipe.name: "/var/cache/apt/archives", cache / "wheels": "/root/.cache/wheels"},
            inputs=inputs,
            outputs=out,
        )
        if recipe.pip_requirements:
            _check_lock(recipe, out / "freeze.txt", relock)
        rootfs.clean(work)
        return _write_archive(recipe, lambda sink: oci.write_layer(sink, work, SKIP_CONTENTS_OF))
    finally:
        # rm is several times faster than shutil.rmtree on ~40k files.
        subprocess.run(["rm", "-rf", str(work)], check=False)


def _check_lock(recipe: Recipe, freeze: Path, relock: bool) -> None:
    pins = sorted(line for line in freeze.read_text().splitlines() if line and not line.startswith("#"))
    lock = recipe.lock_path
    if relock or not lock.is_file():
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text(
            f"# pip constraints for the {recipe.name} image: every package pip installed, resolved\n"
            f"# from the requirements in ci/images/recipes.py.\n"
            f"# Regenerate: build.py --only {recipe.name} --relock\n" + "\n".join(pins) + "\n"
        )
        print(f"  wrote {lock.relative_to(REPO)} ({len(pins)} pins)")
        return
    locked = {_pin(line) for line in lock.read_text().splitlines() if line and not line.startswith("#")}
    unpinned = [p for p in pins if _pin(p) not in locked]
    if unpinned:
        print(f"  warning: installed but not in {lock.name} (relock?): {', '.join(unpinned)}")


def _pin(line: str) -> str:
    """``Name==version`` with the name normalized as pip compares names (``Flask_X`` is ``flask-x``)."""
    name, _, version = line.partition("==")
    return f"{re.sub(r'[-_.]+', '-', name).lower()}=={version.strip()}"


def _human(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


class BuildError(Exception):
    pass


def build_one(recipe: Recipe, host: rootfs.ChrootHost | None, relock: bool) -> ImageMeta:
    logs = rootfs.cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{recipe.name}.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        try:
            if recipe.static_binary:
                desc = build_static(recipe, log)
            elif recipe.go_module:
                desc = build_go(recipe, log)
            else:
                assert host is not None
                desc = build_debian(recipe, host, log, relock)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            log.flush()
            tail = "\n".join(log_path.read_text().splitlines()[-40:])
            raise BuildError(f"{recipe.name}: build failed ({exc}); last lines of {log_path}:\n{tail}") from exc
    meta = ImageMeta(
        inputs=inputs_key(recipe),  # after a relock the new lock is the input
        ref=recipe.ref,
        digest=desc.digest,
        size=archive_path(recipe).stat().st_size,
        seconds=round(time.monotonic() - started, 1),
    )
    meta.save(recipe)
    print(f"{recipe.name:9} built in {meta.seconds:6.1f}s {_human(meta.size):>8}  {recipe.ref}", flush=True)
    return meta


def build_all(recipes: list[Recipe], args: argparse.Namespace) -> None:
    todo = []
    for recipe in recipes:
        meta = None if (args.force or args.relock) else cached_meta(recipe)
        if meta is None:
            todo.append(recipe)
        else:
            print(f"{recipe.name:9} cached            {_human(meta.size):>8}  {recipe.ref}")
    host = None
    if any(r.debian for r in todo):
        if os.geteuid() != 0:
            raise BuildError("building Debian images needs root (debootstrap, chroot, mount)")
        host = rootfs.ChrootHost.discover(args.mirror)
        with open(rootfs.cache_dir() / "logs" / "base.log", "w") as log:
            started = time.monotonic()
            if rootfs.ensure_base(host, log):
                print(f"{'base':9} built in {time.monotonic() - started:6.1f}s  debootstrap {rootfs.SUITE}")
    # Builds overlap well: while one image waits on the network or dpkg, the other uses the CPU.
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        # Longest first, so the short ones fill in beside it.
        order = sorted(todo, key=lambda r: (not r.pip_requirements, not r.debian))
        futures = [pool.submit(build_one, recipe, host, args.relock) for recipe in order]
        errors = [str(f.exception()) for f in futures if f.exception() is not None]
    if errors:
        raise BuildError("\n\n".join(errors))


def import_all(recipes: list[Recipe], address: Path, ctr_name: str, snapshotter: str) -> None:
    ctr = shutil.which(ctr_name)
    if ctr is None or not ctrimport.containerd_up(ctr, address):
        print(f"import skipped: no containerd answering at {address}" + ("" if ctr else " (no ctr)"))
        return
    for recipe in recipes:
        meta = ImageMeta.load(recipe)
        if meta is None:
            raise BuildError(f"{recipe.name}: no {ImageMeta.path(recipe)}; build it first")
        started = time.monotonic()
        what = ctrimport.import_archive(ctr, address, archive_path(recipe), recipe.ref, meta.digest, snapshotter)
        print(f"{recipe.name:9} {what} in {time.monotonic() - started:.1f}s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(RECIPES),
        metavar="NAME",
        help=f"build only this image (repeatable): {', '.join(RECIPES)}",
    )
    parser.add_argument(
        "--import",
        dest="do_import",
        action="store_true",
        help="also import each archive into containerd, if its socket is up",
    )
    parser.add_argument(
        "--address",
        type=Path,
        action="append",
        help=f"containerd socket to import into (repeatable; default: every {NODE_SOCKETS})",
    )
    parser.add_argument("--ctr", default="ctr", help="ctr binary (default: ctr on PATH)")
    parser.add_argument("--snapshotter", default="overlayfs", help="containerd snapshotter the CRI uses")
    parser.add_argument("--force", action="store_true", help="rebuild even when inputs are unchanged")
    parser.add_argument(
        "--relock", action="store_true", help="resolve pip requirements afresh and rewrite ci/images/locks/<name>.txt"
    )
    parser.add_argument("--mirror", help="Debian mirror URL (default: the one in this host's apt sources)")
    parser.add_argument("--jobs", type=int, default=2, help="images built at the same time (default 2)")
    args = parser.parse_args(argv)

    recipes = [RECIPES[name] for name in (args.only or RECIPES)]
    STATE.mkdir(parents=True, exist_ok=True)
    (rootfs.cache_dir() / "logs").mkdir(parents=True, exist_ok=True)
    # Work directories and the wheelhouse live in the per-user cache, shared by every checkout.
    lock = open(rootfs.cache_dir() / "build.lock", "w")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("waiting for another image build to finish ...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        build_all(recipes, args)
        if args.do_import:
            addresses = args.address or sorted(REPO.glob(NODE_SOCKETS))
            if not addresses:
                print(f"import skipped: no containerd socket at {NODE_SOCKETS} (the local cluster is down)")
            for address in addresses:
                address = address if address.is_absolute() else REPO / address
                import_all(recipes, address, args.ctr, args.snapshotter)
    except (BuildError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
