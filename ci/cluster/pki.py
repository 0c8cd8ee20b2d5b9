"""Per-cluster PKI: one CA, a serving certificate for the apiserver and the kubelet, and one client
certificate per component identity, plus the service-account signing key."""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import layout
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 365


@dataclass(frozen=True)
class ClientIdentity:
    """Who a client certificate says it is: CN is the user, O the groups (RBAC subjects)."""

    file_stem: str
    user: str
    groups: tuple[str, ...] = ()


ADMIN = ClientIdentity("admin", "airflow-k8s-admin", ("system:masters",))
APISERVER_KUBELET_CLIENT = ClientIdentity(
    "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)
)
CONTROLLER_MANAGER = ClientIdentity("controller-manager", "system:kube-controller-manager")
SCHEDULER = ClientIdentity("scheduler", "system:kube-scheduler")
# One identity per node: the Node authorizer lets a kubelet touch only its own node and pods.
KUBELETS = tuple(
    ClientIdentity(node.process("kubelet"), f"system:node:{node.name}", ("system:nodes",)) for node in layout.NODES
)
PROXY = ClientIdentity("proxy", "system:kube-proxy")
# The host processes that stand where a cluster runs add-on pods; bootstrap.py binds each to the
# ClusterRole its upstream manifests give its ServiceAccount.
DNS = ClientIdentity("dns", "airflow-k8s:coredns")
NETPOL = ClientIdentity("netpol", "airflow-k8s:network-policies")
LOCAL_PATH = ClientIdentity("local-path", "airflow-k8s:local-path-provisioner")

CLIENTS = (ADMIN, APISERVER_KUBELET_CLIENT, CONTROLLER_MANAGER, SCHEDULER, *KUBELETS, PROXY, DNS, NETPOL, LOCAL_PATH)

APISERVER_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    f"kubernetes.default.svc.{layout.CLUSTER_DOMAIN}",
    "localhost",
)
APISERVER_IPS = (layout.NODE_IP, "127.0.0.1", layout.KUBERNETES_SERVICE_IP)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _validity(days: int) -> tuple[datetime.datetime, datetime.datetime]:
    # Back-dated a little so a clock a few seconds behind does not reject a fresh certificate.
    now = datetime.datetime.now(datetime.timezone.utc)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)


def _create_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    not_before, not_after = _validity(CA_DAYS)
    name = _name("airflow-k8s-local-ca")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_cert(directory / "ca.crt", cert)
    _write_key(directory / "ca.key", key)
    return cert, key


def _issue(
    directory: Path,
    file_stem: str,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    dns_names: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
) -> None:
    ca_cert, ca_key = ca
    key = _new_key()
    not_before, not_after = _validity(LEAF_DAYS)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if dns_names or ips:
        alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_cert(directory / f"{file_stem}.crt", cert)
    _write_key(directory / f"{file_stem}.key", key)


def _create_service_account_key(directory: Path) -> None:
    key = _new_key()
    _write_key(directory / "sa.key", key)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (directory / "sa.pub").write_bytes(public)


def ensure_pki(directory: Path) -> bool:
    """Create the cluster's PKI in `directory` unless it is already complete. Returns True if created."""
    expected = ["ca.crt", "sa.key", "apiserver.crt", "kubelet-serving.crt"]
    expected += [f"{client.file_stem}.crt" for client in CLIENTS]
    if all((directory / name).exists() for name in expected):
        return False
    directory.mkdir(parents=True, exist_ok=True)
    ca = _create_ca(directory)
    _issue(
        directory,
        "apiserver",
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        ca,
        dns_names=APISERVER_NAMES,
        ips=APISERVER_IPS,
    )
    _issue(
        directory,
        "kubelet-serving",
        _name(layout.NODE_NAME),
        ExtendedKeyUsageOID.SERVER_AUTH,
        ca,
        # Every kubelet serves on the one node address (each on its own port): one certificate for all.
        dns_names=tuple(node.name for node in layout.NODES),
        ips=(layout.NODE_IP,),
    )
    for client in CLIENTS:
        subject = _name(client.user, client.groups)
        _issue(directory, client.file_stem, subject, ExtendedKeyUsageOID.CLIENT_AUTH, ca)
    _create_service_account_key(directory)
    return True


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, pki_dir: Path, client: ClientIdentity, server: str) -> None:
    """Write a kubeconfig with the credentials embedded, so it still works when copied elsewhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"""apiVersion: v1
kind: Config
clusters:
- name: airflow-k8s
  cluster:
    server: {server}
    certificate-authority-data: {_b64(pki_dir / "ca.crt")}
users:
- name: {client.user}
  user:
    client-certificate-data: {_b64(pki_dir / f"{client.file_stem}.crt")}
    client-key-data: {_b64(pki_dir / f"{client.file_stem}.key")}
contexts:
- name: airflow-k8s
  context:
    cluster: airflow-k8s
    user: {client.user}
current-context: airflow-k8s
"""
    path.write_text(text)
    path.chmod(0o600)
