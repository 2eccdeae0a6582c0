"""Azurite, Microsoft's Azure Storage emulator (the `azurite` npm package), for the team-backend
tests: installed by `make azurite` (which `make test` runs) into ~/.cache/amlctl/azurite/<version>,
outside the repository, and started by the tests on a free loopback port.

    python tests/azurite.py install    # npm install of the pinned version; a no-op when it is there

Only its blob service is used: it is what Pulumi's azblob backend speaks.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

VERSION = "3.37.0"
# The emulator's one well-known account and key, the same in every Azurite and in Microsoft's docs
# (learn.microsoft.com/azure/storage/common/storage-use-azurite, "Well-known storage account and key"):
# not a secret of anyone's.
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER = "state"


def prefix() -> Path:
    return Path(os.environ.get("AMLCTL_AZURITE_ROOT") or Path.home() / ".cache" / "amlctl" / "azurite") / VERSION


def binary() -> Path:
    return prefix() / "node_modules" / ".bin" / "azurite-blob"


def install() -> Path:
    if binary().is_file():
        return binary()
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("make azurite: npm is not on PATH (Node.js 18 or newer is needed for the team-backend tests)")
    subprocess.run([npm, "install", "--prefix", str(prefix()), "--no-audit", "--no-fund", "--loglevel=error",
                    f"azurite@{VERSION}"], check=True)
    return binary()


@dataclass(frozen=True)
class Blob:
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def backend_url(self) -> str:
        """Pulumi's azblob backend, reaching the emulator through gocloud's URL parameters (the
        engine's gocloud.dev/blob/azureblob: localemu puts the account in the path, domain and
        protocol make it plain http on this port)."""
        return (f"azblob://{CONTAINER}?storage_account={ACCOUNT}&localemu=true"
                f"&domain=127.0.0.1:{self.port}&protocol=http")

    @property
    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_ACCOUNT": ACCOUNT, "AZURE_STORAGE_KEY": KEY, "AMLCTL_BACKEND_URL": self.backend_url}

    def container(self):
        from azure.storage.blob import BlobServiceClient
        return BlobServiceClient(self.endpoint, credential={"account_name": ACCOUNT, "account_key": KEY}) \
            .get_container_client(CONTAINER)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workdir: Path) -> tuple[subprocess.Popen, Blob]:
    """Azurite's blob service on a free loopback port, in memory, with the state container made."""
    if not binary().is_file():
        raise RuntimeError(f"Azurite {VERSION} is not installed at {binary()}: run `make azurite` "
                           "(`make test` does), or python tests/azurite.py install")
    for _ in range(5):  # a port found free can be taken before Azurite binds it: try another
        port = _free_port()
        proc = subprocess.Popen([str(binary()), "--blobHost", "127.0.0.1", "--blobPort", str(port),
                                 "--inMemoryPersistence", "--silent", "--disableTelemetry", "--skipApiVersionCheck"],
                                cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                blob = Blob(port)
                blob.container().create_container()
                return proc, blob
            except OSError:
                time.sleep(0.1)
        stop(proc)
    raise RuntimeError(f"Azurite did not start: {proc.stdout.read() if proc.stdout else ''}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        raise SystemExit("usage: python tests/azurite.py install")
    print(install())
