"""The import graph of src/moviegenre: no cycles, and the layers of DESIGN.md flow one way.

Built with ``ast`` from every import in the source, module-level and inside functions alike
(a lazy import still ties two modules together); imports under ``if TYPE_CHECKING:`` are left
out, as they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "moviegenre"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """Every moviegenre module that ``tree`` imports at run time (absolute names)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """{module: the moviegenre modules it imports}, over every .py file of the package."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = _imports(tree, name, path.name == "__init__.py")
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_lazy_and_module_level_imports():
    graph = import_graph()
    assert "moviegenre.checks" in graph["moviegenre.classifier"]  # module level
    assert "moviegenre.explain" in graph["moviegenre.classifier"]  # inside a method


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
    ],
)
def test_find_cycle(graph, cycle):
    assert find_cycle(graph) == cycle


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


#: The server's parts: below serve.api (which builds the app from them) and above the classifier.
SERVE_PARTS = tuple(
    f"moviegenre.serve.{name}"
    for name in ("batching", "connections", "endpoints", "limits", "metrics", "schemas", "settings")
)
#: The shells over the public API (DESIGN.md): each sits on the classifier, never on another.
SHELLS = ("moviegenre.cli", "moviegenre.serve", "moviegenre.batch", "moviegenre.report")
#: Persistence (model folders) sits above the model kinds and below the public API.
SERIALIZATION = "moviegenre.serialization"
#: Modules the model layer may never import: everything that sits above it (DESIGN.md).
ABOVE_MODELS = (
    *SHELLS,
    "moviegenre.classifier",
    "moviegenre.explain",
    "moviegenre.training",
    SERIALIZATION,
    "moviegenre.training_plan",
)


def _inside(module: str, names: tuple[str, ...]) -> bool:
    """``module`` is one of ``names`` or inside one of them (a package's submodules)."""
    return any(module == name or module.startswith(name + ".") for name in names)


@pytest.mark.parametrize(
    ("module", "names", "inside"),
    [
        ("moviegenre.serve.api", ("moviegenre.serve",), True),
        ("moviegenre.serve", ("moviegenre.serve",), True),
        ("moviegenre.serve_connections", ("moviegenre.serve",), False),
        ("moviegenre.batch_io", ("moviegenre.batch",), False),
    ],
)
def test_inside_matches_packages_not_prefixes(module, names, inside):
    assert _inside(module, names) is inside


@pytest.mark.parametrize(
    ("lower", "forbidden"),
    [
        ("moviegenre.data", ("moviegenre.models", "moviegenre.selection", *ABOVE_MODELS)),
        ("moviegenre.models", ABOVE_MODELS),
        ("moviegenre.checks", ("moviegenre.models", *ABOVE_MODELS)),
        ("moviegenre.classifier", (*SHELLS, "moviegenre.training")),
        # the selection protocol sits below the kinds that obey it (issue 23)
        ("moviegenre.selection", ("moviegenre.models", "moviegenre.audit", *ABOVE_MODELS)),
        ("moviegenre.training_plan", ("moviegenre.training", "moviegenre.classifier")),
        ("moviegenre.explain", ("moviegenre.classifier", *SHELLS)),
        ("moviegenre.results", ("moviegenre.classifier", "moviegenre.explain")),
        # the shells never import each other (the CLI sits on all of them)
        ("moviegenre.serve", ("moviegenre.cli", "moviegenre.batch", "moviegenre.report")),
        ("moviegenre.batch", ("moviegenre.cli", "moviegenre.serve", "moviegenre.report")),
        ("moviegenre.report", ("moviegenre.cli", "moviegenre.serve", "moviegenre.batch")),
        # the parts below the engines: scoring and the store never import an engine
        ("moviegenre.batch.scoring", ("moviegenre.batch.local", "moviegenre.batch.ray")),
        ("moviegenre.batch.store", ("moviegenre.batch.local", "moviegenre.batch.ray")),
        *(
            (part, ("moviegenre.serve.api", "moviegenre.serve.app", "moviegenre.cli"))
            for part in SERVE_PARTS
        ),
        (SERIALIZATION, tuple(m for m in ABOVE_MODELS if m != SERIALIZATION)),
    ],
)
def test_layers_flow_one_way(lower, forbidden):
    graph = import_graph()
    modules = [m for m in graph if _inside(m, (lower,))]
    assert modules, f"no module {lower}"
    wrong = sorted(f"{m} imports {t}" for m in modules for t in graph[m] if _inside(t, forbidden))
    assert not wrong, "; ".join(wrong)


#: What the first keystroke must not wait for: each command imports these when it runs.
HEAVY = ("sklearn", "scipy", "onnxruntime", "tokenizers", "torch", "pandas", "pyarrow")
HEAVY_OR_PLOTS = (*HEAVY, "matplotlib", "numpy", "py3langid", "safetensors", "joblib")
_SHOW_MODULES = "; import sys; print(' '.join(sorted(sys.modules)))"


def _imported_by(code: str, top_level: bool = True) -> set[str]:
    """Top-level packages (or, with ``top_level=False``, every module) in ``sys.modules`` after
    running ``code`` in a fresh interpreter."""
    import subprocess
    import sys

    src = str(PACKAGE.parent)
    wrapped = (
        f"import sys; sys.path.insert(0, {src!r})\ntry:\n    {code}\nexcept SystemExit:\n    pass\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", wrapped + _SHOW_MODULES.lstrip("; ")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return {m.split(".")[0] if top_level else m for m in run.stdout.split()}


@pytest.mark.parametrize(
    ("code", "forbidden"),
    [
        ("import moviegenre", HEAVY_OR_PLOTS),
        ("from moviegenre import CheckSettings, GENRES, __version__", HEAVY_OR_PLOTS),
        (
            "sys.argv = ['moviegenre', '--version']; from moviegenre.__main__ import main; main()",
            (*HEAVY_OR_PLOTS, "typer", "rich"),
        ),
        ("from moviegenre.cli import main; main(['--version'])", (*HEAVY, "matplotlib")),
        ("from moviegenre.cli import main; main(['--help'])", (*HEAVY, "matplotlib")),
        ("from moviegenre.cli import main; main(['predict', '--help'])", (*HEAVY, "matplotlib")),
    ],
)
def test_starting_imports_nothing_heavy(code, forbidden):
    """``import moviegenre``, ``--version`` and ``--help`` answer without loading the model
    stack (issue 20: they took 2-4 s, 1.6 s of it scikit-learn and scipy)."""
    loaded = _imported_by(code)
    assert "moviegenre" in loaded
    assert not loaded & set(forbidden), sorted(loaded & set(forbidden))


def test_the_public_names_still_import():
    loaded = _imported_by("from moviegenre import GenreClassifier, Prediction, GENRES")
    assert "moviegenre" in loaded and "sklearn" not in loaded  # loading a model needs no sklearn
    import moviegenre
    from moviegenre.classifier import GenreClassifier
    from moviegenre.results import Prediction

    assert moviegenre.GenreClassifier is GenreClassifier and moviegenre.Prediction is Prediction
    assert {"GenreClassifier", "Prediction"} <= set(dir(moviegenre))
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        moviegenre.nonsense  # noqa: B018


def test_predicting_with_a_bundled_model_imports_no_sklearn_or_scipy_optimize():
    code = (
        "from moviegenre import GenreClassifier; "
        "GenreClassifier.load('linear').predict_proba(['A cowboy rides into town at dawn.'])"
    )
    loaded = _imported_by(code, top_level=False)
    assert not {"sklearn", "pandas", "torch"} & {m.split(".")[0] for m in loaded}
    # scipy.stats alone took ~0.7 s (explain's noise band imported it with the classifier);
    # a few texts are scored with numpy alone (scipy.sparse: ~0.35 s of a cold start)
    assert not {"scipy.stats", "scipy.optimize", "scipy.sparse"} & loaded
    assert "moviegenre.explain" not in loaded  # imported by GenreClassifier.explain


def test_the_moviegenre_command_prints_its_version_and_runs_the_app():
    import subprocess
    import sys

    from moviegenre import __version__

    env = {**__import__("os").environ, "PYTHONPATH": str(PACKAGE.parent)}
    run = [sys.executable, "-m", "moviegenre"]
    version = subprocess.run([*run, "--version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0 and version.stdout == f"moviegenre {__version__}\n"
    usage = subprocess.run([*run, "predict", "--help"], capture_output=True, text=True, env=env)
    assert usage.returncode == 0 and "--top-k" in usage.stdout
    typer = subprocess.run([*run, "--version", "extra"], capture_output=True, text=True, env=env)
    assert (typer.returncode, typer.stdout) == (0, version.stdout)  # the app's own --version


#: File names of a model folder that only ``moviegenre.serialization`` spells out.
MODEL_FOLDER_FILES = ("model.json", "history.json", "weights.safetensors", "heldout.safetensors")


def test_only_serialization_names_the_files_of_a_model_folder():
    """Issue 23: the classifier, CLI, batch and report ask ``ModelDir`` for a model folder's
    paths instead of joining "model.json" to a folder themselves (a message may mention it)."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        if name.startswith(SERIALIZATION):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            joined = isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
            if joined and getattr(node.right, "value", None) in MODEL_FOLDER_FILES:
                found.append(f"{name}:{node.lineno} / {node.right.value!r}")
    assert not found, "; ".join(found)


def _names_used(path: Path) -> set[str]:
    """Every name and attribute a source file refers to (``ast``), imports included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.name.rsplit(".", 1)[-1])
    return found


@pytest.mark.parametrize(
    ("names", "owners"),
    [
        # rows are held out by selection.py alone (split.py makes the splits it asks for)
        ({"stratified_split", "stratified_folds"}, {"data/split.py", "selection.py"}),
        # linear's out-of-fold probabilities are read through its hook or heldout(), by it
        ({"oof_proba_"}, {"models/linear.py"}),
    ],
)
def test_the_selection_protocol_has_one_owner(names, owners):
    """Issue 23: audit read ``oof_proba_`` and the CLI split rows by itself; now nothing
    outside the owners names these."""
    users = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if names & _names_used(path) and str(path.relative_to(PACKAGE)) not in owners
    )
    assert users == []
