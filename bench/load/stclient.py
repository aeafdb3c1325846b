"""A minimal Streamlit client that speaks the browser's websocket protocol.

One ``Session`` is one browser tab: it connects to ``ws://HOST:PORT/_stcore/stream``,
asks for a page with a ``rerun_script`` BackMsg, reads ForwardMsgs until
``script_finished``, and learns each widget's id, type and fragment from the element
protos, so it can later change a widget the way the frontend does (a rerun carrying the
widget states, scoped to the widget's fragment when it lives in one). Like the browser it
remembers large messages it has seen and sends their hashes, so the server answers with
references instead of resending them; it uploads files through ``/_stcore/upload_file``
with the XSRF cookie and header.

Only loopback servers are accepted: this is a load generator for our own app.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

FINISHED = ForwardMsg.ScriptFinishedStatus
OK_STATUSES = {FINISHED.FINISHED_SUCCESSFULLY, FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
LOOPBACK = ("127.", "localhost", "[::1]", "::1")
XSRF_COOKIE = "_streamlit_xsrf"
STICKY_COOKIE = "DLCORE_REPLICA"  # set by the deploy/ proxy: which replica holds the session


class ProtocolError(Exception):
    """The server answered something a browser would show as broken."""


@dataclass
class Widget:
    """A widget seen in the last runs: its id, element type, proto and fragment."""

    id: str
    kind: str
    proto: Any
    fragment_id: str = ""


@dataclass
class Run:
    """What one script run (a page load or an interaction) produced."""

    seconds: float
    status: str
    elements: int = 0
    bytes_received: int = 0
    exceptions: list[str] = field(default_factory=list)
    error_alerts: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    auto_reruns: dict[str, float] = field(default_factory=dict)  # registered by this run

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "fragment ok") and not self.exceptions


def _check_loopback(base_url: str) -> None:
    host = urlsplit(base_url).hostname or ""
    if not host.startswith(LOOPBACK) and host != "localhost":
        raise ValueError(f"refusing to load {base_url}: only loopback servers are allowed")


def _widget_key(widget_id: str) -> str:
    """The user key in an id like ``$$ID-<hash>-<key>`` (the id itself if keyless)."""
    parts = widget_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[2] != "None" else widget_id


class Session:
    """One simulated browser tab on a Streamlit app served on loopback."""

    def __init__(self, base_url: str, timeout: float = 60.0):
        _check_loopback(base_url)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.ws = None
        self.session_id = ""
        self.page_name = ""
        self.page_script_hash = ""  # learnt from the first run, sent afterwards like the UI
        self.query = ""
        self.widgets: dict[str, Widget] = {}
        self.states: dict[str, WidgetState] = {}
        self.auto_reruns: dict[str, float] = {}  # fragment id -> interval (run_every)
        self.pages: list[str] = []  # URL paths of the pages the app lists
        self._cache: dict[str, ForwardMsg] = {}  # cacheable messages by hash
        self._xsrf = ""
        self.http = requests.Session()  # the tab's cookies: XSRF, and a proxy's stickiness
        self.replica = ""  # the sticky proxy's name for the replica serving this session

    async def connect(self) -> None:
        """Load a page first, as a browser does (its cookies: the XSRF token for uploads,
        and behind the deploy/ proxy the replica this tab sticks to), then open the
        websocket with those cookies."""
        await asyncio.to_thread(self.http.get, self.base_url + "/_stcore/health", timeout=30)
        self._xsrf = self.http.cookies.get(XSRF_COOKIE, "")
        self.replica = self.http.cookies.get(STICKY_COOKIE, "")
        cookies = "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())
        url = self.base_url.replace("http", "ws", 1) + "/_stcore/stream"
        headers = {"Cookie": cookies} if cookies else None
        self.ws = await connect(
            url,
            subprotocols=["streamlit"],
            max_size=None,
            open_timeout=30,
            additional_headers=headers,
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        self.http.close()

    # -----------------------------------------------------------------------------------
    # Runs
    # -----------------------------------------------------------------------------------

    async def open_page(self, page_name: str, query: str = "") -> Run:
        """Load a page by its URL path (e.g. "activations"), as on a first visit."""
        self.page_name, self.query, self.page_script_hash = page_name, query, ""
        self.states.clear()
        return await self._rerun()

    async def _rerun(self, fragment_id: str = "", triggers: list[WidgetState] = (), auto=False):
        msg = BackMsg()
        state = msg.rerun_script
        state.page_name = self.page_name
        state.page_script_hash = self.page_script_hash
        state.query_string = self.query
        state.fragment_id = fragment_id
        state.is_auto_rerun = auto
        state.widget_states.widgets.extend([*self.states.values(), *triggers])
        state.cached_message_hashes.extend(self._cache)
        started = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        return await asyncio.wait_for(self._read_run(started), self.timeout)

    async def _read_run(self, started: float) -> Run:
        run = Run(seconds=0.0, status="")
        while True:
            raw = await self.ws.recv()
            run.bytes_received += len(raw)
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            kind = msg.WhichOneof("type")
            if kind == "ref_hash":
                msg = self._cache.get(msg.ref_hash, msg)
                kind = msg.WhichOneof("type")
            elif msg.metadata.cacheable:
                self._cache[msg.hash] = msg
            self._handle(kind, msg, run)
            if kind == "script_finished" and run.status != "interrupted by a rerun":
                run.seconds = time.perf_counter() - started
                if run.status == "ok":  # a full run: only fragments it drew keep polling
                    self.auto_reruns = dict(run.auto_reruns)
                return run
            # A run that ended early for a rerun (st.rerun() in the script) is followed by
            # the new run: the interaction is finished only when that one is.
            if kind == "page_not_found":
                raise ProtocolError(f"page not found: {msg.page_not_found.page_name}")

    def _handle(self, kind: str, msg: ForwardMsg, run: Run) -> None:
        if kind == "new_session":
            self.session_id = msg.new_session.initialize.session_id
        elif kind == "navigation":
            self.page_script_hash = msg.navigation.page_script_hash
            self.pages = [page.url_pathname for page in msg.navigation.app_pages]
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "delta":
            self._on_delta(msg.delta, run)
        elif kind == "auto_rerun":
            self.auto_reruns[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            run.auto_reruns[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                self.auto_reruns.pop(fragment_id, None)
        elif kind == "script_finished":
            status = msg.script_finished
            run.status = {
                FINISHED.FINISHED_SUCCESSFULLY: "ok",
                FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY: "fragment ok",
                FINISHED.FINISHED_WITH_COMPILE_ERROR: "compile error",
                FINISHED.FINISHED_EARLY_FOR_RERUN: "interrupted by a rerun",
            }.get(status, f"status {status}")

    def _on_delta(self, delta, run: Run) -> None:
        if delta.WhichOneof("type") == "add_block":
            block = delta.add_block
            if block.WhichOneof("type") == "tab_container" and block.tab_container.id:
                tabs = block.tab_container
                self.widgets[_widget_key(tabs.id)] = Widget(
                    tabs.id, "tabs", tabs, delta.fragment_id
                )
            return
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        run.elements += 1
        proto = getattr(element, kind)
        if kind == "exception":
            run.exceptions.append(f"{proto.type}: {proto.message}")
        elif kind == "alert" and proto.format == proto.ERROR:
            run.error_alerts.append(proto.body)
        elif kind == "metric":
            run.texts.append(f"{proto.label}: {proto.body}")
        elif kind in ("markdown", "alert", "progress"):
            run.texts.append(getattr(proto, "body", "") or getattr(proto, "text", ""))
        widget_id = getattr(proto, "id", "")
        if widget_id.startswith("$$ID-"):
            self.widgets[_widget_key(widget_id)] = Widget(widget_id, kind, proto, delta.fragment_id)

    # -----------------------------------------------------------------------------------
    # Interactions
    # -----------------------------------------------------------------------------------

    def widget(self, key: str) -> Widget:
        try:
            return self.widgets[key]
        except KeyError:
            known = ", ".join(sorted(k for k in self.widgets if not k.startswith("$$")))
            raise ProtocolError(f"no widget with key {key!r}; seen: {known}") from None

    async def set(self, key: str, value: Any) -> Run:
        """Change a widget's value and rerun (its fragment only, when it is in one)."""
        widget = self.widget(key)
        self.states[widget.id] = _state_for(widget, value)
        return await self._rerun(widget.fragment_id)

    async def click(self, key: str) -> Run:
        """Press a button: a one-shot trigger, not kept in the widget states."""
        widget = self.widget(key)
        trigger = WidgetState(id=widget.id, trigger_value=True)
        return await self._rerun(widget.fragment_id, [trigger])

    async def auto_rerun(self, fragment_id: str) -> Run:
        """What the browser sends every run_every seconds for a fragment."""
        return await self._rerun(fragment_id, auto=True)

    async def follow(self, limit: float) -> Run | None:
        """Poll like the browser (each fragment's run_every) until no fragment auto-reruns."""
        run, deadline = None, time.monotonic() + limit
        while self.auto_reruns and time.monotonic() < deadline:
            fragment_id, interval = next(iter(self.auto_reruns.items()))
            await asyncio.sleep(interval)
            run = await self.auto_rerun(fragment_id)
        return run

    async def upload(self, key: str, name: str, payload: bytes, mime: str) -> Run:
        """Upload one file into a file_uploader the way the frontend does, then rerun."""
        widget = self.widget(key)
        request = BackMsg()
        request.file_urls_request.request_id = uuid.uuid4().hex
        request.file_urls_request.file_names.append(name)
        request.file_urls_request.session_id = self.session_id
        await self.ws.send(request.SerializeToString())
        urls = await asyncio.wait_for(self._file_urls(request.file_urls_request.request_id), 30)
        await asyncio.to_thread(self._put, urls.upload_url, name, payload, mime)
        state = WidgetState(id=widget.id)
        info = state.file_uploader_state_value.uploaded_file_info.add()
        info.file_id, info.name, info.size = urls.file_id, name, len(payload)
        info.file_urls.CopyFrom(urls)
        self.states[widget.id] = state
        return await self._rerun(widget.fragment_id)

    async def _file_urls(self, request_id: str):
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await self.ws.recv())
            if msg.WhichOneof("type") == "file_urls_response":
                response = msg.file_urls_response
                if response.response_id != request_id:
                    continue
                if response.error_msg:
                    raise ProtocolError(f"upload refused: {response.error_msg}")
                return response.file_urls[0]

    def _put(self, upload_url: str, name: str, payload: bytes, mime: str) -> None:
        url = upload_url if upload_url.startswith("http") else self.base_url + upload_url
        _check_loopback(url)
        reply = self.http.put(  # with the tab's cookies: the same replica behind a proxy
            url,
            files={"file": (name, payload, mime)},
            headers={"X-Xsrftoken": self._xsrf},
            timeout=30,
        )
        if reply.status_code >= 300:
            raise ProtocolError(f"upload failed: HTTP {reply.status_code} {reply.text[:200]}")


def _state_for(widget: Widget, value: Any) -> WidgetState:
    """The WidgetState the frontend would send for this widget type and value."""
    state = WidgetState(id=widget.id)
    kind, proto = widget.kind, widget.proto
    if kind == "slider" and proto.type == proto.SELECT_SLIDER:
        values = value if isinstance(value, (list, tuple)) else [value]
        state.string_array_value.data.extend(str(v) for v in values)
    elif kind == "slider":
        values = value if isinstance(value, (list, tuple)) else [value]
        state.double_array_value.data.extend(float(v) for v in values)
    elif kind == "number_input":
        state.double_value = float(value)
    elif kind in ("selectbox", "radio", "text_input", "text_area", "tabs"):
        state.string_value = str(value)
    elif kind in ("multiselect", "button_group"):
        state.string_array_value.data.extend(str(v) for v in value)
    elif kind == "checkbox":
        state.bool_value = bool(value)
    else:
        raise ProtocolError(f"setting a {kind} is not supported by this client")
    return state
