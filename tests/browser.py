"""A real headless browser (Debian's chromium driven by Playwright) against a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import uvicorn
from fastapi import FastAPI

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve the app with uvicorn in a thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def offline_page(base_url: str) -> Iterator[tuple[object, list[str]]]:
    """A browser page whose requests to any other host are aborted and recorded."""
    with chromium() as browser:
        recorded = RecordedPage(browser, base_url)
        yield recorded.page, recorded.blocked


class RecordedPage:
    """A page whose requests may not leave the server, with its console errors and responses."""

    def __init__(self, browser: object, base_url: str, **context_options: object) -> None:
        self.base_url = base_url
        self.local_host = urlparse(base_url).netloc
        self.blocked: list[str] = []
        self.console_errors: list[str] = []
        self.responses: list[object] = []
        self.context = browser.new_context(**context_options)
        self.page = self.context.new_page()
        self.page.route("**/*", self._guard)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        self.page.on("response", lambda response: self.responses.append(response))

    def _guard(self, route: object) -> None:
        url = route.request.url
        if urlparse(url).netloc == self.local_host or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, message: object) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def expect_refusals(self, status: int) -> None:
        """Forget chromium's console lines about answers of `status`, which the test asked for
        (chromium logs every 4xx answer as an error); any other error still counts."""
        logged = f"the server responded with a status of {status} "
        self.console_errors = [e for e in self.console_errors if logged not in e]

    def close(self) -> None:
        """Close the page's browser context."""
        self.context.close()


@contextmanager
def chromium() -> Iterator[object]:
    """One headless chromium (Debian's) for a test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
