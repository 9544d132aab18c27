"""Rules of the SUT config that one field's type cannot say: host and URL formats, port clashes,
cross-field errors that name their own key, and how the file is read (UTF-8, a regular file,
size-limited).
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

MAX_CONFIG_BYTES = 1 << 20  # a config file is a few KB; /dev/zero must not fill memory
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")  # "_": compose service names
_WILDCARD = {"0.0.0.0", "::", ""}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_HTTP_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)

# (key, host, port) of a process that listens or a dependency it calls.
Place = tuple[str, str, int]


class ConfigReadError(Exception):
    """The file cannot be read as a config: the message says why (no traceback)."""


def cross_field(key: str, message: str) -> PydanticCustomError:
    """An error of a whole-section check located at `key` inside the section (for file:line)."""
    return PydanticCustomError("sut_config", message, {"key": key})


def check_host(host: str) -> str:
    """An IP address or an RFC 1123 host name; a dotted all-numeric name must be a real IPv4."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    numeric = all(label.isdigit() for label in labels)
    if numeric or len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"an IP address or host name, got {host!r}")
    return host


def check_http_url(url: str) -> str:
    """An http(s) URL with a valid host; kept as written (pydantic would add a trailing /)."""
    try:
        _HTTP_URL.validate_python(url)
        check_host(urlsplit(url).hostname or "")
    except (ValidationError, ValueError):
        raise ValueError(f"an http(s)://host:port URL, got {url!r}") from None
    return url


def _overlap(a: str, b: str, either_wildcard: bool) -> bool:
    a, b = ("127.0.0.1" if h == "localhost" else h for h in (a, b))
    if a == b:
        return True
    if either_wildcard:
        return a in _WILDCARD or b in _WILDCARD
    return (a in _WILDCARD and b in _LOOPBACK) or (b in _WILDCARD and a in _LOOPBACK)


def _url_place(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def listen_clashes(
    listeners: list[Place],
    dependencies: list[Place],
    callers: list[tuple[str, str, list[Place]]],
) -> tuple[str, str] | None:
    """(key, message) of the first clash: two processes on one port, a dependency at a SUT
    process's own address, or a caller's URL at a listener it must not reach; else None."""
    for index, (key, host, port) in enumerate(listeners):
        for other, other_host, other_port in listeners[:index]:
            if port == other_port and _overlap(host, other_host, either_wildcard=True):
                return key, f"expected a port no other SUT process listens on, got {port} ({other})"
    for key, host, port in dependencies:
        for other, other_host, other_port in listeners:
            if port == other_port and _overlap(host, other_host, either_wildcard=False):
                return key, f"expected the dependency's address, got {host}:{port} ({other})"
    for key, url, forbidden in callers:
        host, port = _url_place(url)
        for other, other_host, other_port in forbidden:
            if port == other_port and _overlap(host, other_host, either_wildcard=False):
                return key, f"expected an address other than {other}, got {url!r}"
    return None


def read_config_text(path: Path, limit: int = MAX_CONFIG_BYTES) -> str:
    """The file's text: a regular file, at most `limit` bytes, UTF-8 (else the byte offset)."""
    try:  # O_NONBLOCK: opening a FIFO with no writer must not hang
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ConfigReadError(f"{path}: config file not found") from None
    except OSError as error:
        raise ConfigReadError(f"{path}: cannot read config file ({error.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigReadError(f"{path}: not a regular file (a FIFO, device or directory)")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ConfigReadError(f"{path}: larger than {limit} bytes; not a config file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigReadError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset"
            f" {error.start}); save the file as UTF-8"
        ) from None
