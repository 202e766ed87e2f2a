"""``python -m ls_storage.dump``: the command line. Option errors, and connection errors that name a setting, print
the message naming the option and exit 2; other failures exit 1."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence, TextIO

from ls_storage.client.connection import ApertureDBError, ConnectionSettings, open_connector, settings_from_key
from ls_storage.client.constraints import ConstraintsError, parse_constraints
from ls_storage.client.source import PAGE_SIZE

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


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog=PROG, description="Write a training-ready dataset (COCO or media-items JSON) "
                                "of the images in ApertureDB and the Label Studio annotations stored with them.")
    c = p.add_argument_group("connection (as the ApertureDB storages take it; defaults from APERTUREDB_*)")
    c.add_argument("--host", default=env("APERTUREDB_HOST", ""))
    c.add_argument("--port", type=int, default=int(env("APERTUREDB_PORT")) if env("APERTUREDB_PORT") else None,
                   help="55555 over TCP, 443 for REST over TLS (default)")
    c.add_argument("--user", default=env("APERTUREDB_USER", ""))
    c.add_argument("--password", default=env("APERTUREDB_PASSWORD", ""))
    c.add_argument("--token", default=env("APERTUREDB_TOKEN", ""))
    c.add_argument("--use-ssl", action=argparse.BooleanOptionalAction, dest="use_ssl",
                   default=env("APERTUREDB_USE_SSL", "true").lower() in ("1", "true", "yes", "on"),
                   help="TLS (default on; --no-ssl turns it off)")
    c.add_argument("--no-ssl", action="store_false", dest="use_ssl", help=argparse.SUPPRESS)
    c.add_argument("--ca-cert", metavar="FILE", default=env("APERTUREDB_CA_CERT", ""), help="a PEM file")
    c.add_argument("--no-verify-hostname", action="store_false", dest="verify_hostname")
    c.add_argument("--use-rest", action="store_true", help="ApertureDB's REST API instead of its TCP protocol")
    c.add_argument("--connection-key", metavar="KEY", default=env("APERTUREDB_KEY", ""),
                   help="ApertureDB's connection key; wins over the options above")
    s = p.add_argument_group("selection")
    s.add_argument("--constraints", metavar="JSON", help='on the images, either form: {"split": ["==", "train"]} '
                   'or ["all", ["$split", "==", "train"], ...]')
    s.add_argument("--project-id", type=int, metavar="N", help="only annotations of this Label Studio project")
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
    o.add_argument("--output", metavar="FILE", help="written whole or not at all (default: stdout)")
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
    for option, value in (("--limit", args.limit), ("--page-size", args.page_size)):
        if value is not None and value < 1:
            raise OptionError(option, "must be at least 1")
    if args.categories is not None and args.format != "coco":
        raise OptionError("--categories", "applies to --format coco only")
    return DumpSelection(constraints=constraints, project_id=args.project_id, label_version=args.label_version,
                         include_source_regions=args.include_source_regions, annotated_only=args.annotated_only,
                         properties=tuple(args.properties) if args.properties is not None else None,
                         file_name_property=args.file_name_property, limit=args.limit)


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
    try:
        selection = selection_of(args)
        connector = open_connector(connection_settings(args))
    except OptionError as error:
        return _fail(error, 2)
    except ApertureDBError as error:
        return _fail(_named(error), 2 if error.field else 1)
    try:
        if args.output is None:
            dump(connector, selection, stdout or sys.stdout, args.format, args.categories, args.page_size)
        else:
            _dump_to_file(connector, selection, args)
    except ApertureDBError as error:
        return _fail(_named(error), 1)
    finally:
        connector.close()
    return 0


def _dump_to_file(connector, selection: DumpSelection, args: argparse.Namespace) -> None:
    """Into ``args.output`` through a temporary file beside it, so that a failed dump leaves no partial file."""
    partial = f"{args.output}.partial"
    try:
        with open(partial, "w", encoding="utf-8") as out:
            dump(connector, selection, out, args.format, args.categories, args.page_size)
        os.replace(partial, args.output)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _named(error: ApertureDBError) -> str:
    option = OPTION_OF_FIELD.get(error.field or "")
    return f"{option}: {error}" if option else str(error)


def _fail(message, status: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status
