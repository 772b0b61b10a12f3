"""The `onebox` command: the recipes in the justfile call into this."""

from __future__ import annotations

import argparse
import os
import sys

from onebox import config, dockerfile, printer, probe, procfile, supervise
from onebox.errors import OneboxError

# Commands that read the projects' sources; the image holds only their venvs.
SOURCE_COMMANDS = frozenset({"sync", "lock", "test", "generate", "new-app", "remove-app"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onebox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sync = commands.add_parser("sync", help="sync every project's venv from its own uv.lock")
    sync.add_argument("--no-dev", action="store_true", help="leave out dev dependencies")

    lock = commands.add_parser("lock", help="resolve every project's uv.lock")
    lock.add_argument("--check", action="store_true", help="fail if any lockfile is stale")

    generate = commands.add_parser(
        "generate", help="write the Procfile and the Dockerfile's app stages from onebox.toml"
    )
    generate.add_argument("--check", action="store_true", help="fail if either has drifted")

    new_app = commands.add_parser("new-app", help="create apps/NAME as a working uv project")
    new_app.add_argument("name")
    new_app.add_argument("--python", default="3.11", help="the Python it pins (default: 3.11)")

    remove_app = commands.add_parser("remove-app", help="take apps/NAME out of the box")
    remove_app.add_argument("name")

    commands.add_parser("projects", help="list every uv project's folder, apps first")

    commands.add_parser("test", help="run each project's own tests in its own venv")

    serve = commands.add_parser(
        "serve",
        help="the container's command: the whole box, or NAME alone on all interfaces",
    )
    serve.add_argument(
        "name", nargs="?", default=os.environ.get("ONEBOX_SERVE"), help="an app, or gateway"
    )

    commands.add_parser("health", help="exit 0 when what `onebox serve` runs here is ready")

    up = commands.add_parser("up", help="run the Procfile under honcho")
    up.add_argument("processes", nargs="*", help="only these processes (default: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        box = config.load()
        if args.command in SOURCE_COMMANDS:
            box.check_paths()
        if args.command in ("sync", "lock", "test", "new-app", "remove-app"):
            # Imported only here: the image's runtime venv has no uv, and needs none.
            from onebox import projects, scaffold
        if args.command == "sync":
            projects.sync(box, dev=not args.no_dev)
        elif args.command == "lock":
            projects.lock(box, check=args.check)
        elif args.command == "generate" and args.check:
            procfile.check(box)
            dockerfile.check(box)
        elif args.command == "generate":
            for name, changed in (
                ("Procfile", procfile.write(box)),
                ("Dockerfile", dockerfile.write(box)),
            ):
                print(f"onebox: {name} {'written' if changed else 'already current'}")
        elif args.command == "new-app":
            folder = scaffold.new_app(box, args.name, args.python)
            print(
                f"onebox: created {folder.relative_to(box.root)}; run `just sync`, then `just dev`"
            )
        elif args.command == "remove-app":
            scaffold.remove_app(box, args.name)
            print(f"onebox: removed {args.name}")
        elif args.command == "projects":
            for _, folder in box.projects():
                print(folder.relative_to(box.root))
        elif args.command == "test":
            return projects.test(box)
        elif args.command == "serve" and args.name:
            box.project(args.name)
            return supervise.run(box, [args.name], alone=True)
        elif args.command == "serve":
            return supervise.run(box, [])
        elif args.command == "health":
            return probe.check(box, probe.served_here())
        elif args.command == "up":
            return supervise.run(box, args.processes)
    except OneboxError as exc:
        _say_error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _say_error(text: str) -> None:
    """One line on stderr: JSON when LOG_FORMAT asks for it, else plain."""
    try:
        printer.say(f"error: {text}", level="ERROR", output=sys.stderr)
    except OneboxError:
        # LOG_FORMAT itself is what is wrong, so it cannot choose the format.
        print(f"onebox: error: {text}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
