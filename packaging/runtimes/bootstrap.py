# fnd in-container bootstrap for the `python3` and `shell` runtimes.
#
# Contract (see DESIGN.md, "Function contract"):
#   /usr/bin/python3 -B -s /fnd/runtime/bootstrap.py MODE      MODE = python3 | shell
#   /usr/bin/python3 -B -s /fnd/runtime/bootstrap.py --stem MODE   a stem cell (docs/stem-cell-protocol.md)
#   cwd and code dir: $FN_CODE_DIR (default /function, read-only)
#   env: PORT (default 8080), FN_HANDLER, FN_NAME, FN_REVISION, plus the user's env.
#
# Startup: load the handler first, then listen on $PORT. The daemon treats "accepts on
# $PORT" as ready, so a function that cannot load must never accept: it prints
# "fnd bootstrap: cannot load handler ..." plus the traceback and exits with status 1.
#
# Serving: HTTP/1.1 with keep-alive on raw sockets, one thread per connection. Request
# bodies by Content-Length or chunked; request head limited to 64 KiB (431); every
# response carries Content-Length (204/304 carry no body). SIGTERM exits with status 0.
#
#   python3: FN_HANDLER = "module.function" (module may be dotted). fn(req) is called with
#            req.method, req.path, req.query (dict, last value wins), req.query_list,
#            req.headers (lowercase keys), req.body (bytes); possibly from several threads
#            at once. Return str -> text/plain, bytes -> octet-stream, dict/list -> JSON,
#            None -> 204, or (status, body[, headers]). An exception -> 500
#            "function raised ExcType: message", traceback on stderr.
#   shell:   FN_HANDLER is run per request as /bin/sh -c HANDLER, body on stdin, env plus
#            REQUEST_METHOD, REQUEST_PATH, QUERY_STRING, HTTP_<NAME>. Exit 0 -> 200 with
#            stdout; otherwise 500 "command exited with status N: <stderr tail>".
#
# Cold-start time matters, so this file imports only modules that are built in or already
# loaded by the interpreter: _socket and _thread instead of socket and threading (which pull
# in enum, selectors, ... and cost ~6 ms). json, traceback and asyncio load lazily.

import _signal
import _socket
import _thread
import os
import sys
import time

MAX_HEAD_BYTES = 64 * 1024      # request line + headers
MAX_CHUNK_LINE = 4096           # a chunk-size line, or one trailer line
RECV_SIZE = 65536
STDERR_TAIL_BYTES = 2048
LISTEN_BACKLOG = 128

REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 410: "Gone", 413: "Content Too Large",
    415: "Unsupported Media Type", 417: "Expectation Failed", 422: "Unprocessable Content",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}

# RFC 9110 token characters, for method and header names.
TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789"
                        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")

# We compute framing ourselves; a handler must not be able to contradict it.
FRAMING_HEADERS = frozenset(("content-length", "transfer-encoding", "connection", "keep-alive"))


# ---------------------------------------------------------------------------- logging

_log_lock = _thread.allocate_lock()


def log(text):
    """Write whole lines to stderr; the lock keeps concurrent messages from interleaving."""
    if not text.endswith("\n"):
        text += "\n"
    with _log_lock:
        sys.stderr.write(text)
        sys.stderr.flush()


def log_bytes(data):
    """Forward raw bytes (a child's stderr) to our stderr without re-decoding them."""
    with _log_lock:
        sys.stderr.flush()
        sys.stderr.buffer.write(data)
        sys.stderr.buffer.flush()


def format_traceback(exc):
    import traceback  # only needed when something went wrong
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def describe(exc):
    """'ExcType: message', or just 'ExcType' when the message is empty."""
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def setup_stdio():
    """Line-buffer stdout/stderr so the daemon's log capture sees each line promptly."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)


# ---------------------------------------------------------------------------- requests

class Request:
    """What a python3 handler receives."""
    __slots__ = ("method", "path", "query", "query_list", "headers", "body", "query_string")

    def __init__(self, method, path, query_string, headers, body):
        self.method = method
        self.path = path
        self.query_string = query_string
        self.query_list = parse_query(query_string)
        self.query = dict(self.query_list)
        self.headers = headers
        self.body = body

    def __repr__(self):
        return f"<Request {self.method} {self.path} query={self.query!r} body={len(self.body)}B>"


class HttpError(Exception):
    """A malformed request: answered with `status` and the connection is closed."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class SocketReader:
    """Buffered reads from a socket (we avoid socket.makefile to skip importing `socket`)."""
    __slots__ = ("sock", "buf")

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        chunk = self.sock.recv(RECV_SIZE)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def readline(self, limit):
        """Return one line including its LF. Raise LineTooLong if none ends within `limit`."""
        scanned = 0
        while True:
            end = self.buf.find(b"\n", scanned, limit)
            if end >= 0:
                line = bytes(self.buf[:end + 1])
                del self.buf[:end + 1]
                return line
            if len(self.buf) >= limit:
                raise LineTooLong
            scanned = len(self.buf)
            self._fill()

    def read(self, size):
        while len(self.buf) < size:
            self._fill()
        data = bytes(self.buf[:size])
        del self.buf[:size]
        return data


class LineTooLong(Exception):
    pass


def read_head(reader):
    """Read the request line and headers. Returns (method, target, version, headers)."""
    budget = MAX_HEAD_BYTES
    try:
        line = reader.readline(budget)
        while line in (b"\r\n", b"\n"):  # RFC 9112 2.2: ignore empty lines before a request
            line = reader.readline(budget)
        budget -= len(line)
        method, target, version = parse_request_line(line)
        fields = []
        while True:
            line = reader.readline(budget)
            budget -= len(line)
            if line in (b"\r\n", b"\n"):
                break
            fields.append(parse_header_line(line))
    except LineTooLong:
        raise HttpError(431, "request head larger than 64 KiB") from None
    return method, target, version, merge_headers(fields)


def parse_request_line(line):
    parts = line.rstrip(b"\r\n").decode("latin-1").split(" ")
    if len(parts) != 3 or not is_token(parts[0]) or not parts[1]:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        if version.startswith("HTTP/"):
            raise HttpError(505, f"unsupported version {version}")
        raise HttpError(400, "malformed request line")
    return method, target, version


def parse_header_line(line):
    text = line.rstrip(b"\r\n").decode("latin-1")
    name, colon, value = text.partition(":")
    # No whitespace before the colon, no obs-fold: both are request-smuggling vectors.
    if not colon or not is_token(name):
        raise HttpError(400, "malformed header line")
    value = value.strip(" \t")
    if "\r" in value or "\n" in value or "\0" in value:
        raise HttpError(400, "invalid character in header value")
    return name.lower(), value


def merge_headers(fields):
    """Lowercase-keyed dict; repeated fields are joined with ", " (RFC 9110 5.3)."""
    headers = {}
    for name, value in fields:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def is_token(text):
    return bool(text) and all(c in TOKEN_CHARS for c in text)


def split_target(target):
    """Return (path, query_string). Absolute-form targets are reduced to their path."""
    if target.startswith(("http://", "https://")):
        slash = target.find("/", target.find("//") + 2)
        target = target[slash:] if slash >= 0 else "/"
    path, _, query = target.partition("?")
    return path, query


def parse_query(query_string):
    """[(name, value), ...] decoded as application/x-www-form-urlencoded, UTF-8."""
    pairs = []
    for part in query_string.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((percent_decode(name), percent_decode(value)))
    return pairs


def percent_decode(text):
    """Decode %XX escapes and '+' (hand-rolled: urllib.parse costs ~8 ms to import)."""
    raw = text.encode("latin-1")  # undoes our latin-1 decode of the request line
    if b"%" not in raw and b"+" not in raw and text.isascii():
        return text
    pieces = raw.replace(b"+", b" ").split(b"%")
    out = bytearray(pieces[0])
    for piece in pieces[1:]:
        if len(piece) >= 2 and piece[0] in HEX_DIGITS and piece[1] in HEX_DIGITS:
            out.append(int(piece[:2], 16))
            out += piece[2:]
        else:
            out += b"%" + piece  # a stray '%' is kept literally, as urllib does
    return out.decode("utf-8", "replace")


def wants_keep_alive(version, headers):
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


def body_framing(headers):
    """Return ("chunked", None), ("length", n) or ("none", 0) for the request body."""
    encoding = headers.get("transfer-encoding")
    if encoding is not None:
        if encoding.strip().lower() != "chunked":
            raise HttpError(501, f"unsupported transfer-encoding {encoding!r}")
        return "chunked", None
    length = headers.get("content-length")
    if length is None:
        return "none", 0
    values = {v.strip() for v in length.split(",")}  # repeated identical values are allowed
    if len(values) != 1:
        raise HttpError(400, "conflicting content-length")
    value = values.pop()
    if not (value.isascii() and value.isdigit()):
        raise HttpError(400, "invalid content-length")
    return "length", int(value)


def read_chunked(reader):
    body = bytearray()
    try:
        while True:
            line = reader.readline(MAX_CHUNK_LINE)
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or any(b not in HEX_DIGITS for b in size_text):
                raise HttpError(400, "malformed chunk size")
            size = int(size_text, 16)
            if size == 0:
                break
            body += reader.read(size)
            if reader.readline(MAX_CHUNK_LINE) not in (b"\r\n", b"\n"):
                raise HttpError(400, "malformed chunk terminator")
        skip_trailers(reader)
    except LineTooLong:
        raise HttpError(400, "chunk line too long") from None
    return bytes(body)


def skip_trailers(reader):
    budget = MAX_HEAD_BYTES
    while True:
        line = reader.readline(min(budget, MAX_CHUNK_LINE))
        budget -= len(line)
        if line in (b"\r\n", b"\n"):
            return


# ---------------------------------------------------------------------------- responses

def build_response(status, headers, body, keep_alive, head_only):
    """Serialize a response. `headers` is a list of (name, value) str pairs."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, '')}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if status in (204, 304):
        body = b""  # these must carry neither a body nor Content-Length (RFC 9110 8.6)
    else:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body


def text_response(status, message):
    return status, [("Content-Type", "text/plain; charset=utf-8")], message.encode("utf-8")


def encode_body(value):
    """Map a handler's body value to (content_type, bytes)."""
    if isinstance(value, str):
        return "text/plain; charset=utf-8", value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "application/octet-stream", bytes(value)
    if isinstance(value, (dict, list)):
        import json  # ~2 ms, paid only by functions that return JSON
        return "application/json", json.dumps(value).encode("utf-8")
    raise TypeError(f"unsupported body type {type(value).__name__} "
                    "(expected str, bytes, dict, list or None)")


def response_from_result(result):
    """Map a python3 handler's return value to (status, headers, body)."""
    if result is None:
        return 204, [], b""
    if isinstance(result, tuple):
        return response_from_tuple(result)
    content_type, body = encode_body(result)
    return 200, [("Content-Type", content_type)], body


def response_from_tuple(result):
    if len(result) not in (2, 3):
        raise TypeError("a tuple result must be (status, body) or (status, body, headers)")
    status, value = result[0], result[1]
    if type(status) is not int or not 200 <= status <= 599:
        raise TypeError(f"status must be an int in 200..599, not {status!r}")
    headers = normalize_headers(result[2]) if len(result) == 3 and result[2] else []
    if value is None:
        return status, headers, b""
    content_type, body = encode_body(value)
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.insert(0, ("Content-Type", content_type))
    return status, headers, body


def normalize_headers(headers):
    """Accept a dict or (name, value) pairs (pairs allow repeated Set-Cookie)."""
    items = headers.items() if isinstance(headers, dict) else headers
    result = []
    for name, value in items:
        name, value = str(name), str(value)
        if not is_token(name):
            raise ValueError(f"invalid header name {name!r}")
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"invalid character in value of header {name!r}")
        value.encode("latin-1")  # raises early rather than while sending
        if name.lower() not in FRAMING_HEADERS:
            result.append((name, value))
    return result


# ---------------------------------------------------------------------------- connections

def serve_connection(conn, invoke):
    """Serve requests on one connection until either side closes it."""
    reader = SocketReader(conn)
    try:
        while serve_one_request(conn, reader, invoke):
            pass
    except (EOFError, OSError):
        pass  # the client went away; nothing to answer
    except Exception as exc:
        log(f"fnd bootstrap: internal error: {describe(exc)}\n{format_traceback(exc)}")
    finally:
        conn.close()


def serve_one_request(conn, reader, invoke):
    """Read one request, answer it. Returns whether the connection stays open."""
    head_only = False
    try:
        method, target, version, headers = read_head(reader)
        head_only = method == "HEAD"
        keep_alive = wants_keep_alive(version, headers)
        framing, length = body_framing(headers)
        if framing == "chunked" and "content-length" in headers:
            keep_alive = False  # ambiguous framing: never reuse the connection (RFC 9112 6.3)
        if framing != "none" and version == "HTTP/1.1" and \
                headers.get("expect", "").lower() == "100-continue":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits 1 s for this otherwise
        body = read_chunked(reader) if framing == "chunked" else reader.read(length)
    except HttpError as err:
        status, error_headers, error_body = text_response(err.status, f"{err}\n")
        conn.sendall(build_response(status, error_headers, error_body, False, head_only))
        return False
    path, query_string = split_target(target)
    status, response_headers, response_body = safe_invoke(
        invoke, Request(method, path, query_string, headers, body))
    conn.sendall(build_response(status, response_headers, response_body, keep_alive, head_only))
    return keep_alive


def safe_invoke(invoke, request):
    """Run the handler; a failure of our own (e.g. fork fails with EAGAIN) becomes a 500."""
    try:
        return invoke(request)
    except Exception as exc:
        log(f"fnd bootstrap: cannot run handler: {describe(exc)}\n{format_traceback(exc)}")
        return text_response(500, f"cannot run handler: {describe(exc)}")


def listen(port):
    # 0.0.0.0: the container's network namespace has only loopback, so this exposes nothing.
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    sock.listen(LISTEN_BACKLOG)
    return sock


def serve_forever(listener, invoke):
    while True:
        try:
            fd, _ = listener._accept()  # close-on-exec, so shell children do not inherit it
        except OSError as exc:
            log(f"fnd bootstrap: accept failed: {describe(exc)}")
            time.sleep(0.05)  # e.g. EMFILE: back off instead of spinning
            continue
        conn = _socket.socket(fileno=fd)
        conn.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        try:
            _thread.start_new_thread(serve_connection, (conn, invoke))
        except RuntimeError as exc:  # "can't start new thread": pids limit reached
            log(f"fnd bootstrap: dropping connection: {describe(exc)}")
            conn.close()


# ---------------------------------------------------------------------------- python3 mode

def load_python_handler(spec, code_dir):
    """Import `module.function` from the code dir and return its invoke callable."""
    module_name, dot, function_name = spec.rpartition(".")
    if not dot or not module_name or not function_name:
        raise LoadError("FN_HANDLER must be 'module.function'")
    # Replace the bootstrap's own directory (sys.path[0] when run as a script) so that
    # function code cannot accidentally import runtime files.
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        sys.path[0] = code_dir
    else:
        sys.path.insert(0, code_dir)
    __import__(module_name)
    module = sys.modules[module_name]
    fn = getattr(module, function_name)
    if not callable(fn):
        raise TypeError(f"{spec} is not callable (it is a {type(fn).__name__})")
    return lambda request: call_python_handler(fn, request)


def call_python_handler(fn, request):
    try:
        result = fn(request)
        if hasattr(result, "__await__"):  # an `async def` handler
            result = run_coroutine(result)
    except BaseException as exc:  # SystemExit too: it must not kill the connection thread
        log(f"fnd bootstrap: function raised {describe(exc)}\n{format_traceback(exc)}")
        return text_response(500, f"function raised {describe(exc)}")
    try:
        return response_from_result(result)
    except (TypeError, ValueError) as exc:
        log(f"fnd bootstrap: function returned an invalid value: {describe(exc)}")
        return text_response(500, f"function returned an invalid value: {describe(exc)}")


def run_coroutine(coroutine):
    import asyncio  # heavy (~20 ms); only async handlers pay for it
    return asyncio.run(coroutine)


# ---------------------------------------------------------------------------- shell mode

def load_shell_handler(command, code_dir):
    if not command.strip():
        raise LoadError("FN_HANDLER must be a shell command")
    if not os.access("/bin/sh", os.X_OK):
        raise LoadError("/bin/sh is not executable")
    import subprocess  # imported at load so the first request does not pay for it
    return lambda request: run_shell_handler(subprocess, command, code_dir, request)


def run_shell_handler(subprocess, command, code_dir, request):
    proc = subprocess.run(["/bin/sh", "-c", command], input=request.body, cwd=code_dir,
                          env=shell_env(request), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    if proc.stderr:
        log_bytes(proc.stderr)  # so the daemon's log capture records it
    if proc.returncode == 0:
        return 200, [("Content-Type", "text/plain; charset=utf-8")], proc.stdout
    tail = proc.stderr[-STDERR_TAIL_BYTES:].decode("utf-8", "replace")
    if proc.returncode < 0:
        return text_response(500, f"command killed by signal {-proc.returncode}: {tail}")
    return text_response(500, f"command exited with status {proc.returncode}: {tail}")


def shell_env(request):
    """CGI-style environment for one request."""
    env = dict(os.environ)
    env["REQUEST_METHOD"] = request.method
    env["REQUEST_PATH"] = request.path
    env["QUERY_STRING"] = request.query_string
    for name, value in request.headers.items():
        if name == "proxy":
            continue  # "httpoxy": HTTP_PROXY would redirect the command's outgoing HTTP
        env["HTTP_" + "".join(c if c.isalnum() else "_" for c in name.upper())] = value
    return env


# ---------------------------------------------------------------------------- main

class LoadError(Exception):
    """A configuration problem: reported without a traceback."""


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM; BaseException so handler loading can't eat it."""


def on_sigterm(signum, frame):
    raise Terminated


def load_handler(mode, spec, code_dir):
    """Returns invoke(request) -> (status, headers, body), or None after reporting why not."""
    try:
        os.chdir(code_dir)
        if mode == "python3":
            return load_python_handler(spec, code_dir)
        return load_shell_handler(spec, code_dir)
    except Terminated:
        raise
    except LoadError as exc:
        log(f"fnd bootstrap: cannot load handler {spec!r}: {exc}")
    except BaseException as exc:  # SystemExit at import time is a load failure too
        log(f"fnd bootstrap: cannot load handler {spec!r}: {describe(exc)}\n"
            f"{format_traceback(exc)}")
    return None


def parse_port():
    text = os.environ.get("PORT", "8080")
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 65536):
        raise ValueError(f"invalid PORT {text!r}")
    return int(text)


def serve(mode, spec, code_dir, on_listening=None):
    """Load the handler, listen on $PORT, serve until SIGTERM. Returns the exit status."""
    try:
        port = parse_port()
    except ValueError as exc:
        log(f"fnd bootstrap: {exc}")
        return 1
    invoke = load_handler(mode, spec, code_dir)
    if invoke is None:
        return 1
    try:
        listener = listen(port)
    except OSError as exc:
        log(f"fnd bootstrap: cannot listen on port {port}: {describe(exc)}")
        return 1
    if on_listening is not None:
        on_listening()
    serve_forever(listener, invoke)


def main(argv):
    setup_stdio()
    if len(argv) == 3 and argv[1] == "--stem" and argv[2] in ("python3", "shell"):
        return stem_main(argv[2])
    if len(argv) != 2 or argv[1] not in ("python3", "shell"):
        log("usage: bootstrap.py [--stem] python3|shell")
        return 2
    _signal.signal(_signal.SIGTERM, on_sigterm)
    try:
        return serve(argv[1], os.environ.get("FN_HANDLER", ""), os.environ.get("FN_CODE_DIR", "/function"))
    except Terminated:
        return 0


# ---------------------------------------------------------------------------- stem cells

CONTROL_FD = 3
MAX_CONTROL_MESSAGE = 1 << 20


def stem_main(mode):
    """A stem cell: the interpreter is up before any function exists.

    fd 3 is the daemon's control socket (AF_UNIX, SOCK_SEQPACKET: one message per send).
    We say b"ready"; one message then gives us a function, {"handler": str, "env": {str: str}},
    whose code the daemon has mounted at /function by then. We answer b"ok" once listening on
    $PORT, or report why the handler cannot load and exit 1 (the daemon reads our stderr).
    A cell serves that one function until it is stopped; it never gets another.
    """
    import json  # paid here, before any request, instead of at specialization
    if mode == "shell":
        import subprocess  # noqa: F401 (load_shell_handler imports it; now it is cached)
    else:
        # The process's first compile() costs ~1 ms (the compiler warms up); the handler's
        # module is compiled from source (-B, read-only /function), so pay that now.
        compile("def handle(req):\n    return 'ok'\n", "<stem warm-up>", "exec")
    control = _socket.socket(fileno=CONTROL_FD)
    os.set_inheritable(CONTROL_FD, False)  # a shell handler's commands have no business with it
    _signal.signal(_signal.SIGTERM, on_sigterm)
    try:
        control.send(b"ready")
        message = control.recv(MAX_CONTROL_MESSAGE)
        if not message:
            return 0  # the daemon stopped before giving us a function
        order = json.loads(message)
        os.environ.update(order["env"])
        return serve(mode, order["handler"], os.environ.get("FN_CODE_DIR", "/function"),
                     on_listening=lambda: control.send(b"ok"))
    except Terminated:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
