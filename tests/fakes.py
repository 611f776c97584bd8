"""Test helpers that drive the real server the way a browser would (no mocks of our own code)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import socketio
from yarl import URL

from server.identity.accounts import Accounts
from server.keys import accounts_key

__all__ = ["Browser", "make_user", "new_consultation", "join_as_patient", "open_link", "SocketPeer"]


async def make_user(server: Any, username: str = "drhouse", role: str = "practitioner",
                    password: str = "correct horse battery") -> str:
    accounts: Accounts = server.app[accounts_key]
    account = await accounts.create(username, password, f"Dr {username}", role)
    return account.id


class Browser:
    """An HTTP client with its own cookie jar that sends the Origin header like a same-origin page."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.session = aiohttp.ClientSession(
            base_url=server.url,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(ssl=server.client_ssl),
            headers={"Origin": server.url},
        )
        self.csrf = ""

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def login(self, username: str = "drhouse", password: str = "correct horse battery") -> aiohttp.ClientResponse:
        response = await self.session.post("/login", data={"username": username, "password": password},
                                           allow_redirects=False)
        if response.status == 303:
            page = await (await self.session.get("/console")).text()
            self.csrf = _csrf_from(page)
        return response

    async def api(self, method: str, path: str, json: Any = None, **kwargs: Any) -> aiohttp.ClientResponse:
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return await self.session.request(method, path, json=json, headers=headers, **kwargs)

    def cookie_header(self) -> str:
        cookies = self.session.cookie_jar.filter_cookies(URL(self.server.url))
        return "; ".join(f"{key}={morsel.value}" for key, morsel in cookies.items())


def _csrf_from(page: str) -> str:
    match = re.search(r'"csrf":\s*"([^"]+)"', page)
    assert match, "the console page carries the CSRF token in its boot data"
    return match.group(1)


async def new_consultation(browser: Browser, name: str = "Jeanne Patient") -> dict[str, Any]:
    """A consultation in one hour by the server's clock (its links open a day before the appointment); a server
    in its own process runs on the real clock."""
    clock = getattr(browser.server, "clock", None)
    starts = ((clock.now() if clock is not None else datetime.now(UTC)) + timedelta(hours=1)).isoformat()
    response = await browser.api("POST", "/api/consultations", json={
        "patient_name": name, "scheduled_at": starts, "language": "fr"})
    assert response.status == 201, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def open_link(browser: Browser, link_url: str) -> aiohttp.ClientResponse:
    """Open a join or caller link as a person does: its landing page, then the button (the form's POST)."""
    path = link_url.removeprefix(browser.server.url)
    landing = await browser.session.get(path, allow_redirects=False)
    page = await landing.text()
    if landing.status != 200 or 'id="link-form"' not in page:
        return landing  # a refusal page: nothing to press
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    return await browser.session.post(path, data={"csrf": csrf.group(1)} if csrf else {}, allow_redirects=False)


async def join_as_patient(server: Any, link_url: str) -> Browser:
    browser = Browser(server)
    response = await open_link(browser, link_url)
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/visit"
    return browser


@dataclass
class SocketPeer:
    """A python-socketio client speaking the ``/call`` namespace, recording what it receives."""

    client: socketio.AsyncClient
    received: asyncio.Queue[tuple[str, Any]]

    @classmethod
    async def connect(cls, browser: Browser, url: str | None = None) -> SocketPeer:
        client = socketio.AsyncClient(http_session=browser.session, reconnection=False)
        received: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        async def record(event: str, data: Any = None) -> None:
            await received.put((event, data))

        client.on("*", record, namespace="/call")
        await client.connect(url or browser.server.url, namespaces=["/call"], transports=["websocket"],
                             headers={"Cookie": browser.cookie_header(), "Origin": browser.server.url},
                             wait_timeout=10)
        return cls(client, received)

    async def call(self, event: str, payload: Any = None, timeout: float = 10) -> Any:
        if payload is None:
            return await self.client.call(event, namespace="/call", timeout=timeout)
        return await self.client.call(event, payload, namespace="/call", timeout=timeout)

    async def next(self, event: str, timeout: float = 10) -> Any:
        """The next message of that event type (others received meanwhile are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                name, data = await self.received.get()
                if name == event:
                    return data

    async def close(self) -> None:
        await self.client.disconnect()
