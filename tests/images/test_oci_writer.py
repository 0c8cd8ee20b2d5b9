"""The OCI writer: layout structure, digests and sizes, layer metadata, failure cleanup."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from .conftest import oci

REF = "docker.io/example/test:1.0"
CONFIG = oci.ImageConfig(
    entrypoint=["/entrypoint"], cmd=["serve"], env=["PATH=/usr/bin:/bin"], user="50000", working_dir="/srv"
)


def _tree(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_bytes(b"\x7fELF" + os.urandom(70_000))
    (root / "bin" / "tool").chmod(0o4755)
    os.link(root / "bin" / "tool", root / "bin" / "tool-hardlink")
    (root / "bin" / "alias").symlink_to("tool")
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    (root / "data").mkdir()
    (root / "data" / "owned").write_text("x")
    if os.geteuid() == 0:
        os.chown(root / "data", 999, 999)
        os.chown(root / "data" / "owned", 999, 0)
    (root / "dev").mkdir()
    (root / "dev" / "junk").write_text("runtime provides /dev")
    return root


def _write(tmp_path: Path) -> tuple[Path, oci.Descriptor]:
    tree = _tree(tmp_path / "rootfs")
    archive = tmp_path / "image.tar"
    desc = oci.write_image(
        archive,
        REF,
        CONFIG,
        [lambda sink: oci.write_layer(sink, tree, skip_contents_of={"dev"})],
        created="2026-01-01T00:00:00Z",
        history="test",
    )
    return archive, desc


def _blob(tar: tarfile.TarFile, desc: dict[str, object]) -> bytes:
    """Check a descriptor against the blob it names, independently of oci.read_image."""
    algo, hexdigest = str(desc["digest"]).split(":")
    assert algo == "sha256"
    f = tar.extractfile(f"blobs/sha256/{hexdigest}")
    assert f is not None
    data = f.read()
    assert hashlib.sha256(data).hexdigest() == hexdigest
    assert len(data) == desc["size"]
    return data


def test_layout_index_manifest_config_layers_chain(tmp_path: Path) -> None:
    archive, desc = _write(tmp_path)
    assert not list(tmp_path.glob("*.partial"))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert {"oci-layout", "index.json"} <= set(names)
        assert json.loads(tar.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}  # type: ignore[union-attr]
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        assert index["schemaVersion"] == 2
        assert index["mediaType"] == oci.MEDIA_INDEX
        (entry,) = index["manifests"]
        assert entry["digest"] == desc.digest
        assert entry["mediaType"] == oci.MEDIA_MANIFEST
        assert entry["annotations"]["org.opencontainers.image.ref.name"] == REF
        assert entry["annotations"]["io.containerd.image.name"] == REF
        assert entry["platform"] == {"architecture": oci.oci_arch(), "os": "linux"}

        manifest = json.loads(_blob(tar, entry))
        assert manifest["schemaVersion"] == 2
        assert manifest["mediaType"] == oci.MEDIA_MANIFEST
        assert manifest["config"]["mediaType"] == oci.MEDIA_CONFIG
        config = json.loads(_blob(tar, manifest["config"]))
        (layer,) = manifest["layers"]
        assert layer["mediaType"] == oci.MEDIA_LAYER
        layer_bytes = _blob(tar, layer)
        # Uncompressed layers: the diff_id is the layer digest.
        assert config["rootfs"] == {"type": "layers", "diff_ids": [layer["digest"]]}
        assert config["os"] == "linux"
        assert config["config"] == {
            "Entrypoint": ["/entrypoint"],
            "Cmd": ["serve"],
            "Env": ["PATH=/usr/bin:/bin"],
            "User": "50000",
            "WorkingDir": "/srv",
        }
        # Every blob in the archive is referenced: no stray data.
        blobs = {n for n in names if n.startswith("blobs/sha256/") and n.count("/") == 2 and len(n) > 20}
        referenced = {f"blobs/sha256/{d['digest'].split(':')[1]}" for d in (entry, manifest["config"], layer)}
        assert blobs == referenced
    with tarfile.open(fileobj=io.BytesIO(layer_bytes)) as layer_tar:
        assert "bin/tool" in layer_tar.getnames()

    image = oci.read_image(archive)
    assert (image.ref, image.manifest_digest) == (REF, desc.digest)


def test_layer_keeps_owners_modes_links(tmp_path: Path) -> None:
    archive, _ = _write(tmp_path)
    image = oci.read_image(archive)
    with tarfile.open(archive) as outer:
        layer = outer.extractfile(image.layer_members[0])
        assert layer is not None
        with tarfile.open(fileobj=io.BytesIO(layer.read())) as tar:
            members = {m.name: m for m in tar.getmembers()}
    tool = members["bin/tool"]
    assert tool.isreg()
    assert stat.S_IMODE(tool.mode) == 0o4755
    hardlink = members["bin/tool-hardlink"]
    assert hardlink.islnk()
    assert hardlink.linkname == "bin/tool"
    assert members["bin/alias"].issym()
    assert members["bin/alias"].linkname == "tool"
    assert stat.S_IMODE(members["tmp"].mode) == 0o1777
    assert all(m.uname == "" and m.gname == "" for m in members.values())
    assert all(isinstance(m.mtime, int) for m in members.values())
    if os.geteuid() == 0:
        assert (members["data"].uid, members["data"].gid) == (999, 999)
        assert (members["data/owned"].uid, members["data/owned"].gid) == (999, 0)
    # The runtime mounts /dev: the directory is kept, its contents are not.
    assert "dev" in members
    assert "dev/junk" not in members
    assert [n for n in members if not n.startswith(("bin", "etc", "tmp", "data", "dev"))] == []


def test_read_image_rejects_corrupt_blob(tmp_path: Path) -> None:
    archive, _ = _write(tmp_path)
    image = oci.read_image(archive)
    with tarfile.open(archive) as tar:
        offset = tar.getmember(image.layer_members[0]).offset_data
    with open(archive, "r+b") as f:
        f.seek(offset + 1000)
        byte = f.read(1)
        f.seek(offset + 1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match="digest mismatch"):
        oci.read_image(archive)


def test_failed_layer_leaves_no_archive(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"

    def broken(sink: oci.HashingWriter) -> None:
        sink.write(b"partial")
        raise RuntimeError("layer failed")

    with pytest.raises(RuntimeError, match="layer failed"):
        oci.write_image(archive, REF, CONFIG, [broken], created="2026-01-01T00:00:00Z", history="test")
    assert list(tmp_path.iterdir()) == []


def test_files_layer(tmp_path: Path) -> None:
    archive = tmp_path / "pause.tar"
    oci.write_image(
        archive,
        "registry.k8s.io/pause:3.10",
        oci.ImageConfig(entrypoint=["/pause"]),
        [lambda sink: oci.write_files_layer(sink, {"pause": (b"binary", 0o755)})],
        created="2026-01-01T00:00:00Z",
        history="test",
    )
    image = oci.read_image(archive)
    with tarfile.open(archive) as outer:
        layer = outer.extractfile(image.layer_members[0])
        assert layer is not None
        with tarfile.open(fileobj=layer) as tar:
            (member,) = tar.getmembers()
    assert (member.name, member.mode, member.uid, member.size) == ("pause", 0o755, 0, 6)
