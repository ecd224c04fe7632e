"""Real SMTP servers on 127.0.0.1 for the mail transports. Registered as a plugin in
tests/conftest.py.

- `smtp_sink`: aiosmtpd accepting everything, recording each envelope and its bytes;
  `smtp_sink_factory(tls_context=..., require_starttls=True, authenticator=...)` starts
  variants (every keyword goes to aiosmtpd's Controller).
- `faulty_smtp`: a small scripted server on asyncio streams. One-shot faults per stage
  (CONNECT, EHLO, MAIL, RCPT, DATA, END = after the final ".", RSET):
  `answer(stage, "451 4.3.0 try later")`, `drop(stage)` (close without replying),
  `delay(stage, seconds)`; `reply_delay` slows every reply. It keeps a log per connection.
- `tls_files`: a self-signed certificate for 127.0.0.1, made by the openssl command.
"""

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

STAGES = ("CONNECT", "EHLO", "MAIL", "RCPT", "DATA", "END", "RSET")


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    mail_options: list[str]
    content: bytes
    peer: tuple[str, int]  # the client's address: one per connection
    tls: bool = False
    at: float = field(default_factory=time.monotonic)


class SinkHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                mail_options=list(envelope.mail_options),
                content=envelope.original_content,
                peer=tuple(session.peer[:2]),
                tls=server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return f"250 2.0.0 Ok: queued as Q{len(self.received)}"


@dataclass
class Sink:
    host: str
    port: int
    handler: SinkHandler

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def connections(self) -> int:
        return len({message.peer for message in self.received})

    def url(self, scheme: str = "smtp", query: str = "") -> str:
        return f"{scheme}://{self.host}:{self.port}" + (f"?{query}" if query else "")


@pytest.fixture
def smtp_sink_factory() -> Iterator[Callable[..., Sink]]:
    controllers: list[Controller] = []

    def start(**controller_options) -> Sink:
        handler = SinkHandler()
        port = _free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **controller_options)
        controller.start()
        controllers.append(controller)
        return Sink("127.0.0.1", port, handler)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_sink(smtp_sink_factory) -> Sink:
    return smtp_sink_factory()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """(certificate, key): self-signed, valid for 127.0.0.1 and localhost for a day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    options = (
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
        " -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost"
    )
    command = [openssl, *options.split(), "-keyout", str(key), "-out", str(cert)]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 (fixed arguments)
    return cert, key


def server_tls_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


@dataclass
class Fault:
    reply: str | None = None  # None: the normal reply
    drop: bool = False
    delay: float = 0.0


@dataclass
class ConnectionLog:
    commands: list[str] = field(default_factory=list)  # verbs, and END for the final "."
    replies: list[int] = field(default_factory=list)
    transactions: int = 0  # messages accepted on this connection


class FaultySmtp:
    """An SMTP server whose every reply can be scripted. Plain text, no extensions but
    8BITMIME and SIZE; it keeps the MAIL / RCPT / DATA order strictly, answering 503
    (e.g. "sender already specified") like a real server when a client gets it wrong."""

    def __init__(self) -> None:
        self.host, self.port = "127.0.0.1", 0
        self.reply_delay = 0.0
        self.connections: list[ConnectionLog] = []
        self.received: list[Received] = []
        self._faults: dict[str, deque[Fault]] = {stage: deque() for stage in STAGES}

    def url(self, query: str = "") -> str:
        return f"smtp://{self.host}:{self.port}" + (f"?{query}" if query else "")

    def answer(self, stage: str, reply: str, *, times: int = 1) -> None:
        self._script(stage, Fault(reply=reply), times)

    def drop(self, stage: str, *, times: int = 1) -> None:
        self._script(stage, Fault(drop=True), times)

    def delay(self, stage: str, seconds: float, *, times: int = 1) -> None:
        self._script(stage, Fault(delay=seconds), times)

    def replies(self) -> list[int]:
        return [code for log in self.connections for code in log.replies]

    def _script(self, stage: str, fault: Fault, times: int) -> None:
        assert stage in STAGES, f"stage is one of {STAGES}"
        self._faults[stage].extend([fault] * times)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        log = ConnectionLog()
        self.connections.append(log)
        try:
            await self._session(reader, writer, log, writer.get_extra_info("peername")[:2])
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _session(self, reader, writer, log: ConnectionLog, peer) -> None:
        envelope: dict | None = None  # from, options, to: the open transaction
        if await self._reply(writer, log, "CONNECT", "220 faulty.test ESMTP") in (None, 421):
            return
        while line := await reader.readline():
            verb, _, argument = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            verb = verb.upper()
            log.commands.append(verb)
            out_of_order = _out_of_order(verb, envelope)
            if out_of_order:
                code = await self._reply(writer, log, "", out_of_order)
            else:
                code = await self._reply(writer, log, verb, NORMAL_REPLIES.get(verb, UNKNOWN))
            if code is None or code == 421 or verb == "QUIT":
                return
            if verb in ("EHLO", "HELO", "RSET"):
                envelope = None
            elif verb == "MAIL" and code == 250:
                address, *options = argument[5:].split(" ")
                envelope = {"from": address.strip("<>"), "options": options, "to": []}
            elif verb == "RCPT" and code == 250:
                envelope["to"].append(argument[3:].strip("<>"))
            elif verb == "DATA" and code == 354:
                content = await _read_data(reader)
                log.commands.append("END")
                self.received.append(
                    Received(envelope["from"], envelope["to"], envelope["options"], content, peer)
                )
                envelope = None
                code = await self._reply(
                    writer, log, "END", f"250 2.0.0 Ok: queued as F{len(self.received)}"
                )
                if code is None or code == 421:
                    return
                log.transactions += code == 250

    async def _reply(self, writer, log: ConnectionLog, stage: str, normal: str) -> int | None:
        """Send the scripted or the normal reply; its code, or None when dropped instead."""
        faults = self._faults.get(stage)
        fault = faults.popleft() if faults else Fault()
        await asyncio.sleep(self.reply_delay + fault.delay)
        if fault.drop:
            return None
        reply = fault.reply or normal
        log.replies.append(int(reply[:3]))
        writer.write(reply.encode() + b"\r\n")
        await writer.drain()
        return int(reply[:3])


NORMAL_REPLIES = {
    "EHLO": "250-faulty.test\r\n250-8BITMIME\r\n250 SIZE 10485760",
    "HELO": "250 faulty.test",
    "MAIL": "250 2.1.0 Ok",
    "RCPT": "250 2.1.5 Ok",
    "DATA": "354 End data with <CR><LF>.<CR><LF>",
    "RSET": "250 2.0.0 Ok",
    "NOOP": "250 2.0.0 Ok",
    "QUIT": "221 2.0.0 Bye",
}
UNKNOWN = "502 5.5.2 command not implemented"


def _out_of_order(verb: str, envelope: dict | None) -> str | None:
    """The 503 a strict server gives for a command out of sequence (never scripted)."""
    if verb == "MAIL" and envelope is not None:
        return "503 5.5.1 sender already specified"
    if verb == "RCPT" and envelope is None:
        return "503 5.5.1 need MAIL before RCPT"
    if verb == "DATA" and not (envelope and envelope["to"]):
        return "503 5.5.1 need RCPT before DATA"
    return None


async def _read_data(reader: asyncio.StreamReader) -> bytes:
    lines = []
    while (line := await reader.readline()) != b".\r\n":
        if not line:
            raise ConnectionError("connection closed in DATA")
        lines.append(line[1:] if line.startswith(b".") else line)
    return b"".join(lines)


@pytest.fixture
def faulty_smtp() -> Iterator[FaultySmtp]:
    server = FaultySmtp()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="faulty-smtp", daemon=True)
    thread.start()
    listening = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(server.serve, "127.0.0.1", 0), loop
    ).result(timeout=5)
    server.port = listening.sockets[0].getsockname()[1]
    yield server
    listening.close()
    # Generous timeouts: under a loaded CI machine a 5 s wait here failed the teardown once.
    asyncio.run_coroutine_threadsafe(_cancel_sessions(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=30)
    if not loop.is_running():
        loop.close()


async def _cancel_sessions() -> None:
    current = asyncio.current_task()
    sessions = [task for task in asyncio.all_tasks() if task is not current]
    for task in sessions:
        task.cancel()
    await asyncio.gather(*sessions, return_exceptions=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
