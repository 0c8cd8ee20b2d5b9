"""Read this machine's package-source settings at run time.

Mirrors, proxies and CA bundles differ between developer machines and CI; nothing host-specific is
committed, the build copies what the host uses into the chroot and removes it afterwards.
"""

from __future__ import annotations

import configparser
import os
import re
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

APT_SOURCES = Path("/etc/apt/sources.list")
APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]


def _parse_one_line(text: str) -> list[AptSource]:
    out: list[AptSource] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        # Options in brackets ([signed-by=... arch=...]) carry no URI.
        line = re.sub(r"\[[^]]*\]", " ", line)
        parts = line.split()
        if len(parts) >= 3:
            out.append(AptSource(parts[1].rstrip("/"), (parts[2],)))
    return out


def _parse_deb822(text: str) -> list[AptSource]:
    out: list[AptSource] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
            continue
        suites = tuple(fields.get("suites", "").split())
        out.extend(AptSource(uri.rstrip("/"), suites) for uri in fields.get("uris", "").split())
    return out


def apt_sources() -> list[AptSource]:
    """Enabled binary sources from the files apt itself reads (other extensions are ignored by apt too)."""
    sources: list[AptSource] = []
    if APT_SOURCES.is_file():
        sources += _parse_one_line(APT_SOURCES.read_text())
    if APT_SOURCES_DIR.is_dir():
        for path in sorted(APT_SOURCES_DIR.iterdir()):
            if path.suffix == ".list":
                sources += _parse_one_line(path.read_text())
            elif path.suffix == ".sources":
                sources += _parse_deb822(path.read_text())
    return sources


@dataclass(frozen=True)
class DebianMirrors:
    archive: str
    security: str | None


def debian_mirrors(suite: str, override: str | None = None) -> DebianMirrors:
    """The host's Debian archive and security mirror for `suite`.

    Falls back to any source whose path ends in /debian, so a host on another Debian release still
    yields its mirror; raises with the fix when none is configured.
    """
    sources = apt_sources()
    security = next((s.uri for s in sources if f"{suite}-security" in s.suites), None)
    if security is None:
        security = next((s.uri for s in sources if s.uri.endswith("/debian-security")), None)
    if override:
        return DebianMirrors(override.rstrip("/"), security)
    archive = next((s.uri for s in sources if suite in s.suites), None)
    if archive is None:
        archive = next((s.uri for s in sources if s.uri.endswith("/debian")), None)
    if archive is None:
        raise SystemExit(f"no Debian mirror for {suite} in {APT_SOURCES} or {APT_SOURCES_DIR}/; pass --mirror URL")
    return DebianMirrors(archive, security)


# Acquire options that decide whether downloads work at all on this host (proxies, snapshot-style
# mirrors with expired Release files); everything else in the host's apt config stays on the host.
_APT_KEYS = re.compile(r"^Acquire::(?:(?:https?|ftp)::Proxy\S*|Check-Valid-Until|Check-Date|Max-FutureTime|ForceIPv4) ")


def apt_acquire_config() -> str:
    try:
        dump = subprocess.run(["apt-config", "dump"], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""
    return "".join(line + "\n" for line in dump.splitlines() if _APT_KEYS.match(line))


def _pip_config_files() -> list[Path]:
    # pip's own order: global, user, then the file named by PIP_CONFIG_FILE (later wins).
    xdg_dirs = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    home = Path.home()
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs] + [Path("/etc/pip.conf")]
    files += [home / ".pip" / "pip.conf", home / ".config" / "pip" / "pip.conf"]
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    return [f for f in files if f.is_file()]


@dataclass(frozen=True)
class PipConfig:
    settings: dict[str, str]  # [global] keys as in pip.conf, host file paths removed
    ca_bundle: Path | None  # host file to copy in; `cert` then points at the copy


def pip_config() -> PipConfig:
    """The host's effective pip [global] settings (config files, then PIP_* environment variables)."""
    parser = configparser.ConfigParser()
    parser.read(_pip_config_files())
    settings: dict[str, str] = {}
    for section in ("global", "install", "download"):
        if parser.has_section(section):
            settings.update(parser.items(section))
    for key, value in os.environ.items():
        if key.startswith("PIP_") and key != "PIP_CONFIG_FILE":
            settings[key[4:].lower().replace("_", "-")] = value
    cert = settings.pop("cert", None)
    ca_bundle = Path(cert) if cert else None
    if ca_bundle is None or not ca_bundle.is_file():
        # Without an explicit cert pip trusts the system store; the chroot's store is Debian's stock
        # one, which lacks any CA the host added (e.g. an egress proxy), so bring the host's.
        default = ssl.get_default_verify_paths().cafile
        ca_bundle = Path(default) if default and Path(default).is_file() else None
    # Local paths of the host mean nothing inside the chroot.
    for key in ("client-cert", "find-links", "log", "cache-dir", "target", "prefix", "root", "src"):
        value = settings.get(key, "")
        if key in settings and "://" not in value:
            del settings[key]
    # The image build is a system-wide install by design.
    for key in ("require-virtualenv", "user"):
        settings.pop(key, None)
    return PipConfig(settings, ca_bundle)


def render_pip_conf(settings: dict[str, str], cert: str | None) -> str:
    lines = ["[global]"] + [f"{k} = {v}" for k, v in sorted(settings.items())]
    if cert:
        lines.append(f"cert = {cert}")
    return "\n".join(lines) + "\n"
