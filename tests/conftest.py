"""Shared fixtures: the project's local OpenRouter server and a real IPython shell."""

from __future__ import annotations

import gc
import tracemalloc
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings
from notebook_support import loaded_shell, point_at

from orjupyter.fakerouter import FakeRouter

if TYPE_CHECKING:
    from jupyter_client.blocking.client import BlockingKernelClient

# Hypothesis's per-example deadline is a timing assertion: on a loaded machine a
# 2-microsecond example can take 400 ms and fail for no fault of the code. Off everywhere.
settings.register_profile("orjupyter", deadline=None)
settings.load_profile("orjupyter")

TEST_KEY = "sk-or-v1-TESTKEY-0123456789abcdef-do-not-leak"


def sent_images(content: list[dict]) -> list[tuple[int, int, str]]:
    """(width, height, media type) of the images in a message's content, decoded."""
    import base64
    import io

    from PIL import Image

    sizes = []
    for part in content:
        if part["type"] != "image_url":
            continue
        header, _, payload = part["image_url"]["url"].partition(",")
        with Image.open(io.BytesIO(base64.b64decode(payload))) as image:
            sizes.append((image.width, image.height, header[5:].split(";")[0]))
    return sizes


@pytest.fixture(autouse=True)
def closes_what_it_opens() -> Iterator[None]:
    """Fail the test that left a socket, file, client or event loop open.

    Unclosed, such an object warns (`ResourceWarning`) only when the garbage collector
    frees it, which may be during a later, innocent test. Collecting at the end of each
    test blames the one that left it; with PYTHONTRACEMALLOC=20 the failure says where
    the object was made."""
    yield
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    if leaks:
        pytest.fail(
            "left open (found when collected at the end of this test):\n"
            + "\n".join(_leak(w) for w in leaks),
            pytrace=False,
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collecting imported lives as long as the process: set it aside (`gc.freeze`),
    so the collection after each test scans only what the tests made."""
    gc.collect()
    gc.freeze()


def _leak(warning: warnings.WarningMessage) -> str:
    made = tracemalloc.get_object_traceback(warning.source) if warning.source else None
    where = "\n".join(made.format()) if made else "  (PYTHONTRACEMALLOC=20 says where it was made)"
    return f"{warning.message}\n{where}"


@pytest.fixture(scope="session")
def router_server() -> Iterator[FakeRouter]:
    with FakeRouter() as server:
        yield server


@pytest.fixture
def router(
    router_server: FakeRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> FakeRouter:
    """A clean local OpenRouter, with the environment pointing at it."""
    router_server.reset()
    point_at(monkeypatch, tmp_path, router_server.base_url, TEST_KEY)
    return router_server


@pytest.fixture
def shell(router: FakeRouter) -> Iterator[object]:
    """A real InteractiveShell with orjupyter loaded (no kernel: the text view)."""
    yield from loaded_shell()


@pytest.fixture
def kernel(router: FakeRouter) -> Iterator[BlockingKernelClient]:
    """A real ipykernel (its environment points at the local server), and a client."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


# --- a real PostgreSQL server (Debian's binaries), for the team ledger's tests ---


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """One throwaway PostgreSQL cluster for this test process (skipped, saying why, when
    no server binaries are installed)."""
    from postgres_support import SKIP_REASON, PostgresServer, server_binaries

    bindir = server_binaries()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def team_url(postgres: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh database's URL (password included); the spool and figures under tmp_path."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    for name in ("PGPASSWORD", "PGPASSFILE", "PGHOST", "PGUSER", "PGDATABASE", "PGPORT"):
        monkeypatch.delenv(name, raising=False)
    return str(postgres.url(postgres.new_database()))


# --- browser tests: one JupyterLab and one Chromium per module, started only when used ---


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests drive Debian's Chromium; without it they are skipped, saying why."""
    from browser_support import CHROMIUM

    if Path(CHROMIUM).exists():
        return
    skip = pytest.mark.skip(reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def lab_router() -> Iterator[FakeRouter]:
    """The local OpenRouter that the browser tests' kernels call."""
    with FakeRouter(delay=0.0) as server:
        yield server


def lab_env(router: FakeRouter) -> dict[str, str]:
    return {"OPENROUTER_BASE_URL": router.base_url, "OPENROUTER_API_KEY": TEST_KEY}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, lab_router: FakeRouter) -> Iterator[object]:
    from browser_support import JupyterLab

    server = JupyterLab(tmp_path_factory.mktemp("jupyterlab"), lab_env(lab_router))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by playwright (never a downloaded browser)."""
    from browser_support import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[object]:
    """A fresh browser context (clipboard allowed, for the Copy buttons)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    ctx.set_default_timeout(30_000)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def open_notebook(
    lab: Any, context: Any, lab_router: FakeRouter, request: pytest.FixtureRequest
) -> Iterator[object]:
    """Write this test's notebook (one code cell per source) and open it in a new page;
    afterwards, fail on any uncaught error the page raised."""
    from browser_support import notebook_opener

    lab_router.reset()
    yield from notebook_opener(lab, context, f"{request.node.name}.ipynb")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close IPython's own event loop (top-level await in the `shell` tests), which
    IPython leaves open for the life of the process."""
    from IPython.core import async_helpers

    loop = async_helpers._asyncio_event_loop
    if loop is not None and not loop.is_closed() and not loop.is_running():
        loop.close()
