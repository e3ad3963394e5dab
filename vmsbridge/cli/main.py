"""Entry point: parse, dispatch, and the one place errors become exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from vmsbridge import __version__, log_output
from vmsbridge.cli import (
    clery,
    clip,
    config_cmd,
    crimelog,
    db,
    demo,
    emulate,
    events,
    evidence,
    firelog,
    health,
    incidents,
    masks,
    notify,
    rules,
    run,
    video,
)
from vmsbridge.cli import errors as cli_errors
from vmsbridge.errors import (
    ConfigError,
    ConfigProblem,
    DatabaseNotReady,
    NotFound,
    ValidationFailed,
    VmsBridgeError,
)
from vmsbridge.plugins import ConnectorPlugin, load_plugins

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EPILOG = """\
exit codes: 0 done; 1 could not do it (database unreachable or not upgraded, incident not found);
2 bad configuration or arguments (every problem is named); 3 a bug in vmsbridge; 130 interrupted.

start here:
  vmsbridge demo                      the whole pipeline on the example campus, nothing to set up
  vmsbridge check-config site.toml    validate your campus before running
  vmsbridge run --config site.toml    the service (PostgreSQL: --db postgresql://...)
"""


def build_parser(plugins: Mapping[str, ConnectorPlugin] | None = None) -> argparse.ArgumentParser:
    """Every command, with each installed connector plug-in's (``vmsbridge <kind> ...``)."""
    plugins = load_plugins() if plugins is None else plugins
    parser = argparse.ArgumentParser(
        prog="vmsbridge",
        description="Bridge between a campus VMS, its cameras and emergency phones, and the records "
        "campus police keep: incidents, evidence, Clery Act logs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vmsbridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        demo,
        run,
        rules,
        config_cmd,
        db,
        incidents,
        events,
        crimelog,
        firelog,
        clery,
        notify,
        health,
    ):
        module.add_parser(sub)
    for kind, plugin in plugins.items():
        try:
            plugin.add_cli(sub)
        except argparse.ArgumentError as exc:
            raise ConfigError(
                "connector plug-ins", [ConfigProblem(f"vmsbridge.connectors: {kind}", str(exc))]
            ) from None
    emulate.add_parser(sub, plugins)
    for module in (video, clip, masks, evidence):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
    except ConfigError as exc:  # a broken or clashing connector plug-in: nothing can be parsed
        print(f"vmsbridge: configuration error in {exc}", file=sys.stderr)
        return EXIT_USAGE
    cli_errors.remember_parsers(parser)
    args = parser.parse_args(argv)
    log_output.configure(getattr(args, "log_level", "WARNING"), sys.stderr)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"vmsbridge: configuration error in {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationFailed as exc:
        flags = cli_errors.FlagNames.of(args)
        print(f"vmsbridge: configuration error in {cli_errors.as_config_error(exc, flags)}", file=sys.stderr)
        return EXIT_USAGE
    except DatabaseNotReady as exc:
        print(f"vmsbridge: {exc}: run `vmsbridge db upgrade --db {exc.url}`", file=sys.stderr)
        return EXIT_FAILED
    except NotFound as exc:
        print(f"vmsbridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except VmsBridgeError as exc:
        print(f"vmsbridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader stopped early (`| head`): not an error. Python would complain again when it
        # flushes stdout at exit, so point stdout at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:  # unreachable database server, unreadable file: the user can act on it
        print(f"vmsbridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception:
        logging.getLogger("vmsbridge").exception("unexpected error (a bug: please report it with this trace)")
        return EXIT_BUG


def entry_point() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    entry_point()
