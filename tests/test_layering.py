"""The library's shape: four layers whose imports point only downward, no import cycles (imports
inside functions included), a NumPy reference that runs without torch, a PyTorch twin for every
public name of the NumPy reference, and names that moved still importable from their old place.

Imports are read from the source (ast), so a lazy `from minillm.x import y` inside a function
counts as much as one at the top of a module."""
from __future__ import annotations

import ast
import importlib
import inspect
import pathlib

import pytest

import minillm

PACKAGE = pathlib.Path(minillm.__file__).parent

# NumPy names whose PyTorch side is not a function or class of the same name, and why
NO_TWIN = {
    "minillm.np.layers.subparams": "parameter-dict plumbing: torch modules own their parameters",
    "minillm.np.layers.prefixed": "parameter-dict plumbing: torch modules own their parameters",
    "minillm.np.layers.norm": "picks layer_norm or rms_norm by config; torch: transformer._norm",
}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}

# The layers, lowest first. A module may import modules of its own layer or of a lower one, never
# of a higher one. A package's entry covers its submodules (minillm.np.layers is in "core").
LAYERS = {
    # 0. the twin core: the transformer's parts, PyTorch here and NumPy in minillm.np (ch. 2-3)
    "core": ["minillm", "minillm.checks", "minillm.config", "minillm.functional",
             "minillm.layers", "minillm.positional", "minillm.attention", "minillm.transformer",
             "minillm.optim", "minillm.np"],
    # 1. text in, ids out, and the data and scores around it: nothing here builds a model
    "text": ["minillm.files", "minillm.splits", "minillm.data", "minillm.documents",
             "minillm.tokenizers", "minillm.ngram", "minillm.grammar", "minillm.reviews",
             "minillm.tasks", "minillm.metrics"],
    # 2. satellites: training, generation, adapting, compressing, inspecting and loading models
    "satellites": ["minillm.objectives", "minillm.checkpoint", "minillm.train",
                   "minillm.distill", "minillm.ddp", "minillm.tensor_parallel",
                   "minillm.generate", "minillm.constrained", "minillm.chat", "minillm.finetune",
                   "minillm.quantize", "minillm.prune", "minillm.scaling", "minillm.interpret",
                   "minillm.probe", "minillm.editing", "minillm.moe", "minillm.vit",
                   "minillm.convert", "minillm.pretrained", "minillm.viz"],
    # 3. tools: the command line, the exercise checkers, and what keeps the chapters in shape
    "tools": ["minillm.__main__", "minillm.cli", "minillm.exercises", "minillm.course",
              "minillm.text_forms"],
}
LAYER_NAMES = list(LAYERS)
# Imports that point upward, each with its reason. Keep it empty: move the code instead.
UPWARD = {}


def layer_of(name):
    """The layer that module `name` belongs to: its own entry, or its nearest package's."""
    owner = {module: layer for layer, modules in LAYERS.items() for module in modules}
    while name not in owner and "." in name:
        name = name.rpartition(".")[0]
    return owner.get(name)


def imports_of(name):
    """The minillm modules that module `name` imports anywhere in its source."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != "minillm" and t != name}
    return found


def find_cycle(graph):
    """A list of modules forming an import cycle, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_find_cycle_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_of_minillm_imports_itself_back_through_others():
    graph = {name: imports_of(name) for name in MODULES}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_every_module_has_a_layer_and_every_listed_module_exists():
    assert not [name for name in MODULES if layer_of(name) is None], "add them to LAYERS"
    listed = [module for modules in LAYERS.values() for module in modules]
    assert not [m for m in listed if m not in MODULES], "LAYERS lists modules that are gone"


def test_imports_point_only_to_the_same_or_a_lower_layer():
    upward = sorted(f"{name} ({layer_of(name)}) imports {target} ({layer_of(target)})"
                    for name in MODULES for target in imports_of(name)
                    if LAYER_NAMES.index(layer_of(target)) > LAYER_NAMES.index(layer_of(name))
                    and (name, target) not in UPWARD)
    assert not upward, "\n".join(upward)


def test_the_exceptions_to_the_layering_still_exist():
    for name, target in UPWARD:
        assert target in imports_of(name), f"{name} no longer imports {target}: drop it from UPWARD"


def third_party_roots(name):
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    return roots | {node.module.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module}


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("minillm.np")])
def test_numpy_reference_runs_without_torch(name):
    needed, todo = set(), [name]                 # every minillm module it needs, transitively
    while todo:
        module = todo.pop()
        if module not in needed:
            needed.add(module)
            todo += imports_of(module)
    with_torch = sorted(m for m in needed if "torch" in third_party_roots(m))
    assert not with_torch, f"{name} needs {with_torch}, which import torch"


def twin_key(name):
    return name.replace("_", "").lower()          # layer_norm ~ LayerNorm, decoder_lm ~ DecoderLM


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith("minillm.np.")
                                  and n.replace(".np", "") in MODULES])
def test_every_public_numpy_name_has_a_pytorch_twin_of_the_same_name(name):
    reference = importlib.import_module(name)
    twin = importlib.import_module(name.replace(".np", ""))
    twin_names = {twin_key(n) for n in dir(twin)}
    twin_names |= {twin_key(member) for _, cls in inspect.getmembers(twin, inspect.isclass)
                   if cls.__module__ == twin.__name__ for member in vars(cls)}   # methods too
    public = [n for n, obj in vars(reference).items() if not n.startswith("_")
              and (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == name]
    missing = [n for n in public if twin_key(n) not in twin_names and not n.endswith("_backward")
               and f"{name}.{n}" not in NO_TWIN]
    assert not missing, f"{twin.__name__} has no twin of {missing}"


def test_the_exceptions_to_the_twin_rule_still_exist():
    for dotted in NO_TWIN:
        module, _, attr = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), f"{dotted} is gone: drop it"


# Names that moved to a module of their own concept, and the old paths that must keep working:
# chapters, solutions and learners' notebooks import them from the old place.
MOVED = {
    "minillm.tokenizers": {
        "minillm.tokenizers._base": ["CONFIG_FILE", "DEFAULT_SPECIAL_TOKENS", "UNK"],
        "minillm.tokenizers.char": ["CharTokenizer"],
        "minillm.tokenizers.bpe": ["BPETokenizer", "BYTE_TO_CHAR", "CHAR_TO_BYTE", "_shown"],
        "minillm.tokenizers.wordpiece": ["WordPieceTokenizer", "BERT_SPECIAL_TOKENS"],
    },
    "minillm.grammar": {
        "minillm.reviews": ["sentiment_pairs", "SentimentPair", "CONSTRUCTIONS", "OPINIONS",
                            "OVERALL", "REVIEWED"],
    },
    "minillm.finetune": {
        "minillm.transformer": ["lm_logits"],
        "minillm.finetune.heads": ["hidden_states", "run_layers", "pool", "POOLINGS",
                                   "SequenceClassifier", "MultiTaskModel", "classification_batch",
                                   "classification_loss"],
        "minillm.finetune.freezing": ["freeze", "unfreeze", "unfreeze_last_layers",
                                      "count_parameters"],
        "minillm.finetune.lora": ["LoRALinear", "add_lora", "merge_lora"],
        "minillm.finetune.prompt_tuning": ["SoftPrompt"],
        "minillm.finetune.instruction": ["instruction_batch", "loss_on_response",
                                         "instruction_loss"],
        "minillm.finetune.early_stopping": ["EarlyStopping"],
    },
    "minillm.convert": {"minillm.checkpoint": ["load_into", "state_dict_mismatches"]},
    "minillm.cli": {"minillm.config": ["model_config", "PRESETS"],
                    "minillm.generate": ["generate_in_windows"]},
    "minillm.objectives": {"minillm.data": ["IGNORE_INDEX"]},
    "minillm.prune": {"minillm.attention": ["masked_heads", "attention_layers"]},
    "minillm.train": {"minillm.viz": ["plot_history", "LivePlot", "in_notebook"]},
    "minillm.probe": {"minillm.metrics": ["accuracy"]},
}


@pytest.mark.parametrize("old", MOVED)
def test_moved_names_still_import_from_where_they_were(old):
    was = importlib.import_module(old)
    for new, names in MOVED[old].items():
        home = importlib.import_module(new)
        for name in names:
            assert getattr(was, name) is getattr(home, name), f"{old}.{name} is not {new}.{name}"
            if inspect.isclass(home.__dict__[name]) or inspect.isfunction(home.__dict__[name]):
                assert home.__dict__[name].__module__ == new, f"{new}.{name} is defined elsewhere"
