"""Command line: ``python -m wslearn serve|release|build``.

- ``serve echo [--port N]``: run a course server in the terminal (the stand-in
  for the public echo host of the 2016 article), until Ctrl-C.
- ``release [--out work/] [--force]``: write blank copies of the notebooks; an
  existing copy the learner changed is kept, ``--force`` starts over (the old
  folder is moved aside as a dated backup).
- ``build [notebooks/src/NN_name.py ...]``: rebuild notebooks from their sources.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent


async def _serve(name: str, port: int) -> None:
    from wslearn import servers

    server = await servers.FACTORIES[name](port=port).start()
    try:
        print(f"{name} server listening on {server.url}  (Ctrl-C to stop)", flush=True)
        await asyncio.Event().wait()
    finally:
        # Ctrl-C cancels this task: close every client, cutting off within 2 s
        # any that does not answer, so the command always ends promptly and cleanly.
        await server.stop(timeout=2.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wslearn", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run a course server on 127.0.0.1")
    from wslearn.servers import FACTORIES

    serve.add_argument("name", choices=sorted(FACTORIES))
    serve.add_argument("--port", type=int, default=0, help="port (default: any free one)")

    release = commands.add_parser("release", help="write student copies of the notebooks")
    release.add_argument("--source", type=Path, default=ROOT / "notebooks")
    release.add_argument("--out", type=Path, default=Path("student"))
    release.add_argument(
        "--force", action="store_true", help="start over: move the old folder aside, then release"
    )

    build = commands.add_parser("build", help="rebuild notebooks from notebooks/src")
    build.add_argument("sources", type=Path, nargs="*")
    build.add_argument("--no-execute", action="store_true")

    args = parser.parse_args(argv)
    if args.command == "serve":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args.name, args.port))
        print("stopped")
    elif args.command == "release":
        from wslearn.exercises.workspace import update_workspace

        update = update_workspace(args.source, args.out, force=args.force)
        for line in update.lines() or [f"{args.out}: up to date"]:
            print(line)
    elif args.command == "build":
        from wslearn.nbsource import build as build_notebook

        sources = args.sources or sorted((ROOT / "notebooks" / "src").glob("*.py"))
        for source in sources:
            print(f"built {build_notebook(source, execute=not args.no_execute)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
