#!/usr/bin/env bash
# Debian packages the local two-node cluster (ci/cluster/cluster.py) and its images (ci/images) need:
# the container runtime, the CNI plugins, the tools kube-proxy and the kubelet shell out to, debootstrap, and the
# browser the UI e2e test drives. Idempotent, non-interactive.
set -euo pipefail

packages=(
    containerd                   # CRI runtime (1.6.x): kubelet talks to it over its socket
    runc                         # OCI runtime containerd starts containers with
    containernetworking-plugins  # bridge, host-local, portmap, loopback
    conntrack                    # kube-proxy flushes stale UDP (DNS) conntrack entries with it
    iptables                     # kube-proxy's iptables mode and the bridge masquerade rules
    nftables                     # nft: `down` removes a table kube-network-policies left (ci/cluster/netpolicy.py)
    iproute2                     # ip link/addr for the node bridge
    kmod                         # modprobe br_netfilter when the kernel has it as a module
    util-linux                   # mount/umount/nsenter for cleaning kubelet state; unshare for image builds
    debootstrap                  # image builds (ci/images): the Debian root filesystems
    gcc                          # image builds: the static pause binary
    libc6-dev                    # image builds: static libc for pause
    chromium                     # e2e: the UI's login form and log page in a real browser (tests/e2e/test_login_and_logs.py)
    chromium-driver              # e2e: chromedriver, driven by Selenium
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "cluster deps: all installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "cluster deps: need root to install: ${missing[*]}" >&2
    exit 1
fi

echo "cluster deps: installing ${missing[*]}"
# The package lists may be missing on a fresh machine; refresh them only when an install needs them.
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
