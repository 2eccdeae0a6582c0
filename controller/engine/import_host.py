"""A language host for `pulumi import` on an engine built without one.

`pulumi import` asks the project's language host (for amlctl, Python: `pulumi-language-python`)
which plugins the program needs, even when it generates no code. An official Pulumi install ships
that host; the engine scripts/build-pulumi-engine.sh builds from Go modules does not (its module is
not on the Go module proxy), and amlctl's own commands never need it: the Automation API serves
inline programs itself. This stands in for it during an import only, with the Automation API's own
language server (pulumi.automation._server.LanguageServer), which answers that the program needs
no plugin and runs nothing.

    import_host.path_with_host(state_root, PATH) -> the PATH to give the engine for `pulumi import`

Run as `python -m controller.engine.import_host`, it serves until the engine ends it, having
printed its port first, as every Pulumi plugin does.
"""
from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

HOST = "pulumi-language-python"


def path_with_host(state_root: Path, path: str) -> str:
    """`path`, with a folder holding the stand-in first unless a real language host is on it."""
    if shutil.which(HOST, path=path):
        return path
    folder = state_root / ".import-host"
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / HOST
    text = f"#!/bin/sh\nexec {sys.executable} -m controller.engine.import_host \"$@\"\n"
    if not script.exists() or script.read_text() != text:
        tmp = folder / f".{HOST}.{os.getpid()}"
        tmp.write_text(text)
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(tmp, script)
    return os.pathsep.join([str(folder), path])


def serve() -> None:
    from concurrent import futures

    import grpc
    from pulumi.automation._server import LanguageServer
    from pulumi.runtime.proto import language_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageServer(lambda: None), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    serve()
