"""The task queue (taskiq): in-process when DRUMBEAT_BROKER_URL is unset, Redis when set.

Jobs take an issue id and open their own sessions. The send job is enqueued only after the
transaction that started the send commits (the API uses a background task, which runs after
the response, and the response after the commit).
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from taskiq import AsyncBroker, InMemoryBroker, TaskiqEvents

from app.accounts.principal import SYSTEM_PRINCIPAL
from app.config import Settings, get_settings
from app.db import make_engine, unit_of_work, utcnow
from app.delivery import service as sending
from app.delivery.models import RunState, SendRun
from app.delivery.transports import Transport, transport_from_url
from app.delivery.worker import IN_FLIGHT_PER_CONNECTION, WorkerConfig, send_issue
from app.issues.models import Issue, IssueStatus
from app.rendering.service import Renderer
from app.tracking.tokens import TokenSigner

log = logging.getLogger("drumbeat.delivery")


def make_broker(url: str | None) -> AsyncBroker:
    if not url:
        return InMemoryBroker()
    from taskiq_redis import ListQueueBroker

    # Workers wait on the queue with a BRPOP that blocks until a task comes. redis-py 8 reads
    # with a 5 s socket timeout by default, which killed (and restarted) every worker after
    # 5 s without a new task, along with the send it was running (taskiq-redis issue 127).
    return ListQueueBroker(url, socket_timeout=None)


broker = make_broker(get_settings().broker_url)


@dataclass
class DeliveryContext:
    """What a send needs, made once per process."""

    engine: Engine
    renderer: Renderer
    transport: Transport
    config: WorkerConfig


_context: DeliveryContext | None = None


def configure(context: DeliveryContext) -> None:
    global _context
    _context = context


def context_from_settings(
    settings: Settings, *, engine: Engine | None = None, renderer: Renderer | None = None
) -> DeliveryContext:
    return DeliveryContext(
        engine=engine or make_engine(settings.database_url),
        renderer=renderer or Renderer(settings, TokenSigner(settings.resolved_secret_key())),
        transport=transport_from_url(
            settings.mail_url,
            pool_size=settings.smtp_pool_size,
            rate_per_second=settings.smtp_rate_per_second,
        ),
        config=WorkerConfig(
            in_flight=IN_FLIGHT_PER_CONNECTION * settings.smtp_pool_size,
            retry_unknown=settings.retry_unknown_deliveries,
        ),
    )


@broker.task(task_name="delivery.send_issue")
async def send_issue_task(issue_id: int) -> str:
    context = _context or _configure_from_settings()
    return await send_issue(
        context.engine,
        issue_id=issue_id,
        transport=context.transport,
        renderer=context.renderer,
        config=context.config,
    )


async def enqueue_send(issue_id: int, *, copies: int = 1) -> None:
    """Queue the send as `copies` tasks: each worker that takes one claims its own batches."""
    for _ in range(copies):
        await send_issue_task.kiq(issue_id)


def start_due_scheduled(engine: Engine) -> list[int]:
    """Start every scheduled issue whose time has come; returns their ids."""
    started = []
    with unit_of_work(engine) as session:
        due = list(
            session.scalars(
                select(Issue.id).where(
                    Issue.status == IssueStatus.scheduled, Issue.send_at <= utcnow()
                )
            )
        )
    for issue_id in due:
        try:
            with unit_of_work(engine) as session:
                sending.start(session, issue=session.get(Issue, issue_id), actor=SYSTEM_PRINCIPAL)
            started.append(issue_id)
        except IntegrityError:
            log.info("issue %s was started by another process", issue_id)
    return started


def interrupted_sends(engine: Engine) -> list[int]:
    """Sends a stopped process left running: any worker may resume them."""
    with unit_of_work(engine) as session:
        return list(
            session.scalars(
                select(SendRun.issue_id).where(
                    SendRun.state.in_([RunState.running, RunState.freezing])
                )
            )
        )


async def scheduler_loop(
    engine: Engine, *, poll_seconds: float, stop: asyncio.Event, copies: int = 1
) -> None:
    """Resume interrupted sends once, then start scheduled issues as they fall due."""
    resumed = False
    while not stop.is_set():
        try:
            if not resumed:
                for issue_id in interrupted_sends(engine):
                    await enqueue_send(issue_id, copies=copies)
                resumed = True
            for issue_id in start_due_scheduled(engine):
                await enqueue_send(issue_id, copies=copies)
        except Exception:
            log.exception("the send scheduler failed; it tries again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll_seconds)


def _configure_from_settings() -> DeliveryContext:
    configure(context_from_settings(get_settings()))
    assert _context is not None
    return _context


_worker_stop = asyncio.Event()


@contextlib.asynccontextmanager
async def in_app(settings: Settings, *, engine: Engine, renderer: Renderer):
    """For the app's lifespan: with the in-process broker the app is its own worker (and
    scheduler); with Redis it only enqueues, and `drumbeat worker` processes send."""
    if not isinstance(broker, InMemoryBroker):
        await broker.startup()
        try:
            yield
        finally:
            await broker.shutdown()
        return
    context = context_from_settings(settings, engine=engine, renderer=renderer)
    configure(context)
    stop = asyncio.Event()
    scheduler = asyncio.get_running_loop().create_task(
        scheduler_loop(
            engine,
            poll_seconds=settings.scheduler_poll_seconds,
            stop=stop,
            copies=settings.send_tasks_per_issue,
        )
    )
    try:
        yield
    finally:
        stop.set()
        await scheduler
        await broker.wait_all()
        await context.transport.close()


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def _worker_startup(_state) -> None:
    if isinstance(broker, InMemoryBroker):
        return  # the app configured itself in in_app()
    context = _configure_from_settings()
    asyncio.get_running_loop().create_task(
        scheduler_loop(
            context.engine,
            poll_seconds=get_settings().scheduler_poll_seconds,
            stop=_worker_stop,
            copies=get_settings().send_tasks_per_issue,
        )
    )


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def _worker_shutdown(_state) -> None:
    if isinstance(broker, InMemoryBroker):
        return
    _worker_stop.set()
    if _context is not None:
        await _context.transport.close()
