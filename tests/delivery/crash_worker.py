"""A send worker in a process of its own, for the crash tests (tests/delivery/test_crash.py).

    python -m tests.delivery.crash_worker ISSUE_ID MAIL_URL [--arm-after N] [--in-flight N]

Settings come from the environment (DRUMBEAT_DATABASE_URL, DRUMBEAT_SECRET_KEY, ...).
DRUMBEAT_FAILPOINT names the point where the process SIGKILLs itself (`worker.failpoint`);
with --arm-after N the point is armed only once the server has accepted N messages, so the
kill falls in the middle of the send rather than at its first batch. A clean run prints the
state `send_issue` returned and exits 0.
"""

import argparse
import asyncio
import os

from app.config import Settings
from app.db import make_engine
from app.delivery.transports import Transport, transport_from_url
from app.delivery.worker import WorkerConfig, send_issue
from app.rendering.service import Renderer
from app.tracking.tokens import TokenSigner


class ArmingTransport:
    """Passes every message on; arms the failpoint once `after` have been accepted."""

    def __init__(self, inner: Transport, failpoint: str, after: int) -> None:
        self.inner, self.failpoint, self.after = inner, failpoint, after
        self.accepted = 0
        self._arm_if_due()

    async def send(self, *, sender: str, recipient: str, message: bytes) -> str:
        reply = await self.inner.send(sender=sender, recipient=recipient, message=message)
        self.accepted += 1
        self._arm_if_due()
        return reply

    async def close(self) -> None:
        await self.inner.close()

    def _arm_if_due(self) -> None:
        if self.failpoint and self.accepted >= self.after:
            os.environ["DRUMBEAT_FAILPOINT"] = self.failpoint


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("issue_id", type=int)
    parser.add_argument("mail_url")
    parser.add_argument("--arm-after", type=int, default=0, metavar="N")
    parser.add_argument("--owner", default=f"crash-worker-{os.getpid()}")
    parser.add_argument("--batch-size", type=int, default=WorkerConfig.batch_size)
    parser.add_argument("--in-flight", type=int, default=WorkerConfig.in_flight)
    args = parser.parse_args()

    # Disarmed until the transport has seen --arm-after accepted messages.
    failpoint = os.environ.pop("DRUMBEAT_FAILPOINT", "")
    settings = Settings()
    engine = make_engine(settings.database_url)
    config = WorkerConfig(
        owner=args.owner,
        batch_size=args.batch_size,
        in_flight=args.in_flight,
        idle_poll_seconds=0.05,
    )
    transport = ArmingTransport(
        transport_from_url(args.mail_url, pool_size=args.in_flight), failpoint, args.arm_after
    )
    try:
        state = await send_issue(
            engine,
            issue_id=args.issue_id,
            transport=transport,
            renderer=Renderer(settings, TokenSigner(settings.resolved_secret_key())),
            config=config,
        )
    finally:
        await transport.close()
        engine.dispose()
    print(state, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
