"""Cluster DNS for the local cluster: answers A/SRV for `<svc>.<ns>.svc.cluster.local` (and the short
forms, through the pods' search path) from Services and EndpointSlices watched on the API; NXDOMAIN for
everything else, since nothing outside the cluster is reachable.

Why not CoreDNS: as a Go module it pulls versions of grpc/otel/client-go that fight k8s 1.35's in the one
`kube` module, and a second module would double the cold build. The cluster needs only the Kubernetes DNS
spec's core records, which this serves from the same watches CoreDNS's kubernetes plugin uses.

Run: python dns_server.py --pki DIR --listen IP [--port 53]
"""

from __future__ import annotations

import argparse
import ipaddress
import socketserver
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

import dnswire
import layout
from kubeapi import ApiError, KubeApi

TTL = 5
ZONE = layout.CLUSTER_DOMAIN
UDP_MAX = 512


@dataclass
class ServiceEntry:
    cluster_ips: list[str]
    headless: bool
    external_name: str | None
    ports: list[tuple[str, str, int]]  # (name, protocol, port)
    publish_not_ready: bool


@dataclass
class Endpoint:
    ip: str
    hostname: str | None
    ready: bool


@dataclass
class EndpointSliceEntry:
    service: str  # namespace/name
    endpoints: list[Endpoint]
    ports: list[tuple[str, str, int]]


@dataclass
class ClusterRecords:
    """What the watches have seen, keyed by namespace/name; read by every query under one lock."""

    services: dict[str, ServiceEntry] = field(default_factory=dict)
    slices: dict[str, EndpointSliceEntry] = field(default_factory=dict)
    synced: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def endpoints_of(self, service_key: str, include_not_ready: bool) -> list[Endpoint]:
        found = []
        for entry in self.slices.values():
            if entry.service == service_key:
                found += [e for e in entry.endpoints if e.ready or include_not_ready]
        return found

    def slice_ports_of(self, service_key: str) -> list[tuple[str, str, int]]:
        for entry in self.slices.values():
            if entry.service == service_key and entry.ports:
                return entry.ports
        return []


def _service_entry(obj: dict[str, Any]) -> ServiceEntry:
    spec = obj.get("spec", {})
    cluster_ips = [ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None"]
    ports = [(p.get("name", ""), p.get("protocol", "TCP"), int(p["port"])) for p in spec.get("ports") or []]
    return ServiceEntry(
        cluster_ips=[ip for ip in cluster_ips if ipaddress.ip_address(ip).version == 4],
        headless=spec.get("clusterIP") == "None",
        external_name=spec.get("externalName") if spec.get("type") == "ExternalName" else None,
        ports=ports,
        publish_not_ready=bool(spec.get("publishNotReadyAddresses")),
    )


def _slice_entry(obj: dict[str, Any]) -> EndpointSliceEntry | None:
    labels = obj.get("metadata", {}).get("labels", {})
    service = labels.get("kubernetes.io/service-name")
    if not service or obj.get("addressType") != "IPv4":
        return None
    endpoints = []
    for endpoint in obj.get("endpoints") or []:
        ready = endpoint.get("conditions", {}).get("ready") is not False
        for ip in endpoint.get("addresses", []):
            endpoints.append(Endpoint(ip, endpoint.get("hostname"), ready))
    ports = [
        (p.get("name", ""), p.get("protocol", "TCP"), int(p["port"]))
        for p in obj.get("ports") or []
        if p.get("port") is not None
    ]
    return EndpointSliceEntry(f"{obj['metadata']['namespace']}/{service}", endpoints, ports)


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


class Watcher(threading.Thread):
    """List, then watch, one resource into `records`; re-list after any error or an expired watch."""

    def __init__(self, api: KubeApi, records: ClusterRecords, kind: str, path: str, stop: threading.Event):
        super().__init__(name=f"watch-{kind}", daemon=True)
        self.api, self.records, self.kind, self.path, self.stop = api, records, kind, path, stop

    def _apply(self, event_type: str, obj: dict[str, Any]) -> None:
        key = _key(obj)
        with self.records.lock:
            if self.kind == "services":
                if event_type == "DELETED":
                    self.records.services.pop(key, None)
                else:
                    self.records.services[key] = _service_entry(obj)
            else:
                entry = _slice_entry(obj)
                if event_type == "DELETED" or entry is None:
                    self.records.slices.pop(key, None)
                else:
                    self.records.slices[key] = entry

    def _list(self) -> str:
        listing = self.api.get(self.path, timeout=30)
        with self.records.lock:
            if self.kind == "services":
                self.records.services = {_key(o): _service_entry(o) for o in listing.get("items", [])}
            else:
                entries = {_key(o): _slice_entry(o) for o in listing.get("items", [])}
                self.records.slices = {k: v for k, v in entries.items() if v is not None}
            self.records.synced.add(self.kind)
        return str(listing["metadata"]["resourceVersion"])

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                resource_version = self._list()
                for event in self.api.watch(self.path, resource_version):
                    event_type, obj = event.get("type", ""), event.get("object", {})
                    if event_type == "ERROR":
                        break  # typically 410 Gone: the resource version expired, re-list
                    if event_type != "BOOKMARK":
                        self._apply(event_type, obj)
            except (OSError, ApiError, ValueError) as error:
                print(f"dns: {self.kind} watch: {error}; re-listing in 1s", file=sys.stderr, flush=True)
                self.stop.wait(1.0)


@dataclass(frozen=True)
class Answer:
    rcode: int
    records: list[dnswire.Record]
    authoritative: bool


def _soa(ttl: int = TTL) -> dnswire.Record:
    return dnswire.Record(ZONE, dnswire.TYPE_SOA, ttl, dnswire.soa_rdata(ZONE, ttl))


class Resolver:
    """The Kubernetes DNS spec's core: services, headless endpoints, named-port SRV, pod A records."""

    def __init__(self, records: ClusterRecords) -> None:
        self.records = records

    def answer(self, question: dnswire.Question) -> Answer:
        name = question.name
        if not (name == ZONE or name.endswith("." + ZONE)):
            return Answer(dnswire.RCODE_NXDOMAIN, [], False)
        labels = name[: -len(ZONE)].rstrip(".").split(".") if name != ZONE else []
        with self.records.lock:
            found = self._lookup(name, labels, question.qtype)
        if found is None:
            return Answer(dnswire.RCODE_NXDOMAIN, [], True)
        return Answer(dnswire.RCODE_OK, found, True)

    def _lookup(self, name: str, labels: list[str], qtype: int) -> list[dnswire.Record] | None:
        """Records for `name` (possibly none of `qtype`: NODATA), or None when the name does not exist."""
        if len(labels) >= 2 and labels[-1] == "pod":
            return self._pod(name, labels, qtype)
        if len(labels) < 3 or labels[-1] != "svc":
            # Zone apex and namespace levels exist (empty non-terminals), deeper unknown names do not.
            return [] if labels in ([], ["svc"]) or (len(labels) == 2 and labels[-1] == "svc") else None
        if labels[0].startswith("_") and len(labels) == 5:
            return self._srv(name, labels, qtype)
        if len(labels) == 3:
            return self._service(name, f"{labels[1]}/{labels[0]}", qtype)
        if len(labels) == 4:
            return self._endpoint_hostname(name, labels, qtype)
        return None

    def _service(self, name: str, key: str, qtype: int) -> list[dnswire.Record] | None:
        service = self.records.services.get(key)
        if service is None:
            return None
        if service.external_name:
            return [dnswire.Record(name, dnswire.TYPE_CNAME, TTL, dnswire.encode_name(service.external_name))]
        if qtype != dnswire.TYPE_A:
            return []
        if service.headless:
            endpoints = self.records.endpoints_of(key, service.publish_not_ready)
            ips = sorted({e.ip for e in endpoints})
        else:
            ips = service.cluster_ips
        return [dnswire.Record(name, dnswire.TYPE_A, TTL, dnswire.a_rdata(ip)) for ip in ips]

    def _endpoint_hostname(self, name: str, labels: list[str], qtype: int) -> list[dnswire.Record] | None:
        hostname, key = labels[0], f"{labels[2]}/{labels[1]}"
        service = self.records.services.get(key)
        if service is None or not service.headless:
            return None
        ips = [e.ip for e in self.records.endpoints_of(key, True) if e.hostname == hostname]
        if not ips:
            return None
        return [dnswire.Record(name, dnswire.TYPE_A, TTL, dnswire.a_rdata(ip)) for ip in ips if qtype == 1]

    def _srv(self, name: str, labels: list[str], qtype: int) -> list[dnswire.Record] | None:
        port_name, protocol = labels[0][1:], labels[1][1:].upper()
        key = f"{labels[3]}/{labels[2]}"
        service = self.records.services.get(key)
        if service is None:
            return None
        ports = [p for p in service.ports if p[0] == port_name and p[1] == protocol]
        if not ports:
            return None
        if qtype != dnswire.TYPE_SRV:
            return []
        service_name = f"{labels[2]}.{labels[3]}.svc.{ZONE}"
        if not service.headless:
            return [
                dnswire.Record(name, dnswire.TYPE_SRV, TTL, dnswire.srv_rdata(0, 100, port, service_name))
                for _, _, port in ports
            ]
        slice_ports = [p for p in self.records.slice_ports_of(key) if p[0] == port_name and p[1] == protocol]
        records = []
        for endpoint in self.records.endpoints_of(key, service.publish_not_ready):
            target = f"{endpoint.hostname or endpoint.ip.replace('.', '-')}.{service_name}"
            for _, _, port in slice_ports:
                records.append(dnswire.Record(name, dnswire.TYPE_SRV, TTL, dnswire.srv_rdata(0, 100, port, target)))
        return records

    def _pod(self, name: str, labels: list[str], qtype: int) -> list[dnswire.Record] | None:
        if len(labels) != 3:
            return [] if len(labels) == 2 else None
        try:
            ip = str(ipaddress.IPv4Address(labels[0].replace("-", ".")))
        except ValueError:
            return None
        return [dnswire.Record(name, dnswire.TYPE_A, TTL, dnswire.a_rdata(ip))] if qtype == 1 else []


def respond(resolver: Resolver, message: bytes, max_size: int | None) -> bytes | None:
    try:
        query = dnswire.parse_query(message)
    except dnswire.MalformedQuery:
        return dnswire.error_response(message, dnswire.RCODE_FORMERR)
    if query.flags & 0x7800:  # only standard queries (opcode 0)
        return dnswire.error_response(message, dnswire.RCODE_NOTIMP)
    answer = resolver.answer(query.question)
    authority = [_soa()] if answer.authoritative and not answer.records else []
    return dnswire.build_response(query, answer.rcode, answer.records, authority, answer.authoritative, max_size)


def serve(resolver: Resolver, host: str, port: int) -> list[socketserver.BaseServer]:
    class UdpHandler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            reply = respond(resolver, data, UDP_MAX)
            if reply:
                sock.sendto(reply, self.client_address)

    class TcpHandler(socketserver.StreamRequestHandler):
        timeout = 10

        def handle(self) -> None:
            header = self.rfile.read(2)
            if len(header) < 2:
                return
            data = self.rfile.read(int.from_bytes(header, "big"))
            reply = respond(resolver, data, None)
            if reply:
                self.wfile.write(len(reply).to_bytes(2, "big") + reply)

    class Udp(socketserver.ThreadingMixIn, socketserver.UDPServer):
        daemon_threads = True
        allow_reuse_address = True

    class Tcp(socketserver.ThreadingMixIn, socketserver.TCPServer):
        daemon_threads = True
        allow_reuse_address = True

    servers: list[socketserver.BaseServer] = [Udp((host, port), UdpHandler), Tcp((host, port), TcpHandler)]
    for server in servers:
        threading.Thread(target=server.serve_forever, name=type(server).__name__, daemon=True).start()
    return servers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pki", type=Path, required=True, help="directory with ca.crt and dns.crt/.key")
    parser.add_argument("--listen", default=layout.NODE_IP)
    parser.add_argument("--port", type=int, default=53)
    args = parser.parse_args()

    api = KubeApi.for_identity(args.pki, "dns")
    records = ClusterRecords()
    stop = threading.Event()
    Watcher(api, records, "services", "/api/v1/services", stop).start()
    Watcher(api, records, "endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", stop).start()

    # Answer only once both lists are in: an early NXDOMAIN would be cached by clients.
    deadline = time.monotonic() + 120
    while records.synced != {"services", "endpointslices"} and time.monotonic() < deadline:
        time.sleep(0.2)
    if records.synced != {"services", "endpointslices"}:
        print("dns: could not list Services/EndpointSlices within 120s", file=sys.stderr)
        return 1
    serve(Resolver(records), args.listen, args.port)
    print(f"dns: serving {ZONE} on {args.listen}:{args.port} (udp+tcp)", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
