"""The command line's commands, one module each: its flags (``add_parser``) beside the code that reads them
(``run``), after diffusers' ``commands/``. A module's ``NAME`` is its command (default: the module's name) and
``TORCH = True`` marks the commands that need PyTorch (``percepta[train]``). :mod:`percepta.cli` builds the
parser from :data:`MODULES`, dispatches, and maps errors to exit codes. Only torch-free modules are imported
at the top of each, so that ``percepta --help`` is instant."""

from __future__ import annotations

from types import ModuleType

from . import (
    bench,
    evaluation,
    export,
    fetch_weights,
    info,
    models,
    optimize,
    serve,
    sheet,
    stylize,
    train,
    upscale,
)

#: in the order ``percepta --help`` lists them
MODULES: tuple[ModuleType, ...] = (
    stylize, sheet, upscale, export, evaluation, models, optimize, train, bench, serve, info, fetch_weights,
)  # fmt: skip


def name(module: ModuleType) -> str:
    return getattr(module, "NAME", module.__name__.rsplit(".", 1)[-1])


COMMANDS = {name(m): m for m in MODULES}
TORCH_COMMANDS = frozenset(n for n, m in COMMANDS.items() if getattr(m, "TORCH", False))
