"""``percepta sheet``: one photo stylised by every style model, labelled, in a grid."""

from __future__ import annotations

import argparse

from . import options as o


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sheet", help="one photo stylised by every style model, labelled, in a grid")
    p.add_argument("photo", metavar="PHOTO")
    p.add_argument("-o", "--output", required=True, help="the sheet's image file")
    p.add_argument("-m", "--model", "--models", dest="models", nargs="+", metavar="MODEL",
                   help="these models (or blends) only (--models: the old spelling)")  # fmt: skip
    p.add_argument("--tile", type=o.positive_int, default=256, help="longer side of each picture (default 256)")
    p.add_argument("--max-size", type=o.positive_int, default=512, help="stylise at this longer side (default 512)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    o.add_style_scale(p)
    o.add_device(p)


def run(args: argparse.Namespace) -> None:
    from ..folders import plan_outputs
    from ..image import load_rgb, save_image
    from ..sheet import contact_sheet

    plan_outputs([args.photo], args.output, args.overwrite)  # the same rules as stylize: no overwrite
    sheet = contact_sheet(load_rgb(args.photo), args.models, tile=args.tile, max_size=args.max_size,
                          device=args.device, style_scale=args.style_scale)  # fmt: skip
    save_image(sheet, args.output)
    print(args.output)
