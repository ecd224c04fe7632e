"""create_app(): routers, static files, error handlers, and the database engine."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import escape
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.accounts import api as accounts_api
from app.accounts import studio as accounts_studio
from app.analytics import api as analytics_api
from app.analytics import retention
from app.archive import public as archive_pages
from app.audit import api as audit_api
from app.config import Settings, get_settings
from app.db import make_engine
from app.delivery import api as delivery_api
from app.delivery import outbox
from app.delivery import tasks as delivery_tasks
from app.deps import LoginRequired
from app.errors import DomainError, document_problems, install_error_handlers
from app.feedback import api as feedback_api
from app.feedback import public as feedback_pages
from app.feedback import studio as feedback_studio
from app.issues import api as issues_api
from app.news import api as news_api
from app.rendering import api as rendering_api
from app.rendering.service import Renderer
from app.segments import api as segments_api
from app.subscribers import api as subscribers_api
from app.tracking import api as tracking_api
from app.tracking import hits as tracking_hits
from app.tracking import public as public_pages
from app.tracking import studio as tracking_studio
from app.tracking.hits import LinkDirectory
from app.tracking.recorder import Recorder
from app.tracking.tokens import TokenSigner
from app.web import home
from app.web.limits import BodySizeLimit
from app.web.routes import STUDIO_BODY_LIMITS, STUDIO_ROUTERS
from app.web.security import StudioSecurityHeaders
from app.web.templating import redirect
from app.webhooks import api as webhooks_api
from app.webhooks import tasks as webhook_tasks

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Pages people open (the studio, the web version of an issue) answer errors in HTML.
HTML_PATHS = ("/studio", "/web/", "/u/", "/p/", "/f/", "/archive", "/feedback")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Background work that lives as long as the app: webhook delivery, the retention fold
    of tracking events and, without a broker URL, the sends themselves and the scheduler
    that starts them on time."""
    runner = webhook_tasks.start_runner(app.state.engine, app.state.settings)
    app.state.webhook_runner = runner
    await app.state.recorder.start()  # tracking hits: batched writes, drained on shutdown
    async with (
        delivery_tasks.in_app(
            app.state.settings, engine=app.state.engine, renderer=app.state.renderer
        ),
        retention.in_app(app.state.engine, app.state.settings),  # folds old raw events
    ):
        try:
            yield
        finally:
            await app.state.recorder.stop()
            if runner is not None:
                await run_in_threadpool(runner.stop)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level.upper())
    app = FastAPI(
        lifespan=_lifespan,
        docs_url=None,  # served below with vendored assets: intranets often have no CDN
        title="Drumbeat",
        version="0.1.0",
        description="The internal newsletter of an IT department: news intake, audiences, "
        "bulletins. Authenticate with `Authorization: Bearer <API key>`.",
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.secret_key = settings.resolved_secret_key()
    app.state.renderer = Renderer(settings, TokenSigner(app.state.secret_key))
    app.state.recorder = Recorder(
        app.state.engine, after_delivery_seconds=settings.tracking_machine_seconds
    )
    app.state.link_directory = LinkDirectory(app.state.engine)

    install_error_handlers(app)
    document_problems(app)
    _install_studio_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        default_limit=settings.max_body_bytes,
        limits_by_path={
            "/api/v1/subscribers/import": settings.max_import_bytes,
            "/api/v1/news-items": settings.news_max_body_bytes,
            **{path: getattr(settings, name) for path, name in STUDIO_BODY_LIMITS.items()},
        },
    )
    app.add_middleware(StudioSecurityHeaders)
    for router in (
        tracking_hits.router,  # first: the hottest paths, matched before the rest
        accounts_api.router,
        audit_api.router,
        subscribers_api.router,
        segments_api.router,
        news_api.router,
        issues_api.router,
        delivery_api.router,
        analytics_api.router,
        outbox.router,
        public_pages.router,
        tracking_api.router,
        tracking_studio.router,
        rendering_api.router,
        webhooks_api.router,
        accounts_studio.router,
        home.router,
        feedback_api.router,
        feedback_pages.router,
        feedback_studio.router,
        archive_pages.router,
        *STUDIO_ROUTERS,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        """Liveness and database reachability."""
        with app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Drumbeat API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/studio", status_code=307)

    return app


def _install_studio_handlers(app: FastAPI) -> None:
    api_handler = app.exception_handlers[DomainError]
    api_validation_handler = app.exception_handlers[RequestValidationError]
    api_http_handler = app.exception_handlers[StarletteHTTPException]

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired):
        return redirect(request, f"/studio/login?next={request.url.path}")

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError):
        # People in the studio get a short page; API clients get problem+json.
        if request.url.path.startswith(HTML_PATHS):
            return _error_page(exc.title, f"<p>{escape(exc.detail)}</p>", exc.status, exc.headers)
        return await api_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        # A hand-edited query string on a page (?kind=bogus) gets a page, not JSON.
        if request.url.path.startswith(HTML_PATHS):
            reasons = "".join(
                f"<li>{escape(_field_name(err.get('loc', ())))}: "
                f"{escape(str(err.get('msg', 'invalid')))}</li>"
                for err in exc.errors()
            )
            return _error_page("Invalid input", f"<ul>{reasons}</ul>", 422)
        return await api_validation_handler(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if request.url.path.startswith(HTML_PATHS):
            title = "Not found" if exc.status_code == 404 else "Error"
            body = f"<p>{escape(str(exc.detail or ''))}</p>"
            return _error_page(title, body, exc.status_code, getattr(exc, "headers", None))
        return await api_http_handler(request, exc)


def _field_name(loc: tuple) -> str:
    # ("query", "kind", 0) -> "kind": where the value came from and list positions aside.
    return ".".join(str(part) for part in loc[1:] if not isinstance(part, int)) or "request"


def _error_page(title: str, body_html: str, status: int, headers=None) -> HTMLResponse:
    """The short page people get instead of problem+json (`body_html` already escaped)."""
    return HTMLResponse(f"<h1>{escape(title)}</h1>{body_html}", status_code=status, headers=headers)
