"""The HTTP server (FastAPI on uvicorn). Routes turn requests into service calls and errors into JSON:

    POST /v1/complete      completion at a cursor (cancelled if the client goes away or a newer request
                           for the same document arrives)
    POST /v1/warm          prime the KV cache for a document (returns at once; never delays completions)
    POST /v1/events        editor telemetry (shown / accepted / rejected / retained), stored locally
    GET  /health           liveness, `name: "nanocomplete"`, the loaded models by tier, the workspace indexes
    GET  /metrics          Prometheus text
    POST /infill           llama.cpp server compatibility (llama.vscode, llama.vim; `n_predict: 0` warms)
    POST /completion       llama.cpp's raw endpoint (Continue's llama.cpp provider, Tabby's llama.cpp backend)
    POST /v1/completions   OpenAI-style FIM compatibility (`prompt` + `suffix`, e.g. Continue)
    GET  /v1/models        the loaded models (both tiers'), OpenAI-style

Every error is `{"error": {"type", "message"}}` with a 4xx status for bad input (400 malformed, 401 bad
token, 403 a Host or browser Origin that is not allowed, 413 too large, 422 invalid fields) and 503 when the
engine fails; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

from nanocomplete import __version__, api, fim, postprocess
from nanocomplete.config import MAX_GENERATION_MS, ServerConfig
from nanocomplete.errors import Cancelled, EngineError, ModelError, NanocompleteError, PromptError
from nanocomplete.service import CompletionService

DISCONNECT_POLL_S = 0.05
DRAIN_MAX_BYTES = 64_000_000  # of a refused body, at most this much is read (and dropped) before the 413
# a request body not complete by then is refused (408): a stalled upload holds memory
BODY_READ_TIMEOUT_S = 30.0
# Request bodies being read, all connections together: beyond this a body is refused (503), so stalled uploads
# cannot hold unbounded memory. (Not a connection limit: idle sockets would then lock every client out.)
MAX_BODY_BYTES_IN_FLIGHT = 256_000_000
PUBLIC_PATHS = frozenset({"/health"})
# a request line and headers not complete by then, from the connection's opening or the last response: 408 and
# the connection closed. uvicorn has no such deadline: a client that sends a byte every few seconds (under
# its 5 s keep-alive timeout) held a connection forever
HEADER_READ_TIMEOUT_S = 10.0


def create_app(service: CompletionService, config: ServerConfig = ServerConfig()) -> FastAPI:
    # no /docs or /redoc: their pages load scripts from a CDN, and nothing here leaves the machine
    app = FastAPI(
        title="nanocomplete", version=__version__, lifespan=_lifespan(service), docs_url=None, redoc_url=None
    )
    _add_guards(app, config)
    _add_error_handlers(app)

    @app.api_route("/health", methods=["GET", "HEAD"], response_model=api.Health)  # HEAD: uptime probes
    def health() -> api.Health:
        return api.Health(
            status="ok",
            model=service.model_name,
            version=__version__,
            tiers=service.model_names,
            index=service.index_health(),
        )

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(service.metrics.exposition(), media_type="text/plain; version=0.0.4")

    @app.post(
        "/v1/complete", response_model=api.CompleteResponse, responses={400: {"model": api.ErrorResponse}}
    )
    async def complete(body: api.CompleteRequest, request: Request) -> api.CompleteResponse:
        service.metrics.tier_asked.labels("complete", body.tier or "server").inc()
        return await _complete(service, _with_model_tier(service, body), request)

    @app.post(
        "/v1/warm", response_model=api.WarmResponse, status_code=202,
        responses={400: {"model": api.ErrorResponse}},
    )  # fmt: skip
    async def warm(body: api.WarmRequest) -> api.WarmResponse:
        service.metrics.tier_asked.labels("warm", body.tier or "server").inc()
        return await run_in_threadpool(service.warm, body)

    @app.post("/v1/events", response_model=api.EventsResponse)
    async def events(body: api.EventsRequest) -> api.EventsResponse:
        service.metrics.observe_events(body.events)
        stored = await run_in_threadpool(service.events.add, body.events) if service.events else 0
        return api.EventsResponse(stored=stored)

    @app.post("/infill")
    async def infill(body: api.InfillRequest, request: Request) -> dict:
        return await _llama_cpp_answer(service, _infill_request(body), body.n_predict, request)

    @app.post("/completion", response_model=None)
    async def llama_completion(body: api.LlamaCompletionRequest, request: Request):
        payload = await _llama_cpp_answer(service, _llama_completion_request(body), body.n_predict, request)
        if body.stream:
            return StreamingResponse(_llama_sse(payload), media_type="text/event-stream")
        return payload

    @app.get("/v1/models")
    def models() -> dict:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "nanocomplete"}
                for name in dict.fromkeys(service.model_names.values())
            ],
        }

    @app.post("/v1/completions", response_model=None)
    async def completions(body: api.OpenAICompletionRequest, request: Request):
        sent = _with_model_tier(service, _openai_request(body), body.model)
        completion = await _complete(service, sent, request)
        payload = _openai_response(_insertable(completion, sent.suffix))
        if body.stream:
            return StreamingResponse(_sse(payload), media_type="text/event-stream")
        return payload

    return app


async def _complete(
    service: CompletionService, body: api.CompleteRequest, request: Request
) -> api.CompleteResponse:
    """Run one completion, cancelling it if the client disconnects before it is done."""
    pending = await run_in_threadpool(service.submit, body)
    if pending.job is None:
        return service.finish(pending)
    waiting = asyncio.wrap_future(pending.job.future)
    while not waiting.done():
        done, _ = await asyncio.wait({waiting}, timeout=DISCONNECT_POLL_S)
        if not done and await request.is_disconnected():
            pending.job.cancel()
            break
    try:
        await waiting
        response = service.finish(pending)
    except Cancelled:
        return service.cancelled_response(pending)
    service.metrics.requests.labels("complete", "ok").inc()
    return response


async def _llama_cpp_answer(
    service: CompletionService, sent: api.CompleteRequest, n_predict: int | None, request: Request
) -> dict:
    """A completion in llama.cpp's answer format; `n_predict: 0` is a warm-up (llama.vscode's and
    llama.vim's ring updates): the prompt is evaluated into the cache and nothing is generated."""
    if n_predict == 0:
        await run_in_threadpool(service.warm, api.WarmRequest(**sent.model_dump(include=WARM_FIELDS)))
        return _infill_response(None, service.model_name)
    completion = await _complete(service, sent, request)
    return _infill_response(_insertable(completion, sent.suffix), completion.model)


def _with_model_tier(
    service: CompletionService, body: api.CompleteRequest, model: str | None = None
) -> api.CompleteRequest:
    """The request, answered by the tier whose model it names (`model`, default: its own field) unless it
    names a tier; ModelError when the server runs no such model."""
    model = model if model is not None else body.model
    if not model or model == "default":
        return body
    tiers = {name: tier for tier, name in service.model_names.items()}
    if model not in tiers:
        raise ModelError(f"this server runs {' and '.join(map(repr, tiers))}, not {model!r}")
    if body.tier is not None and body.tier != tiers[model]:
        asked = f"model {model!r} is the {tiers[model]} tier's, but tier {body.tier!r} was asked for"
        raise ModelError(f"{asked}: send one of them")
    return body.model_copy(update={"tier": tiers[model]})


def _lifespan(service: CompletionService):
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    return lifespan


# --- guards and errors ---------------------------------------------------------------------------------


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def _add_guards(app: FastAPI, config: ServerConfig) -> None:
    app.add_middleware(Guard, config=config)


class Guard:
    """Host and browser Origin (DNS rebinding), API token, body size and UTF-8 checks, as plain ASGI (not
    BaseHTTPMiddleware: the endpoint must still see the client's disconnect to cancel its completion)."""

    def __init__(self, app, config: ServerConfig):
        self.app, self.config = app, config
        self._body_bytes_in_flight = 0  # one event loop: no lock needed

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._check_headers(scope["path"], headers)
        if refusal is None and scope["method"] == "POST":
            body, refusal = await self._read_body(receive)
            if refusal is None:
                receive = _replay(body, receive)
        if refusal is not None:
            if refusal.status_code == 413:  # a client that sends the whole body before it reads the answer
                await _drain(
                    receive
                )  # would see the connection reset instead of the 413 (a stalled one: it does)
            return await refusal(scope, receive, send)
        return await self.app(scope, receive, send)

    def _check_headers(self, path: str, headers: dict[str, str]) -> JSONResponse | None:
        refusal = self._check_host_and_origin(headers)
        if refusal is not None:
            return refusal
        token = self.config.api_token
        given, expected = headers.get("authorization", "").encode("latin-1"), f"Bearer {token}".encode()
        wrong = not secrets.compare_digest(given, expected)
        if token and path not in PUBLIC_PATHS and wrong:
            return _error(401, "unauthorized", "missing or wrong `Authorization: Bearer <api_token>`")
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.config.max_request_bytes):
            return self._too_large()
        return None

    def _check_host_and_origin(self, headers: dict[str, str]) -> JSONResponse | None:
        """DNS rebinding: on loopback only loopback Host names pass; a browser Origin must be allowed."""
        if self.config.listens_on_loopback():
            host = host_name(headers.get("host", ""))
            if host not in {name.lower() for name in _listed(self.config.allowed_hosts)}:
                return _error(
                    403,
                    "forbidden_host",
                    f"Host {host!r} is not a loopback name this server answers to "
                    f"(allowed_hosts: {self.config.allowed_hosts})",
                )
        origin = headers.get("origin")
        if origin is not None and not any(
            fnmatch.fnmatchcase(origin, pattern) for pattern in _listed(self.config.allowed_origins)
        ):
            return _error(
                403,
                "forbidden_origin",
                f"Origin {origin!r} may not call this server "
                f"(allowed_origins: {self.config.allowed_origins})",
            )
        return None

    async def _read_body(self, receive) -> tuple[bytes, JSONResponse | None]:
        chunks, size = [], 0
        deadline = time.monotonic() + BODY_READ_TIMEOUT_S
        try:
            while True:
                try:
                    message = await _receive_by(receive, deadline)
                except TimeoutError:
                    return b"", _error(
                        408, "timeout", f"the request body did not arrive within {BODY_READ_TIMEOUT_S:.0f} s"
                    )
                if message["type"] != "http.request":
                    return b"", None
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                self._body_bytes_in_flight += len(chunks[-1])
                if size > self.config.max_request_bytes:
                    return b"", self._too_large()
                if self._body_bytes_in_flight > MAX_BODY_BYTES_IN_FLIGHT:
                    return b"", _error(503, "busy", "too many request bodies are being sent at once; retry")
                if not message.get("more_body", False):
                    break
        finally:
            self._body_bytes_in_flight -= size
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as error:
            return body, _error(400, "invalid_utf8", f"the request body is not valid UTF-8 ({error.reason})")
        return body, None

    def _too_large(self) -> JSONResponse:
        return _error(
            413, "too_large", f"request body over max_request_bytes={self.config.max_request_bytes}"
        )


def host_name(header: str) -> str:
    """The name in a Host header, without its port, lower-case: "[::1]:8012" → "[::1]"."""
    header = header.strip().lower()
    if header.startswith("["):  # "[::1]" or "[::1]:8012"; anything after the bracket but a port is kept
        name, _, rest = header.partition("]")
        return header if rest and not (rest.startswith(":") and rest[1:].isdigit()) else name + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _listed(setting: str) -> list[str]:
    """A comma-separated setting's items."""
    return [item.strip() for item in setting.split(",") if item.strip()]


async def _drain(receive) -> None:
    """Read and drop the rest of a refused request's body, up to DRAIN_MAX_BYTES (memory stays flat) and
    for at most BODY_READ_TIMEOUT_S."""
    read, deadline = 0, time.monotonic() + BODY_READ_TIMEOUT_S
    while read <= DRAIN_MAX_BYTES:
        try:
            message = await _receive_by(receive, deadline)
        except TimeoutError:
            return
        if message["type"] != "http.request":
            return
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _receive_by(receive, deadline: float) -> dict:
    """The client's next ASGI message; TimeoutError once `deadline` (time.monotonic) has passed."""
    return await asyncio.wait_for(receive(), timeout=max(0.0, deadline - time.monotonic()))


def _replay(body: bytes, receive):
    """A `receive` that first returns the body already read, then the client's later messages."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return _error(400, "invalid_json", "the request body is not valid JSON")
        message = "; ".join(
            f"{'.'.join(str(part) for part in p.get('loc', ()) if part != 'body') or 'body'}: {p.get('msg')}"
            for p in problems[:5]
        )
        content_type = request.headers.get("content-type", "")
        whole_body = any(tuple(p.get("loc", ())) == ("body",) for p in problems)
        if content_type and "json" not in content_type and whole_body:
            # FastAPI reads a body as JSON without a content type or under a JSON one; otherwise as text
            message += f" (send JSON with content-type: application/json; this request's is {content_type!r})"
        return _error(422, "invalid_request", message)

    @app.exception_handler(ValidationError)
    async def invalid_conversion(request: Request, error: ValidationError) -> JSONResponse:
        # a compatibility endpoint's fields, turned into ours (`/infill`'s prefix + prompt too long)
        message = "; ".join(
            f"{'.'.join(str(part) for part in p.get('loc', ())) or 'body'}: {p.get('msg')}"
            for p in error.errors()[:5]
        )
        return _error(422, "invalid_request", message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, "http_error", str(error.detail))

    @app.exception_handler(NanocompleteError)
    async def domain_error(request: Request, error: NanocompleteError) -> JSONResponse:
        if isinstance(error, PromptError | ModelError):
            return _error(400, "invalid_request", str(error))
        if isinstance(error, EngineError):
            return _error(503, "engine_error", str(error))
        return _error(503, "unavailable", str(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return _error(503, "internal_error", f"{type(error).__name__}: {error}")


# --- compatibility -------------------------------------------------------------------------------------


WARM_FIELDS = {"uri", "prefix", "suffix", "recent"}
DOCUMENT_KEY_LINES = 2


def _infill_request(body: api.InfillRequest) -> api.CompleteRequest:
    """A /infill request as ours. llama.vscode and llama.vim send no file name (and llama.vscode no slot),
    so the document is keyed by the first lines of the prefix it sent: those of the file while the file fits
    the client's prefix window (256 lines in llama.vscode), so each file keeps its own KV snapshot and
    state; a longer file gets a new key as the window moves, and the snapshots shared prefix still serves."""
    recent = [api.Snippet(path=e.filename or "snippet", text=e.text) for e in body.input_extra]
    prefix = body.input_prefix + body.prompt
    return api.CompleteRequest(
        uri=_document_key("infill", prefix, body.input_suffix),
        prefix=prefix,
        suffix=body.input_suffix,
        recent=recent,
        max_tokens=_max_tokens(body.n_predict),
        max_generation_ms=_max_generation_ms(body.t_max_predict_ms),
    )


def _max_generation_ms(t_max_predict_ms: int | None) -> int | None:
    """llama-server's `t_max_predict_ms` as our `max_generation_ms`: at most config.MAX_GENERATION_MS; 0 or
    less is no limit, as there (llama.vscode sends 500); unset leaves the server's setting."""
    if t_max_predict_ms is None:
        return None
    return min(max(t_max_predict_ms, 0), MAX_GENERATION_MS)


def _max_tokens(n_predict: int | None) -> int | None:
    """llama.cpp's `n_predict` or OpenAI's `max_tokens` as ours: capped at api.MAX_TOKENS (their schemas
    allow up to 1,024, as their servers do); unset, 0 (a warm-up) or -1 (unlimited) leave the server's
    default."""
    return min(n_predict, api.MAX_TOKENS) if n_predict and n_predict > 0 else None


def _document_key(endpoint: str, prefix: str, suffix: str) -> str:
    """A stable name for the document a client without document identity sends: its first lines."""
    head = "\n".join((prefix or suffix).split("\n", DOCUMENT_KEY_LINES)[:DOCUMENT_KEY_LINES])
    digest = hashlib.sha256(head.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]
    return f"{endpoint}-{digest}" if head else f"{endpoint}-empty"


def _llama_completion_request(body: api.LlamaCompletionRequest) -> api.CompleteRequest:
    """`/completion`: a FIM template the client filled (read as llama-server does), else text to
    continue (prefix only)."""
    prompt = body.prompt if isinstance(body.prompt, str) else "".join(body.prompt)
    prefix, suffix = fim.parse_client_template(prompt) or (prompt, "")
    return api.CompleteRequest(
        uri=_document_key("completion", prefix, suffix),
        prefix=prefix,
        suffix=suffix,
        max_tokens=_max_tokens(body.n_predict),
        max_generation_ms=_max_generation_ms(body.t_max_predict_ms),
    )


def _insertable(completion: api.CompleteResponse, suffix: str) -> api.CompleteResponse:
    """For clients that insert text at the cursor (no replace range): a completion that types the
    auto-closed characters after the cursor again is cut before them, so they are not doubled."""
    if completion.replace_range.end == completion.replace_range.start:
        return completion
    _, first = postprocess.retyped_closers(completion.completion, suffix.partition("\n")[0])
    return completion.model_copy(update={"completion": completion.completion[:first].rstrip()})


def _infill_response(completion: api.CompleteResponse | None, model: str) -> dict:
    """The fields llama.cpp's /infill and /completion answer with that their clients read (None: a
    warm-up, nothing generated)."""
    t = completion.timings if completion else None
    return {
        "content": completion.completion if completion else "",
        "stop": True,
        "tokens_predicted": t.tokens_generated if t else 0,
        "tokens_evaluated": t.prompt_tokens if t else 0,
        "tokens_cached": t.prompt_tokens_reused if t else 0,
        "timings": {
            "prompt_n": t.prompt_tokens_evaluated if t else 0,
            "prompt_ms": t.prompt_ms if t else 0.0,
            "predicted_n": t.tokens_generated if t else 0,
            "predicted_ms": t.generation_ms if t else 0.0,
        },
        "model": model,
    }


def _openai_request(body: api.OpenAICompletionRequest) -> api.CompleteRequest:
    """`prompt` + `suffix`, or a `prompt` that is a whole FIM template the client filled in itself (read as
    llama-server does: its prefix, suffix and typed middle take our prompt path, caching and rules)."""
    prompt = body.prompt if isinstance(body.prompt, str) else "".join(body.prompt)
    prefix, suffix = prompt, body.suffix or ""
    template = fim.parse_client_template(prompt) if body.suffix is None else None
    if template is not None:
        prefix, suffix = template
    return api.CompleteRequest(
        uri=_document_key("openai", prefix, suffix), prefix=prefix, suffix=suffix,
        max_tokens=_max_tokens(body.max_tokens), max_generation_ms=body.max_generation_ms, tier=body.tier,
    )  # fmt: skip


def _openai_response(completion: api.CompleteResponse) -> dict:
    t = completion.timings
    prompt_tokens = t.prompt_tokens if t else 0
    generated = t.tokens_generated if t else 0
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": completion.model,
        "choices": [
            {
                "text": completion.completion,
                "index": 0,
                "logprobs": None,
                "finish_reason": _finish_reason(completion),
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": generated,
            "total_tokens": prompt_tokens + generated,
        },
    }


def _finish_reason(completion: api.CompleteResponse) -> str:
    """OpenAI's `finish_reason`: "length" where a limit (max_tokens, max_generation_ms) cut the model off."""
    return "length" if completion.stop_reason in ("max_tokens", "max_generation_ms") else "stop"


async def _llama_sse(payload: dict) -> AsyncIterator[bytes]:
    """llama-server's stream: the content in one chunk, then the closing chunk with `stop` and timings."""
    yield f"data: {json.dumps({'content': payload['content'], 'stop': False})}\n\n".encode()
    yield f"data: {json.dumps({**payload, 'content': '', 'stop': True})}\n\n".encode()


async def _sse(payload: dict) -> AsyncIterator[bytes]:
    yield f"data: {json.dumps(payload)}\n\n".encode()
    yield b"data: [DONE]\n\n"


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers (HEADER_READ_TIMEOUT_S),
    armed when the connection opens and after each response, and not reset by the bytes that arrive. When it
    passes and no request has reached the app since (the next request's headers are incomplete, or the body
    of a request already answered is still arriving), the client gets a 408 in the server's error format
    and the connection is closed. The bodies of requests in the app have their own deadline
    (BODY_READ_TIMEOUT_S)."""

    header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
        self.header_deadline = self.loop.call_later(HEADER_READ_TIMEOUT_S, self._headers_overdue)

    def _headers_overdue(self) -> None:
        self.header_deadline = None
        answered = self.cycle is None or self.cycle.response_complete  # no request of its own in the app
        if answered and not self.transport.is_closing():  # no next request's headers; or the body of one
            # already answered still trickling in, which uvicorn reads and drops for as long as it comes
            message = f"the request's headers did not arrive within {HEADER_READ_TIMEOUT_S:.0f} s"
            body = json.dumps({"error": {"type": "timeout", "message": message}}).encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            self.transport.close()


class BackgroundServer:
    """The app served by uvicorn on a loopback port in a background thread (benchmarks and tests)."""

    def __init__(self, app: FastAPI, port: int, host: str = "127.0.0.1"):
        import threading

        import uvicorn

        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", http=HeaderDeadlineProtocol)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise NanocompleteError(f"the server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
