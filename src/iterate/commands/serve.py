"""``iterate serve``: the production model over HTTP (the app is :mod:`iterate.repo.serving`)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from iterate import params as params_module


def add_parsers(sub) -> None:
    serve = sub.add_parser("serve", help="serve production over HTTP: POST /predict, GET "
                           "/health, GET /version; follows promote and rollback")
    serve.add_argument("--host", help="address to bind (default: serve.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: serve.port; 0: any free one)")
    serve.add_argument("--shadow", type=Path, metavar="PATH",
                       help="a model bundle folder that scores every request in shadow: "
                       "logged, never returned (default: serve.shadow)")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from iterate.repo import scoring, serving

    p = params_module.load(args.params)
    settings = p.serve
    given = {"host": args.host, "port": args.port,
             "shadow": None if args.shadow is None else str(args.shadow)}
    settings = dataclasses.replace(settings, **{k: v for k, v in given.items() if v is not None})
    serving.serve(settings, keep=scoring.logged_context(p.contract))
    return 0
