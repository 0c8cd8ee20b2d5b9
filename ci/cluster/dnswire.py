"""DNS messages on the wire (RFC 1035): parse a query, build an answer, and a tiny client for health checks."""

from __future__ import annotations

import random
import socket
import struct
from dataclasses import dataclass

TYPE_A = 1
TYPE_CNAME = 5
TYPE_SOA = 6
TYPE_PTR = 12
TYPE_AAAA = 28
TYPE_SRV = 33
CLASS_IN = 1

RCODE_OK = 0
RCODE_FORMERR = 1
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4


class MalformedQuery(ValueError):
    pass


@dataclass(frozen=True)
class Question:
    name: str  # lower case, no trailing dot
    qtype: int
    qclass: int


@dataclass(frozen=True)
class Query:
    ident: int
    flags: int
    question: Question
    question_bytes: bytes  # echoed verbatim in the answer


@dataclass(frozen=True)
class Record:
    name: str
    rtype: int
    ttl: int
    rdata: bytes


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("idna") if not label.isascii() else label.encode()
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def _decode_name(message: bytes, offset: int) -> tuple[str, int]:
    labels: list[str] = []
    jumps = 0
    end: int | None = None
    # A name has at most 127 labels; the bound also stops a message that never ends its name.
    for _ in range(128 + 16):
        if offset >= len(message):
            raise MalformedQuery("name runs past the message")
        length = message[offset]
        if length == 0:
            offset += 1
            break
        if length & 0xC0 == 0xC0:
            jumps += 1
            if jumps > 16 or offset + 1 >= len(message):
                raise MalformedQuery("compression loop")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            continue
        labels.append(message[offset + 1 : offset + 1 + length].decode("ascii", errors="replace"))
        offset += 1 + length
    else:
        raise MalformedQuery("name has too many labels")
    return ".".join(labels).lower(), end if end is not None else offset


def parse_query(message: bytes) -> Query:
    if len(message) < 12:
        raise MalformedQuery("shorter than a DNS header")
    ident, flags, qdcount = struct.unpack("!HHH", message[:6])
    if qdcount != 1:
        raise MalformedQuery(f"{qdcount} questions")
    name, offset = _decode_name(message, 12)
    if offset + 4 > len(message):
        raise MalformedQuery("question truncated")
    qtype, qclass = struct.unpack("!HH", message[offset : offset + 4])
    return Query(ident, flags, Question(name, qtype, qclass), message[12 : offset + 4])


def a_rdata(ip: str) -> bytes:
    return socket.inet_aton(ip)


def srv_rdata(priority: int, weight: int, port: int, target: str) -> bytes:
    return struct.pack("!HHH", priority, weight, port) + encode_name(target)


def soa_rdata(zone: str, ttl: int) -> bytes:
    return (
        encode_name(f"ns.dns.{zone}")
        + encode_name(f"hostmaster.{zone}")
        + struct.pack("!IIIII", 1, 7200, 1800, 86400, ttl)
    )


def _encode_record(record: Record) -> bytes:
    return (
        encode_name(record.name)
        + struct.pack("!HHIH", record.rtype, CLASS_IN, record.ttl, len(record.rdata))
        + record.rdata
    )


def build_response(
    query: Query,
    rcode: int,
    answers: list[Record],
    authority: list[Record],
    authoritative: bool,
    max_size: int | None = None,
) -> bytes:
    """Answer `query`; over UDP (max_size set) an answer that does not fit is sent truncated (TC)."""
    opcode_and_rd = query.flags & 0x7900  # opcode and RD from the query
    flags = 0x8000 | opcode_and_rd | 0x0080 | (0x0400 if authoritative else 0) | rcode
    body = b"".join(_encode_record(record) for record in answers + authority)
    message = (
        struct.pack("!HHHHHH", query.ident, flags, 1, len(answers), len(authority), 0) + query.question_bytes + body
    )
    if max_size is not None and len(message) > max_size:
        flags |= 0x0200
        return struct.pack("!HHHHHH", query.ident, flags, 1, 0, 0, 0) + query.question_bytes
    return message


def error_response(message: bytes, rcode: int) -> bytes | None:
    if len(message) < 12:
        return None
    ident, flags = struct.unpack("!HH", message[:4])
    return struct.pack("!HHHHHH", ident, 0x8000 | (flags & 0x7900) | rcode, 0, 0, 0, 0)


def query_a(server: str, name: str, port: int = 53, timeout: float = 2.0) -> list[str]:
    """Ask `server` for A records of `name` over UDP; returns the addresses (empty for NXDOMAIN/NODATA)."""
    ident = random.randrange(1 << 16)
    request = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + encode_name(name)
    request += struct.pack("!HH", TYPE_A, CLASS_IN)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request, (server, port))
        reply, _ = sock.recvfrom(4096)
    got_ident, _flags, _qd, ancount = struct.unpack("!HHHH", reply[:8])
    if got_ident != ident:
        raise MalformedQuery("reply to another query")
    _, offset = _decode_name(reply, 12)
    offset += 4
    addresses = []
    for _ in range(ancount):
        _, offset = _decode_name(reply, offset)
        rtype, _rclass, _ttl, length = struct.unpack("!HHIH", reply[offset : offset + 10])
        offset += 10
        if rtype == TYPE_A:
            addresses.append(socket.inet_ntoa(reply[offset : offset + length]))
        offset += length
    return addresses
