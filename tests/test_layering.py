"""The package's layers: which subpackages may import which.

Every module is parsed with `ast` (nothing is imported), and every import
counts: top-level, inside functions and classes (lazy imports), relative
ones, and `importlib.import_module` / `__import__` of a constant name.
"""

import ast
from pathlib import Path

import pytest

import ragan_tf

PACKAGE_DIR = Path(ragan_tf.__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name

# subpackage -> the packages none of its modules may import
RULES = {
    "data": ("ragan_tf.inference",),
    "faces": (
        "ragan_tf.data",
        "ragan_tf.inference",
        "ragan_tf.evaluation",
        "ragan_tf.models",
        "ragan_tf.training",
        "ragan_tf.export",
    ),
    "evaluation": ("ragan_tf.inference",),
    "models": ("ragan_tf.training", "ragan_tf.export", "ragan_tf.evaluation", "ragan_tf.inference", "ragan_tf.faces"),
}


def module_name(path):
    """(dotted module name, whether it is a package's `__init__`) of a file in the package."""
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _resolve_relative(module, is_package, level, name):
    """The absolute name of `from <level dots><name> import ...` written in `module`."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > len(package) - 1:
        raise ValueError(f"{module}: relative import beyond the top-level package (level {level}).")
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imported_names(source, module, is_package=False):
    """(line, absolute module name) for every import in `source`, wherever it is.

    `from X import y` yields X and X.y (y may be a submodule), so
    `from ragan_tf import inference` counts as importing `ragan_tf.inference`.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            if node.module:
                found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
            first = node.args[0]
            if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
                if isinstance(first.value, str) and not first.value.startswith("."):
                    found.append((node.lineno, first.value))
    return found


def _is_within(name, package):
    return name == package or name.startswith(package + ".")


def violations(source, module, forbidden, is_package=False, filename=None):
    """One message per import of `source` (module `module`) that falls within a `forbidden` package."""
    filename = filename or module
    messages, reported = [], set()
    for line, name in imported_names(source, module, is_package):
        for package in forbidden:
            if _is_within(name, package) and (line, package) not in reported:
                reported.add((line, package))  # `from X import y`: X is reported, not X.y too
                messages.append(f"{filename}:{line}: {module} imports {name} (not allowed: {package})")
    return messages


def package_violations(subpackage):
    files = sorted((PACKAGE_DIR / subpackage).rglob("*.py"))
    assert files, f"no modules found under {PACKAGE_DIR / subpackage}"
    messages = []
    for path in files:
        module, is_package = module_name(path)
        filename = path.relative_to(PACKAGE_DIR.parent).as_posix()
        messages += violations(path.read_text(encoding="utf-8"), module, RULES[subpackage], is_package, filename)
    return messages


# --- the rules on the real package --------------------------------------------------------


@pytest.mark.parametrize("subpackage", sorted(RULES))
def test_layering(subpackage):
    messages = package_violations(subpackage)
    assert not messages, f"{PACKAGE}.{subpackage} breaks the layering:\n" + "\n".join(messages)


def test_every_module_of_the_package_parses():
    for path in PACKAGE_DIR.rglob("*.py"):
        module, is_package = module_name(path)
        imported_names(path.read_text(encoding="utf-8"), module, is_package)


# --- the checker itself ---------------------------------------------------------------------


def test_checker_catches_a_lazy_import_and_names_module_and_import():
    source = "import numpy as np\n\n\ndef load():\n    from ragan_tf.inference.photo_io import load_photo\n"
    messages = violations(source, "ragan_tf.data.fake", RULES["data"], filename="ragan_tf/data/fake.py")
    assert messages == [
        "ragan_tf/data/fake.py:5: ragan_tf.data.fake imports ragan_tf.inference.photo_io"
        " (not allowed: ragan_tf.inference)"
    ]


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import ragan_tf.models.ragan.generator as g\n", "ragan_tf.models.ragan.generator"),
        ("from ragan_tf import inference\n", "ragan_tf.inference"),
        ("from ..data.synthetic_faces import render\n", "ragan_tf.data.synthetic_faces"),
        ("from .. import export\n", "ragan_tf.export"),
        ("class A:\n    def f(self):\n        import ragan_tf.training.train\n", "ragan_tf.training.train"),
        ("import importlib\nimportlib.import_module('ragan_tf.evaluation.identity')\n", "ragan_tf.evaluation.identity"),
    ],
)
def test_checker_catches_every_kind_of_import(source, expected):
    messages = violations(source, "ragan_tf.faces.fake", RULES["faces"])
    assert len(messages) == 1 and f"ragan_tf.faces.fake imports {expected} " in messages[0]


def test_checker_allows_what_the_rules_allow():
    allowed = (
        "import numpy\n"
        "from ragan_tf.faces.alignment import align_face\n"
        "from . import detection\n"
        "from .photo_io import load_photo\n"
        "import ragan_tf.data_tools\n"  # a prefix of the name, not the package
    )
    assert violations(allowed, "ragan_tf.faces.fake", RULES["faces"]) == []


def test_relative_imports_resolve_from_modules_and_packages():
    assert imported_names("from .photo_io import x\n", "ragan_tf.faces", is_package=True)[0] == (
        1,
        "ragan_tf.faces.photo_io",
    )
    assert imported_names("from ..data import x\n", "ragan_tf.faces.alignment")[0] == (1, "ragan_tf.data")
    assert imported_names("from ..inference import x\n", "ragan_tf.evaluation", is_package=True)[0] == (
        1,
        "ragan_tf.inference",
    )
