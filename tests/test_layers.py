"""The layers of DESIGN.md, enforced: a module imports only modules of its own group or of lower layers, and no
modules import each other in a cycle (lazy imports inside functions count too). Every module of the package must
be placed in a group below, so a new module is placed deliberately. One departure from DESIGN.md's order: the
sweeps sit below the CLI (it checks a sweep's plan before Hydra starts the sweep), not above it.

KNOWN_VIOLATIONS would list imports that break the layering (none since the leaf `spec` module replaced the data
package's `ProblemInfo`); the test fails on any other violation, and on a listed one that no longer exists.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("t2t_torch", "hydra_plugins")
FACES = {"t2t_torch"}  # the package face: `import t2t_torch` registers the built-ins (a side effect, not a layer)

# Layer -> groups -> module prefixes. Lower layers never import higher ones; groups of one layer never import
# each other.
LAYERS: list[dict[str, tuple[str, ...]]] = [
    {"errors": ("t2t_torch.errors",), "spec": ("t2t_torch.spec",)},
    {"base": ("t2t_torch.hparams",),
     "text": ("t2t_torch.text",), "modalities": ("t2t_torch.modalities",), "optim": ("t2t_torch.optim",),
     "metrics": ("t2t_torch.metrics",),
     "search": ("t2t_torch.decoding", "t2t_torch.decoding.beam_search", "t2t_torch.decoding.cache",
                "t2t_torch.decoding.length_penalty", "t2t_torch.decoding.sampling", "t2t_torch.decoding.text_files")},
    {"registry": ("t2t_torch.registry", "t2t_torch.usr_dir")},
    {"datamodules": ("t2t_torch.datamodules",)},  # serving data, typed against a protocol: below problems/
    {"sources": ("t2t_torch.problems.sources",)},  # where problems read data from: below every problem family
    {"problem base": ("t2t_torch.problems", "t2t_torch.problems.problem")},
    # The problem families import only the base, the sources and their own family (image/ and speech/ each name
    # their modules in their __init__ for code written against the old flat layout).
    {"algorithmic": ("t2t_torch.problems.algorithmic",), "text problems": ("t2t_torch.problems.text",),
     "image problems": ("t2t_torch.problems.image",), "speech problems": ("t2t_torch.problems.speech",),
     "models": ("t2t_torch.models",)},
    {"problem settings": ("t2t_torch.problems.settings",)},
    {"checkpoints": ("t2t_torch.checkpoints",)},
    {"inference": ("t2t_torch.inference",)},
    {"callbacks": ("t2t_torch.callbacks",)},
    {"run": ("t2t_torch.run",)},
    {"sweeps": ("t2t_torch.sweeps",)},  # below the CLI, which checks a sweep's plan before Hydra starts it
    {"cli": ("t2t_torch.cli",)},
    {"top": ("t2t_torch.regress", "hydra_plugins")},
]

KNOWN_VIOLATIONS: set[tuple[str, str]] = set()  # (importer, imported) pairs that break the layering; none left


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = modules()


def imports(name: str) -> set[str]:
    """The package modules `name` imports, anywhere in the file (`from a import b` counts as a.b if that is a
    module)."""
    path = MODULES[name]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")[: len(name.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join([*parts, base] if base else parts)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def place(name: str) -> tuple[int, str]:
    """(layer, group) of a module: the group with the longest matching prefix."""
    best = max(((len(prefix), layer, group) for layer, groups in enumerate(LAYERS) for group, prefixes in groups.items()
                for prefix in prefixes if name == prefix or name.startswith(prefix + ".")), default=None)
    assert best is not None, f"{name} is in no layer: add it to LAYERS in {__file__}"
    return best[1], best[2]


GRAPH = {name: imports(name) - FACES for name in MODULES if name not in FACES}


def test_every_module_has_a_layer():
    for name in GRAPH:
        place(name)


def test_no_module_imports_a_higher_layer_or_a_sibling_group():
    violations = set()
    for importer, targets in GRAPH.items():
        (layer, group) = place(importer)
        for target in targets:
            target_layer, target_group = place(target)
            if target_layer > layer or (target_layer == layer and target_group != group):
                violations.add((importer, target))
    assert violations - KNOWN_VIOLATIONS == set(), "imports against DESIGN.md's layers"
    assert KNOWN_VIOLATIONS - violations == set(), "gone: remove from KNOWN_VIOLATIONS"


def test_no_import_cycles():
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(GRAPH.get(name, ())):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert cycles == []
