"""Write OCI image-layout archives (oci-layout, index.json, blobs/) with the standard library only.

The archive is what `ctr images import` reads: one image per archive, uncompressed layers, the
fully qualified reference in the index descriptor's annotations.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import stat
import tarfile
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
# containerd prefers this one when both are present; setting both makes the imported name unambiguous.
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"

_BLOCK = tarfile.BLOCKSIZE


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an image config (what `docker inspect .Config` shows)."""

    entrypoint: list[str]
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    user: str = ""
    working_dir: str = ""
    stop_signal: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"Entrypoint": self.entrypoint, "Cmd": self.cmd, "Env": self.env}
        for key, value in (
            ("User", self.user),
            ("WorkingDir", self.working_dir),
            ("StopSignal", self.stop_signal),
        ):
            if value:
                out[key] = value
        if self.labels:
            out["Labels"] = self.labels
        return out


def oci_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class HashingWriter:
    """File-like sink that hashes and counts what passes through to the real file."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._out.write(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


LayerProducer = Callable[[HashingWriter], None]


class OciArchiveWriter:
    """Streams an OCI layout into a tar file.

    Large blobs are written once: a placeholder tar header is reserved, the blob is streamed
    behind it while being hashed, then the header is rewritten with the digest-derived name.
    This avoids a second 1 GB copy through a temporary file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp = path.with_name(path.name + ".partial")
        self._file: BinaryIO = open(self._tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._blobs: set[str] = set()
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            self._file.write(info.tobuf(tarfile.USTAR_FORMAT))

    def _header(self, name: str, size: int) -> bytes:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o644
        header = info.tobuf(tarfile.USTAR_FORMAT)
        assert len(header) == _BLOCK, name
        return header

    def _pad(self, size: int) -> None:
        if size % _BLOCK:
            self._file.write(b"\0" * (_BLOCK - size % _BLOCK))

    def add_file(self, name: str, data: bytes) -> None:
        self._file.write(self._header(name, len(data)))
        self._file.write(data)
        self._pad(len(data))

    def add_blob(self, media_type: str, data: bytes) -> Descriptor:
        digest = sha256_digest(data)
        if digest not in self._blobs:
            self._blobs.add(digest)
            self.add_file("blobs/sha256/" + digest.split(":", 1)[1], data)
        return Descriptor(media_type, digest, len(data))

    def add_blob_stream(self, media_type: str, produce: LayerProducer) -> Descriptor:
        start = self._file.tell()
        self._file.write(b"\0" * _BLOCK)
        sink = HashingWriter(self._file)
        produce(sink)
        end = self._file.tell()
        self._pad(sink.size)
        after = self._file.tell()
        self._file.seek(start)
        self._file.write(self._header("blobs/sha256/" + sink.digest.split(":", 1)[1], sink.size))
        self._file.seek(after)
        assert end - start - _BLOCK == sink.size
        self._blobs.add(sink.digest)
        return Descriptor(media_type, sink.digest, sink.size)

    def close(self) -> None:
        self._file.write(b"\0" * (2 * _BLOCK))
        self._file.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


def _walk(root: Path, skip_contents_of: Container[str]) -> Iterator[tuple[str, str]]:
    """Yield (path, arcname) depth-first in sorted order, never following symlinks."""
    stack = [""]
    while stack:
        rel = stack.pop()
        base = os.path.join(root, rel) if rel else str(root)
        if rel and rel in skip_contents_of:
            continue
        with os.scandir(base) as it:
            entries = sorted(it, key=lambda e: e.name)
        subdirs = []
        for entry in entries:
            arc = f"{rel}/{entry.name}" if rel else entry.name
            yield entry.path, arc
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(arc)
        stack.extend(reversed(subdirs))


def write_layer(out: HashingWriter | BinaryIO, root: Path, skip_contents_of: Container[str] = ()) -> None:
    """Write the tree under `root` as an uncompressed layer tar.

    Numeric owners only (host user names mean nothing in the image), hard links kept as links,
    integer mtimes so tarfile does not add a PAX record per file.
    """
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for path, arcname in _walk(root, skip_contents_of):
            info = tar.gettarinfo(path, arcname)
            if info is None:  # sockets and the like have no tar form
                continue
            info.uname = info.gname = ""
            info.mtime = int(info.mtime)
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def write_files_layer(out: HashingWriter | BinaryIO, files: dict[str, tuple[bytes, int]]) -> None:
    """Layer from in-memory files: {arcname: (content, mode)}, owned by root."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for arcname, (content, mode) in sorted(files.items()):
            info = tarfile.TarInfo(arcname)
            info.size = len(content)
            info.mode = stat.S_IMODE(mode)
            tar.addfile(info, io.BytesIO(content))


def write_image(
    path: Path,
    ref: str,
    config: ImageConfig,
    layers: list[LayerProducer],
    created: str,
    history: str,
) -> Descriptor:
    """Write a one-image OCI archive at `path`; return the manifest descriptor.

    `layers` are producers that stream an uncompressed layer tar into the given sink,
    so the layer digest equals its diff_id.
    """
    writer = OciArchiveWriter(path)
    try:
        layer_descs = [writer.add_blob_stream(MEDIA_LAYER, produce) for produce in layers]
        config_json = {
            "architecture": oci_arch(),
            "os": "linux",
            "created": created,
            "config": config.to_json(),
            "rootfs": {"type": "layers", "diff_ids": [d.digest for d in layer_descs]},
            "history": [{"created": created, "created_by": history} for _ in layer_descs],
        }
        config_desc = writer.add_blob(MEDIA_CONFIG, canonical_json(config_json))
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": config_desc.to_json(),
            "layers": [d.to_json() for d in layer_descs],
        }
        manifest_desc = writer.add_blob(MEDIA_MANIFEST, canonical_json(manifest))
        index = {
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "manifests": [
                {
                    **manifest_desc.to_json(),
                    "platform": {"architecture": oci_arch(), "os": "linux"},
                    "annotations": {ANNOTATION_REF_NAME: ref, ANNOTATION_CONTAINERD_NAME: ref},
                }
            ],
        }
        writer.add_file("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))
        writer.add_file("index.json", canonical_json(index))
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return manifest_desc


@dataclass(frozen=True)
class ReadImage:
    """An archive read back and checked: what tests and the importer need."""

    ref: str
    manifest_digest: str
    manifest: dict[str, object]
    config: dict[str, object]
    layer_members: list[str]


def read_image(path: Path) -> ReadImage:
    """Parse an archive written by write_image, verifying every digest and size on the way."""
    with tarfile.open(path, "r:") as tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers()}

        def blob(desc: dict[str, object]) -> bytes:
            digest = str(desc["digest"])
            member = members["blobs/sha256/" + digest.split(":", 1)[1]]
            f = tar.extractfile(member)
            assert f is not None
            h = hashlib.sha256()
            data = bytearray()
            small = member.size < (16 << 20)
            while chunk := f.read(1 << 20):
                h.update(chunk)
                if small:
                    data += chunk
            if "sha256:" + h.hexdigest() != digest:
                raise ValueError(f"digest mismatch for {digest}")
            if member.size != desc["size"]:
                raise ValueError(f"size mismatch for {digest}: {member.size} != {desc['size']}")
            return bytes(data)

        layout = json.loads(tar.extractfile(members["oci-layout"]).read())  # type: ignore[union-attr]
        if layout.get("imageLayoutVersion") != "1.0.0":
            raise ValueError("bad oci-layout")
        index = json.loads(tar.extractfile(members["index.json"]).read())  # type: ignore[union-attr]
        (desc,) = index["manifests"]
        manifest = json.loads(blob(desc))
        config = json.loads(blob(manifest["config"]))
        diff_ids = config["rootfs"]["diff_ids"]
        layers = manifest["layers"]
        if [layer["digest"] for layer in layers] != diff_ids:
            raise ValueError("uncompressed layers must have digest == diff_id")
        for layer in layers:
            if layer["mediaType"] != MEDIA_LAYER:
                raise ValueError(f"unexpected layer media type {layer['mediaType']}")
            blob(layer)
        return ReadImage(
            ref=desc["annotations"][ANNOTATION_REF_NAME],
            manifest_digest=desc["digest"],
            manifest=manifest,
            config=config,
            layer_members=["blobs/sha256/" + layer["digest"].split(":", 1)[1] for layer in layers],
        )
