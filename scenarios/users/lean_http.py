"""The lean keep-alive HTTP client of the load worker's users: Locust's `self.client` API
(`get`, `post(json=...)`, `request(...)`, `catch_response` with `success()`/`failure()`), one
kept-alive socket per user, the request head prebuilt, the answer parsed by geventhttpclient's
C parser (llhttp), and one `events.request` fire per request with what Locust's FastHttpSession
fires (name, start_time, response_time from the send, exception, context, response), so the
worker's hook records the same latency from the intended send and the same outcome kinds.

What it leaves out, per request, against FastHttpSession: the safe-mode wrapping (a
user agent, a compat request/response and an error response object), the cookie jar, URL
parsing and re-quoting (a path is sent as written; only non-ASCII or spaces are quoted), header
dict building, charset detection and retries beyond one resend on a stale kept-alive socket.

It does NOT do, so a request that asks for it goes through Locust's FastHttpSession, unchanged
(`LeanSession.locust`): an absolute URL, `params`, `files`, `auth`, `stream`, `allow_redirects`,
or any other keyword. It keeps no cookies: a class whose log-in sets a cookie keeps Locust's
client (`TicketedUser.lean_client = False`, the default for a user's own class).

It follows redirects as FastHttpSession does (geventhttpclient's UserAgent): a 301/302/303/307/
308 with a Location, up to `max_redirects` (30, FastHttpUser's) hops, past that a
`RetriesExceeded` error (status 0); 301/302/303 turn the method into GET (HEAD stays) and drop
the body, 307/308 resend method and body; each hop's status is checked (a redirect to a 500 is
the 500's error). One `events.request` fire for the chain: the time over it, the last answer.
A hop to the same origin goes on the kept-alive socket; a hop elsewhere and the rest of its
chain through Locust's client (`LeanSession.locust`), hop by hop (a POST is never sent again).
"""

from __future__ import annotations

import json as jsonlib
import socket
import ssl
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import quote, urlsplit

import gevent.socket
import gevent.ssl
from gevent.monkey import get_original
from geventhttpclient._parser import HTTPParseError, HTTPResponseParser
from geventhttpclient.header import Headers
from geventhttpclient.response import HTTPConnectionClosed
from geventhttpclient.url import URL
from geventhttpclient.useragent import RetriesExceeded, UnsupportedRedirectSchemeError
from locust.contrib.fasthttp import FAILURE_EXCEPTIONS, FastHttpSession, LocustBadStatusCode
from locust.exception import CatchResponseError, LocustError, ResponseError

_poll = get_original("select", "poll")
_IDLE_SIGNS = 0x001 | 0x008 | 0x010  # POLLIN | POLLERR | POLLHUP: closed or dirty when idle
# Locust's valid statuses (LocustUserAgent.valid_response_codes): any other is an error
VALID = frozenset({200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 301, 302, 303, 304, 307, 308})
REDIRECTS = frozenset({301, 302, 303, 307, 308})  # LocustUserAgent.redirect_response_codes
_BODY_HEADERS = frozenset({"content-length", "content-type", "content-encoding"})
_COOKIE_HEADERS = frozenset({"cookie", "cookie2"})  # dropped on each redirect, as in Locust's
LEAN_KWARGS = frozenset({"name", "data", "catch_response", "headers", "json", "context"})
_SAFE = "/?&=%:@!$'()*+,;[]~#"
_STALE = (HTTPConnectionClosed, ConnectionResetError, BrokenPipeError)
RECV_BYTES = 65536


class Answer(HTTPResponseParser):
    """One response as the C parser reads it: status, raw header pairs, body chunks."""

    def __init__(self, head: bool) -> None:
        super().__init__()
        self.head = head
        self.pairs: list[list[str]] = []
        self.in_value = False
        self.chunks: list[bytes] = []
        self.done = False
        self.dirty = False  # bytes after the answer: the socket is not reusable

    def _on_message_begin(self) -> None:
        if self.done:
            if self.get_code() >= 200:
                self.dirty = True
            self.done = False  # an interim 1xx: the final answer follows
        self.pairs, self.in_value, self.chunks = [], False, []

    def _on_status(self, _reason: str) -> None:
        pass

    def _on_header_field(self, text: str) -> None:
        if self.in_value or not self.pairs:
            self.pairs.append([text, ""])
            self.in_value = False
        else:  # a field split across two reads
            self.pairs[-1][0] += text

    def _on_header_value(self, text: str) -> None:
        self.pairs[-1][1] += text
        self.in_value = True

    def _on_headers_complete(self) -> bool:
        return self.head  # True: no body follows (HEAD)

    def _on_body(self, chunk: bytearray) -> None:
        self.chunks.append(bytes(chunk))

    def _on_message_complete(self) -> None:
        self.done = True


class LeanResponse:
    """What a task and the worker's hook read of an answer: `status_code` (0: no answer),
    `content`, `text`, `json()`, `headers`, `error`; a context manager with `success()` and
    `failure()` under `catch_response=True`, like Locust's ResponseContextManager."""

    encoding: str | None = None

    def __init__(
        self, url: str, status: int, pairs: list[list[str]], body: bytes | None, error: Any
    ) -> None:
        self.url = url
        self.status_code = status
        self._pairs = pairs
        self._body = body
        self._content: bytes | None = None
        self._headers: Headers | None = None
        self._text: str | None = None
        self.error = error
        self.cut = error is not None and not isinstance(
            error, LocustBadStatusCode
        )  # no whole answer
        self._meta: dict[str, Any] | None = None  # set while a catch_response block holds it
        self._fire: Any = None
        self._manual: bool | Exception | None = None
        self._entered = False

    @property
    def headers(self) -> Headers | None:
        if self._headers is None and self.status_code:
            self._headers = Headers()
            for field, value in self._pairs:
                self._headers.add(field, value)
        return self._headers

    def _header(self, lowered: str) -> str | None:
        for field, value in self._pairs:
            if field.lower() == lowered:
                return value
        return None

    @property
    def content(self) -> bytes | None:
        if self._content is None and self._body is not None:
            coding = (self._header("content-encoding") or "").strip().lower()
            if coding in ("gzip", "deflate") and self._body:
                window = 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS
                self._content = zlib.decompress(self._body, window)
            else:
                self._content = self._body
        return self._content

    @property
    def text(self) -> str | None:
        if self._text is None and self.content is not None:
            self._text = self.content.decode(self.encoding or self._charset(), errors="replace")
        return self._text

    def _charset(self) -> str:
        kind = self._header("content-type") or ""
        for part in kind.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("'\"")
        return "utf-8"

    def json(self) -> Any:
        return jsonlib.loads(self.text or "")

    @property
    def ok(self) -> bool:
        return self.status_code < 400  # as Locust's (also for no answer, status 0)

    def raise_for_status(self) -> None:
        if isinstance(self._manual, Exception):
            raise self._manual
        if self._manual is None and self.error is not None:
            raise self.error

    # catch_response, as Locust's ResponseContextManager
    def __enter__(self) -> LeanResponse:
        if self._meta is None:
            raise LocustError("a with-block needs catch_response=True")
        self._entered = True
        return self

    def __exit__(self, kind: Any, value: Any, _tb: Any) -> bool:
        meta = self._meta
        assert meta is not None
        if self._manual is not None:
            meta["exception"] = None if self._manual is True else self._manual
        elif kind is not None:
            if not isinstance(value, ResponseError):
                return False  # the block's own error: not reported, as in Locust
            meta["exception"] = value
        else:
            meta["exception"] = self.error
        self._meta = None
        self._fire(**meta)
        return kind is None or self._manual is None

    def success(self) -> None:
        if not self._entered:
            raise LocustError("success() needs a with-block and catch_response=True")
        self._manual = True

    def failure(self, exc: Any) -> None:
        if not self._entered:
            raise LocustError("failure() needs a with-block and catch_response=True")
        self._manual = exc if isinstance(exc, Exception) else CatchResponseError(exc)


class LeanSession:
    """One user's client: a kept-alive connection to the base URL's host, opened on first use
    and again when the server closed it. `network_timeout` bounds each socket wait (as
    FastHttpUser's does), `connection_timeout` the connect."""

    def __init__(
        self,
        base_url: str,
        request_event: Any,
        user: Any,
        *,
        network_timeout: float = 60.0,
        connection_timeout: float = 60.0,
        default_headers: dict[str, str] | None = None,
        locust: Any = None,
        max_redirects: int = 30,
    ) -> None:
        split = urlsplit(base_url)
        if split.scheme not in ("http", "https") or not split.hostname or split.username:
            raise ValueError(
                f"the lean client takes http(s)://host[:port][/prefix], got {base_url}"
            )
        self.base_url = base_url
        self.request_event = request_event
        self.user = user
        self.network_timeout = network_timeout
        self.connection_timeout = connection_timeout
        self.max_redirects = max_redirects
        self._tls = split.scheme == "https"
        self._address = (split.hostname, split.port or (443 if self._tls else 80))
        self._prefix = split.path
        self._origin = f"{split.scheme}://{split.netloc}"
        fixed = {
            "Host": split.netloc,
            "User-Agent": "chaosgate",
            "Accept-Encoding": "gzip, deflate",
        }
        self._fixed = {
            k.lower(): f"{k}: {v}\r\n" for k, v in {**fixed, **(default_headers or {})}.items()
        }
        self._tail = "\r\n" + "".join(self._fixed.values())
        self._heads: dict[tuple[str, str], bytes] = {}  # prebuilt heads of body-less requests
        self._sock: Any = None
        self._poller: Any = None
        self._locust = locust
        self.request_name: str | None = None
        self.connects = 0  # connections opened (tests: keep-alive reuse)

    @property
    def locust(self) -> Any:
        """Locust's own session, for what this client does not do (made on first use)."""
        if self._locust is None:
            self._locust = FastHttpSession(
                self.base_url,
                self.request_event,
                self.user,
                network_timeout=self.network_timeout,
                connection_timeout=self.connection_timeout,
                max_retries=0,
                max_redirects=self.max_redirects,
            )
        return self._locust

    @contextmanager
    def rename_request(self, name: str) -> Iterator[None]:
        self.request_name = name
        try:
            yield
        finally:
            self.request_name = None

    def request(
        self,
        method: str,
        url: str,
        name: str | None = None,
        data: str | bytes | dict[str, Any] | None = None,
        catch_response: bool = False,
        *,  # FastHttpSession.request's next positional ones are stream, headers, auth
        headers: dict[str, str] | None = None,
        json: Any = None,
        context: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        name = name or self.request_name or url
        user = self.user
        meta_context = user.context() if user is not None else {}
        if context:
            meta_context = {**meta_context, **context}
        ticket = meta_context.get("cg_ticket")
        if kwargs or not url.startswith("/") or isinstance(data, dict):
            if ticket is not None:
                ticket.request = (name, time.time())
            try:  # what only Locust's client does (see the module)
                return self.locust.request(
                    method, url, name, data, catch_response, headers=headers, json=json,
                    context=context or {}, **kwargs,
                )  # fmt: skip
            finally:
                if ticket is not None:
                    ticket.request = None
        body = self._body(data, json)
        target = self._prefix + url
        head = self._head(method, target, headers, body, json is not None and not data)
        start = time.time()
        if ticket is not None:
            ticket.request = (name, start)  # a stop records what waits on the SUT
        began = time.perf_counter()
        try:
            response = self._exchange(method, target, head + body if body else head)
            if response.status_code in REDIRECTS and response.error is None:
                response = self._follow(method, response, headers, body, json, data)
        finally:
            if ticket is not None:
                ticket.request = None
        meta = {
            "request_type": method,
            "name": name,
            "context": meta_context,
            "response": response,
            "exception": response.error,
            "start_time": start,
            "response_time": (time.perf_counter() - began) * 1000,
            "response_length": 0 if response.cut else len(response._body or b""),
            "url": self._origin + target,  # the asked URL, as Locust's
        }
        if catch_response:
            response._meta, response._fire = meta, self.request_event.fire
        else:
            self.request_event.fire(**meta)
        return response

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, data: Any = None, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url: str, data: Any = None, **kwargs: Any) -> Any:
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url: str, data: Any = None, **kwargs: Any) -> Any:
        return self.request("PATCH", url, data=data, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> Any:
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> Any:
        return self.request("OPTIONS", url, **kwargs)

    @staticmethod
    def _body(data: str | bytes | None, json: Any) -> bytes:
        if data:
            return data.encode() if isinstance(data, str) else bytes(data)
        if json is not None:
            return jsonlib.dumps(json).encode()
        return b""

    def _follow(
        self,
        method: str,
        response: LeanResponse,
        headers: dict[str, str] | None,
        body: bytes,
        json: Any,
        data: Any,
    ) -> LeanResponse:
        """The redirects after a first answer, as geventhttpclient's UserAgent.urlopen follows
        them: at most `max_redirects` hops, each answer's status checked first."""
        own = dict(headers or {})
        given = {k.lower() for k in own}
        if json is not None and not data:  # what _head adds for json, carried on as headers
            if "content-type" not in given:
                own["Content-Type"] = "application/json"
            if "accept" not in given:
                own["Accept"] = "application/json"
        first = response.url
        for hop in range(1, self.max_redirects + 2):
            location = response._header("location")
            if response.error is not None or response.status_code not in REDIRECTS:
                return response
            if not location or self.max_redirects <= 0:
                return response  # a 3xx without a Location is the answer, as in Locust
            if hop > self.max_redirects:
                break
            url = URL(response.url).redirect(location)
            if url.scheme not in ("http", "https"):
                error = UnsupportedRedirectSchemeError(
                    response.url, f"refusing to follow redirect to {url.scheme!r} URL"
                )
                return LeanResponse(first, 0, [], None, error)
            if response.status_code in (301, 302, 303):
                method = "GET" if method != "HEAD" else method
                body = b""
                own = {k: v for k, v in own.items() if k.lower() not in _BODY_HEADERS}
            own = {k: v for k, v in own.items() if k.lower() not in _COOKIE_HEADERS}
            port = url.port or (443 if url.scheme == "https" else 80)
            if (url.scheme, url.host, port) != (
                "https" if self._tls else "http",
                self._address[0],
                self._address[1],
            ):
                own = {k: v for k, v in own.items() if k.lower() != "authorization"}
                return self._elsewhere(url, method, own, body, self.max_redirects - hop, first)
            head = self._head(method, url.quoted_uri, own, body, False)
            response = self._exchange(method, url.quoted_uri, head + body if body else head)
        limit = RetriesExceeded(first, f"Redirection limit reached ({self.max_redirects})")
        return LeanResponse(first, 0, [], None, limit)

    def _elsewhere(
        self,
        url: URL,
        method: str,
        headers: dict[str, str],
        body: bytes,
        redirects: int,
        first: str,
    ) -> LeanResponse:
        """A hop to another origin, and the rest of its chain, through Locust's own client
        (no events fired there: the request's one fire is this session's)."""
        try:
            answer = self.locust.client.urlopen(
                str(url), method=method, headers=headers, payload=body or None,
                max_redirects=redirects,
            )  # fmt: skip
            error = None
        except FAILURE_EXCEPTIONS as failed:
            answer, error = getattr(failed, "response", None), failed
        if answer is None:
            return LeanResponse(str(url), 0, [], None, error)
        if not redirects and answer.status_code in REDIRECTS and answer.headers.get("location"):
            limit = RetriesExceeded(first, f"Redirection limit reached ({self.max_redirects})")
            return LeanResponse(first, 0, [], None, limit)  # (urlopen follows none with 0)
        content = answer.content
        pairs = [[k, v] for k, v in answer.headers.items()] if answer.headers else []
        response = LeanResponse(str(answer.url or url), answer.status_code, pairs, content, error)
        response._content = content  # (already decoded by Locust's client)
        return response

    def _head(
        self, method: str, target: str, headers: dict[str, str] | None, body: bytes, is_json: bool
    ) -> bytes:
        """The request line and headers; the same request without body or headers of its own
        (a GET of a fixed path) reuses its bytes."""
        key = (method, target)
        if not body and not headers and (cached := self._heads.get(key)) is not None:
            return cached
        if not target.isascii() or " " in target:
            target = quote(target, safe=_SAFE)
        text = f"{method} {target} HTTP/1.1{self._tail}"
        given = {k.lower() for k in headers} if headers else set()
        if headers:  # a header of the request's own replaces the session's of that name
            if given & self._fixed.keys():
                kept = "".join(line for k, line in self._fixed.items() if k not in given)
                text = f"{method} {target} HTTP/1.1\r\n{kept}"
            text += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if is_json:
            if "content-type" not in given:
                text += "Content-Type: application/json\r\n"
            if "accept" not in given:
                text += "Accept: application/json\r\n"
        if body or method in ("POST", "PUT", "PATCH"):
            text += f"Content-Length: {len(body)}\r\n"
        head = (text + "\r\n").encode("latin-1")
        if not body and not headers:
            if len(self._heads) > 512:  # paths with ids: keep the cache small
                self._heads.clear()
            self._heads[key] = head
        return head

    def _exchange(self, method: str, target: str, wire: bytes) -> LeanResponse:
        """Send and read one answer. A kept-alive socket the server closed before answering is
        replaced once (nothing was read from it, so the request was not answered)."""
        url = self._origin + target
        for attempt in (0, 1):
            reused = self._alive()
            answer = Answer(method == "HEAD")
            try:
                sock = self._sock if reused else self._connect()
                sock.sendall(wire)
                self._read(sock, answer)
            except _STALE as error:
                self.close()
                if answer.pairs:
                    return self._failed(url, answer, error)
                if reused and attempt == 0:
                    continue
                # nothing answered: Locust's client names it so too
                return self._failed(url, answer, HTTPConnectionClosed("connection closed."))
            except (OSError, HTTPParseError) as error:
                self.close()
                return self._failed(url, answer, error)
            except BaseException:  # a gevent.Timeout of the task's own, a kill: an answer may
                self.close()  # still come on this socket, so it is never reused
                raise
            if answer.dirty or not answer.should_keep_alive():
                self.close()
            status = answer.get_code()
            body = b"".join(answer.chunks) if len(answer.chunks) != 1 else answer.chunks[0]
            refused = None if status in VALID else LocustBadStatusCode(url, code=status)
            return LeanResponse(url, status, answer.pairs, body, refused)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _failed(url: str, answer: Answer, error: BaseException) -> LeanResponse:
        """No whole answer. Its status, if its head was read (a body cut short: Locust's
        `http_200`), else 0; the body so far is kept for the task to read."""
        status = answer.get_code() if answer.pairs else 0
        body = b"".join(answer.chunks) if status else None
        return LeanResponse(url, status, answer.pairs if status else [], body, error)

    def _read(self, sock: Any, answer: Answer) -> None:
        while not answer.done:
            data = sock.recv(RECV_BYTES)
            if not data:
                if not answer.get_code() and not answer.pairs:
                    raise HTTPConnectionClosed("connection closed.")
                answer.feed(b"")  # EOF: the end of a body without length, or a parse error
                if not answer.done:
                    raise HTTPParseError("Incomplete response.")
                return
            answer.feed(data)
            if answer.done and answer.get_code() < 200:  # interim 1xx: the answer follows
                answer.done = False

    def _alive(self) -> bool:
        """The kept-alive socket, if any, has nothing readable while idle (a FIN, stray bytes):
        one poll() with no timeout, no hub switch."""
        if self._sock is None:
            return False
        if self._poller.poll(0):
            self.close()
            return False
        return True

    def _connect(self) -> Any:
        sock = gevent.socket.create_connection(self._address, timeout=self.connection_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls:  # like FastHttpUser's default (insecure): a load test's own target
            context = gevent.ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=self._address[0])
        sock.settimeout(self.network_timeout)
        self._sock = sock
        self._poller = _poll()
        self._poller.register(sock.fileno(), _IDLE_SIGNS)
        self.connects += 1
        return sock

    def close(self) -> None:
        if self._sock is not None:
            with suppress(OSError):
                self._sock.close()
        self._sock = self._poller = None


def lean_session_for(user: Any) -> LeanSession | None:
    """The lean client for a FastHttpUser, or None where it would change what the user asked
    for (a proxy, a shared client pool, its own TLS settings, credentials in the URL)."""
    client = getattr(user, "client", None)
    if not isinstance(client, FastHttpSession) or client.auth_header is not None:
        return None
    if user.proxy_host or user.client_pool is not None or user.ssl_context_factory is not None:
        return None
    if not user.insecure:
        return None
    try:
        return LeanSession(
            str(user.host),
            user.environment.events.request,
            user,
            network_timeout=user.network_timeout,
            connection_timeout=user.connection_timeout,
            default_headers=user.default_headers,
            locust=client,
            max_redirects=user.max_redirects,
        )
    except ValueError:
        return None
