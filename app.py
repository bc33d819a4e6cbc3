"""samdec app: `python app.py [--host H --port P --corpus FILE]` (http://127.0.0.1:7860).

This file only launches; the page is built by `samdec.ui.page.build_demo` (see samdec/ui/).
"""

from __future__ import annotations

import os

# Before torch loads: how OpenMP threads wait between the many parallel regions of a step.
# Spinning for long (libgomp's default) keeps the CPU from anything else that wants it (the
# page's rendering, another session, a neighbour on a shared host) and makes forward passes far
# slower beside other work; sleeping at once (OMP_WAIT_POLICY=PASSIVE) pays a wake-up per
# region, which slows a step alone. A short spin does neither. The README's load test runs the
# app with it, and `python -m samdec prepare` measures under it. An operator's own
# OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
from samdec.runtime.machine import serving_omp_env  # imports no torch

os.environ.update(serving_omp_env())

import argparse
import logging
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="samdec: see SAM-Decoding work")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--corpus", default=None, help="static corpus (JSONL or text) to index")
    parser.add_argument(
        "--models",
        default=None,
        help="the models visitors may choose, comma-separated: 'bundled', hub ids, folders "
        "(default: $SAMDEC_MODELS, else bundled)",
    )
    parser.add_argument("--running", type=int, default=2, help="requests decoding at once")
    parser.add_argument("--waiting", type=int, default=6, help="more requests that may wait")
    parser.add_argument("--share", action="store_true", help="a public gradio.live link")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from samdec.ui.device import spaces
    from samdec.ui.page import build_demo, launch_kwargs
    from samdec.ui.runtime import cap_malloc_arenas, configure

    cap_malloc_arenas()  # before the serving threads start: RSS stays flat under load
    try:
        runtime = configure(args.corpus, args.models, args.running, args.waiting)
    except ValueError as exc:  # a model that is neither a folder nor a hub id, bad bounds
        raise SystemExit(f"app.py: error: {exc}") from None
    runtime.warm_up(zerogpu=spaces is not None)
    demo = build_demo(ASSETS)
    demo.launch(
        server_name=args.host, server_port=args.port, share=args.share, **launch_kwargs(ASSETS)
    )


if __name__ == "__main__":
    main()
