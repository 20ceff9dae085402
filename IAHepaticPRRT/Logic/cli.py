"""The ``iahprrt`` command line (also ``python -m iahepaticprrt``).

Each subcommand lives in ``commands/<name>.py`` with ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Heavy imports stay inside ``run`` so ``--help`` answers at once.

Exit status: 0 success (also when the reader of the output closes the pipe); 2 bad input or usage
(one line on stderr naming the file and field); 3 a computation that did not reach a trustworthy
result; 1 an unexpected failure (one line asking for a report; the traceback with ``--debug``);
130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from pathlib import Path

from .errors import ComputationError, InputError
from .version import __version__

#: Subcommand name -> module under iahepaticprrt.commands, in the order --help lists them.
COMMANDS = {
    "demo": "demo",
    "series": "series",
    "convert": "convert",
    "phantom": "phantom",
    "kinetics": "kinetics",
    "dosimetry": "dosimetry",
    "suv": "suv",
    "uptake": "uptake",
    "run": "run",
    "response": "response",
    "batch": "batch",
    "register": "register",
    "propagate": "propagate",
}

EXIT_INTERNAL_ERROR = 1
EXIT_INPUT_ERROR = 2
EXIT_COMPUTATION_ERROR = 3
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iahprrt",
        description="Intra-arterial versus intravenous PRRT: 68Ga PET uptake comparison and 177Lu SPECT/CT "
                    "dosimetry (IAHepaticPRRT).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an unexpected error (to report it)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress on stderr (errors are still shown)")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f".commands.{module_name}", __package__)
        command_parser = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                                        parents=[common])
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at interpreter exit
        return status
    except InputError as exc:
        print(f"iahprrt {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except ComputationError as exc:
        print(f"iahprrt {args.command}: failed: {exc}", file=sys.stderr)
        return EXIT_COMPUTATION_ERROR
    except BrokenPipeError:
        # The reader of our output went away (``iahprrt series DIR | head``): not an error. Point
        # stdout at devnull so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"iahprrt {args.command}: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if args.debug:
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"iahprrt {args.command}: internal error: {type(exc).__name__}: {exc} (in {Path(where.filename).name}, "
              f"line {where.lineno}). Please report it with the output of the same command run with --debug.",
              file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
