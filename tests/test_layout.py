"""The package's shape: a torch-free command line and public API surface, one home per name."""

from __future__ import annotations

import subprocess
import sys
import types

import percepta


def _modules_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return set(done.stdout.split())


def test_help_and_the_model_list_do_not_import_torch() -> None:
    assert "torch" not in _modules_after("import percepta")
    assert "torch" not in _modules_after("from percepta.cli import build_parser; build_parser().format_help()")
    assert "torch" not in _modules_after("from percepta.cli import main; main(['models'])")
    assert "torch" not in _modules_after("import percepta.hyperparams, percepta.arch, percepta.train.options")


def test_public_api_names_are_functions_not_modules() -> None:
    for name in percepta.__all__:
        value = getattr(percepta, name)
        assert not isinstance(value, types.ModuleType), name
    assert callable(percepta.upscale) and callable(percepta.optimize) and callable(percepta.stylize)
    from percepta import optimization, upscaling

    assert callable(percepta.upscale) and percepta.upscale is upscaling.upscale  # not shadowed by the module
    assert percepta.optimize is optimization.stylize_by_optimization


def test_the_papers_defaults_live_in_one_place() -> None:
    from percepta import hyperparams as hp
    from percepta.cli import build_parser
    from percepta.train.options import TrainOptions

    style = TrainOptions("style", "photos", "m.safetensors", style="s.jpg")
    sr = TrainOptions("sr", "photos", "m.safetensors")
    assert (style.size, style.iters, style.batch_size, style.lr) == (hp.STYLE_CROP, hp.STYLE_ITERATIONS, 4, 1e-3)
    assert (sr.size, sr.iters, sr.loss.sr_loss) == (hp.SR_PATCH, hp.SR_ITERATIONS, "feat")
    assert style.loss == hp.LossWeights() and style.loss.style == hp.STYLE_WEIGHT
    from percepta.commands.train import train_options

    args = build_parser().parse_args(["train", "style", "--style", "s.jpg", "--data", "d", "-o", "m.safetensors",
                                      "--recipe", "paper"])  # fmt: skip
    paper = train_options(args)  # the paper's recipe: exactly TrainOptions' defaults
    assert (paper.loss, paper.net, paper.size, paper.style_size, paper.iters, paper.time_budget) == (
        style.loss, style.net, style.size, style.style_size, style.iters, None)  # fmt: skip
    args = build_parser().parse_args(["train", "sr", "--data", "d", "-o", "m.safetensors"])
    assert args.size == hp.SR_PATCH and args.iters is None  # None: the task's paper default in TrainOptions


def _imports(path) -> set[str]:
    """The percepta modules ``path`` imports anywhere (top level or inside functions), as dotted names."""
    import ast

    package = path.relative_to(SRC).with_suffix("").parts
    here = package[:-1]  # the package a module (or an __init__) sits in
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(here[: len(here) - node.level + 1])
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found |= {f"{module}.{a.name}" for a in node.names} | ({module} if node.module else set())
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("percepta"):
            found.add(node.module)
    return found


SRC = __import__("pathlib").Path(__file__).resolve().parents[1] / "src"


def test_no_import_circles_in_the_package() -> None:
    """Every percepta module imports (at the top or lazily) only modules that do not import it back, at any
    depth: the arrows run one way (modelfile -> graph, export; infer -> modelfile; cli -> commands -> ...)."""
    modules = {}
    for path in sorted((SRC / "percepta").rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph = {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}
    graph = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in graph.items()}  # a package's own init

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for m in graph[todo.pop()]:
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return seen

    circles = sorted(n for n in graph if n in reach(n) and n != "percepta")
    assert circles == [], circles


def test_the_architecture_page_lists_every_module() -> None:
    """docs/architecture.md is written by scripts/architecture_page.py from the modules' docstrings."""
    done = subprocess.run([sys.executable, str(SRC.parent / "scripts" / "architecture_page.py"), "--check"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, "docs/architecture.md is stale: run python scripts/architecture_page.py"
    page = (SRC.parent / "docs" / "architecture.md").read_text()
    for path in (SRC / "percepta").rglob("*.py"):
        name = ".".join(path.relative_to(SRC / "percepta").with_suffix("").parts)
        assert f"| `{name}` |" in page, name


def test_the_command_line_is_small_and_functions_are_short() -> None:
    import ast

    assert len((SRC / "percepta" / "cli.py").read_text().splitlines()) < 250
    long = []
    for path in (SRC / "percepta").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                long.append(f"{path.name}:{node.name}")
    assert long == [], long
