"""``percepta serve``: the web page and HTTP API (``percepta[serve]``)."""

from __future__ import annotations

import argparse

from ..errors import PerceptaError
from . import options as o


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="a web page and HTTP API for stylize, upscale and training (percepta[serve])")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default %(default)s)")
    p.add_argument("--workers", type=o.positive_int, default=1, help="images (and webcam streams) at once (default 1)")
    p.add_argument("--queue", type=o.non_negative_int, default=8, help="requests that may wait; more: 503 (default 8)")
    p.add_argument("--timeout", type=o.duration, default=120.0, help="answer within this or 504 (default 120s)")
    p.add_argument("--max-upload-mb", type=o.rate, default=20.0, help="largest upload in MiB; more: 413 (default 20)")
    p.add_argument("--max-pixels", type=o.positive_int, default=40_000_000, help="largest upload in pixels (40M)")
    p.add_argument("--max-side", type=o.positive_int, default=1024, help="longest side of a stylised result (1024)")
    p.add_argument("--max-output-pixels", type=o.positive_int, default=4_000_000,
                   help="largest super-resolution result in pixels (default 4M)")  # fmt: skip
    p.add_argument("--max-connections", type=o.positive_int, default=128, help="open connections (default 128)")
    p.add_argument("--no-train", dest="train", action="store_false",
                   help="no training from the page (default: offered where PyTorch is installed)")  # fmt: skip
    p.add_argument("--train-minutes-max", type=o.rate, default=30.0, metavar="N",
                   help="longest training job a client may ask for, in minutes (default 30)")  # fmt: skip
    p.add_argument("--train-threads", type=o.positive_int, default=1, metavar="N",
                   help="PyTorch threads of a training job, which runs at a lower priority (default 1)")  # fmt: skip
    o.add_device(p)


def run(args: argparse.Namespace) -> None:
    from importlib.util import find_spec

    missing = [n for n in ("fastapi", "uvicorn") if find_spec(n) is None]
    if find_spec("python_multipart") is None and find_spec("multipart") is None:
        missing.append("python-multipart")
    if missing:
        raise PerceptaError(f"percepta serve needs {', '.join(missing)}: pip install 'percepta[serve]'")
    if not 0 <= args.port <= 65535:
        raise PerceptaError(f"--port must be between 0 and 65535, not {args.port}")
    from ..serve.app import ServeConfig, serve

    config = ServeConfig(workers=args.workers, queue=args.queue, timeout=args.timeout, device=args.device,
                         max_upload_bytes=round(args.max_upload_mb * 2**20), max_pixels=args.max_pixels,
                         max_side=args.max_side, max_output_pixels=args.max_output_pixels, train=args.train,
                         train_minutes_max=args.train_minutes_max, train_threads=args.train_threads)  # fmt: skip
    serve(config, args.host, args.port, args.max_connections)
