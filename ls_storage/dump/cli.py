"""``python -m ls_storage.dump``: the command line. Option errors, connection errors that name a setting, and
constraints ApertureDB refuses print the message naming the option and exit 2 (as argparse does); other failures
(ApertureDB failing mid-dump, the output failing to write) exit 1. No failure prints a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence, TextIO

from ls_storage.client.connection import (ApertureDBError, ConnectionSettings, QueryFailed, open_connector,
                                          settings_from_key)
from ls_storage.client.constraints import ConstraintsError, parse_connected_to, parse_constraints
from ls_storage.client.source import PAGE_SIZE, ImageSelection, check_selection

from .formats import write_coco, write_media_items
from .reading import DumpSelection, Tally, read_images

PROG = "python -m ls_storage.dump"
OPTION_OF_FIELD = {"hostname": "--host", "port": "--port", "username": "--user", "password": "--password",
                   "token": "--token", "use_ssl": "--use-ssl/--no-ssl", "ca_cert": "--ca-cert",
                   "verify_hostname": "--no-verify-hostname", "use_rest": "--use-rest",
                   "connection_key": "--connection-key"}


class OptionError(Exception):
    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.lower() in ("1", "true", "yes", "on")


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog=PROG, description="Write a training-ready dataset (COCO or media-items JSON) "
                                "of the images in ApertureDB and the Label Studio annotations stored with them.",
                                epilog="Boxes (rotated too) and polygons are dumped; brush masks, keypoints and "
                                "ellipses are not (info.counts.regions_skipped counts them by type), nor are "
                                "cancelled annotations. Exit status: 0 done, 2 a bad option (named), 1 a failure.")
    c = p.add_argument_group("connection (as the ApertureDB storages take it; defaults from APERTUREDB_*)")
    c.add_argument("--host", "--hostname", dest="host", default=env("APERTUREDB_HOST", ""))
    c.add_argument("--port", type=int, default=env("APERTUREDB_PORT") or None,  # a bad one is refused as argparse does
                   help="default 55555 over TCP, 443 for REST over TLS, 80 for REST without")
    c.add_argument("--user", default=env("APERTUREDB_USER", ""))
    c.add_argument("--password", default=env("APERTUREDB_PASSWORD", ""))
    c.add_argument("--token", default=env("APERTUREDB_TOKEN", ""))
    c.add_argument("--use-ssl", action=argparse.BooleanOptionalAction, dest="use_ssl",
                   default=_flag("APERTUREDB_USE_SSL", True),
                   help="TLS (default on; --no-ssl turns it off)")
    c.add_argument("--no-ssl", action="store_false", dest="use_ssl", help=argparse.SUPPRESS)
    c.add_argument("--ca-cert", metavar="FILE", default=env("APERTUREDB_CA_CERT", ""), help="a PEM file")
    c.add_argument("--no-verify-hostname", action="store_false", dest="verify_hostname",
                   default=_flag("APERTUREDB_VERIFY_HOSTNAME", True))
    c.add_argument("--use-rest", action=argparse.BooleanOptionalAction, default=_flag("APERTUREDB_USE_REST", False),
                   help="ApertureDB's REST API instead of its TCP protocol")
    c.add_argument("--connection-key", metavar="KEY", default=env("APERTUREDB_KEY", ""),
                   help="ApertureDB's connection key; wins over the options above")
    s = p.add_argument_group("selection")
    s.add_argument("--constraints", metavar="JSON", help='on the images, either form: {"split": ["==", "train"]} '
                   'or ["all", ["$split", "==", "train"], ...]')
    s.add_argument("--connected-to", metavar="JSON", help='only images connected to one of these entities, as a '
                   'source storage\'s connected_to: {"class": "Dataset", "constraints": {"name": ["==", "a"]}, '
                   '"connection_class": "DatasetImage", "direction": "out"} (the last three optional), or a list '
                   'of such (any one will do)')
    s.add_argument("--project-id", type=int, metavar="N", help="only annotations of this Label Studio project "
                   "(LS_project_id; ApertureDB selects them)")
    s.add_argument("--label-version", metavar="V", help="only annotations whose LS_label_version is V")
    s.add_argument("--include-source-regions", action="store_true",
                   help="also the boxes and polygons ApertureDB holds that Label Studio did not write")
    s.add_argument("--annotated-only", action="store_true",
                   help="leave out images without a selected annotation (or source region, when included)")
    s.add_argument("--properties", type=_comma_list, metavar="A,B", help="image properties to keep (default all)")
    s.add_argument("--file-name-property", default="name", metavar="P",
                   help="the image property giving file_name (default name; the _uniqueid where missing)")
    s.add_argument("--limit", type=int, metavar="N", help="at most N images")
    s.add_argument("--page-size", type=int, default=PAGE_SIZE, metavar="N", help=f"images per query ({PAGE_SIZE})")
    o = p.add_argument_group("output")
    o.add_argument("--format", choices=("coco", "media-items"), default="coco")
    o.add_argument("--categories", type=_comma_list, metavar="A,B",
                   help="COCO: these categories with ids 1, 2, ... in this order; shapes of other labels left out")
    o.add_argument("--output", metavar="FILE", help="written whole or not at all (default, or -: stdout)")
    return p


def connection_settings(args: argparse.Namespace) -> ConnectionSettings:
    if args.connection_key:
        return settings_from_key(args.connection_key)
    ca_cert = ""
    if args.ca_cert:
        try:
            with open(args.ca_cert, encoding="utf-8") as pem:
                ca_cert = pem.read()
        except (OSError, UnicodeDecodeError) as error:
            raise OptionError("--ca-cert", f"cannot read {args.ca_cert}: {getattr(error, 'strerror', None) or error}")
    return ConnectionSettings(hostname=args.host, port=args.port, username=args.user, password=args.password,
                              token=args.token, use_ssl=args.use_ssl, ca_cert=ca_cert,
                              verify_hostname=args.verify_hostname, use_rest=args.use_rest)


def selection_of(args: argparse.Namespace) -> DumpSelection:
    try:
        constraints = parse_constraints(args.constraints)
    except ConstraintsError as error:
        raise OptionError("--constraints", str(error)) from None
    try:
        connected_to = tuple(parse_connected_to(args.connected_to))
    except ConstraintsError as error:
        raise OptionError("--connected-to", str(error)) from None
    for option, value in (("--limit", args.limit), ("--page-size", args.page_size)):
        if value is not None and value < 1:
            raise OptionError(option, "must be at least 1")
    if args.categories is not None and args.format != "coco":
        raise OptionError("--categories", "applies to --format coco only")
    return DumpSelection(constraints=constraints, connected_to=connected_to, project_id=args.project_id,
                         label_version=args.label_version,
                         include_source_regions=args.include_source_regions, annotated_only=args.annotated_only,
                         properties=tuple(args.properties) if args.properties is not None else None,
                         file_name_property=args.file_name_property, limit=args.limit)


def check_against_server(connector, selection: DumpSelection) -> None:
    """Asks ApertureDB for one image as the dump will, so that what it refuses in ``--constraints`` or
    ``--connected-to`` is an option error (the checks take a query each, with a limit of one)."""
    checks = []
    if selection.constraints:
        checks.append(("--constraints", ImageSelection(constraints=selection.constraints, with_regions=False)))
    if selection.connected_to:
        checks.append(("--connected-to", ImageSelection(constraints=selection.constraints, with_regions=False,
                                                        connected_to=selection.connected_to)))
    for option, image_selection in checks:
        try:
            check_selection(connector, image_selection)
        except QueryFailed as error:
            raise OptionError(option, str(error)) from None


def dump(connector, selection: DumpSelection, out: TextIO, output_format: str = "coco",
         categories: list[str] | None = None, page_size: int = PAGE_SIZE) -> dict:
    """Writes the dump to ``out``; returns its ``info``."""
    tally = Tally()
    images = read_images(connector, selection, tally, page_size)
    if output_format == "coco":
        return write_coco(images, out, selection, tally, categories)
    return write_media_items(images, out, selection, tally)


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    to_file = args.output not in (None, "-")
    partial = f"{args.output}.partial" if to_file else None
    connector = out = None
    try:
        selection = selection_of(args)
        settings = connection_settings(args)
        out = _open_output(args.output, partial) if to_file else stdout or sys.stdout
        connector = open_connector(settings)
        check_against_server(connector, selection)
        dump(connector, selection, out, args.format, args.categories, args.page_size)
        if to_file:
            out.close()
            os.replace(partial, args.output)  # written whole or not at all
    except OptionError as error:
        return _fail(error, 2)
    except ApertureDBError as error:
        return _fail(_named(error), 2 if error.field else 1)
    except BrokenPipeError:  # the reader of stdout went away (| head): nothing more to say to it
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that exiting flushes nowhere
        return 1
    except OSError as error:  # the output (or the temporary file COCO spools its annotations to) failed
        where = f" ({error.filename})" if error.filename else ""
        return _fail(f"the dump could not be written: {error.strerror or error}{where}", 1)
    finally:
        if connector is not None:
            connector.close()
        if to_file:
            if out is not None:
                out.close()
            if os.path.exists(partial):
                os.remove(partial)
    return 0


def _open_output(output: str, partial: str) -> TextIO:
    """The temporary file beside ``output`` that the dump goes to, opened before connecting (so that an output
    that cannot be written is told at once); renamed to ``output`` once the dump is whole."""
    try:
        return open(partial, "w", encoding="utf-8")
    except OSError as error:
        raise OptionError("--output", f"cannot write {output}: {error.strerror or error}") from None


def _named(error: ApertureDBError) -> str:
    option = OPTION_OF_FIELD.get(error.field or "")
    return f"{option}: {error}" if option else str(error)


def _fail(message, status: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status
