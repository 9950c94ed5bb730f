"""The HTTP API's request and response bodies (pydantic), as the OpenAPI document shows them.

Response bodies are fixed; the request bodies are built per app by :func:`request_models`,
because their limits (texts per request, characters per text, genres of the served model)
and which of ``coverage`` / ``recall`` a request may send are the app's settings and model.
"""

# No ``from __future__ import annotations``: FastAPI must resolve the request models, which
# are built inside request_models because their limits are settings.
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from moviegenre.checks import MIN_WORDS
from moviegenre.results import DECIMALS
from moviegenre.serve.settings import ApiSettings

# -- response bodies -------------------------------------------------------------------------


#: A float rounded to DECIMALS places in responses (probabilities and word weights).
Rounded = Annotated[float, AfterValidator(lambda value: round(value, DECIMALS))]


class GenreScore(BaseModel):
    genre: str
    probability: Rounded = Field(description="Rounded to 6 decimals.")


class PredictItem(BaseModel):
    """One text's genres, or (``error`` and ``code``) why it was refused: ``Prediction.to_dict``,
    as ``moviegenre predict --json`` prints it."""

    genres: list[GenreScore]
    error: str | None
    code: str | None = Field(description="too_short, not_english, empty, ...")
    truncated: bool
    labels: list[GenreScore] | None = Field(
        None,
        description="Multi-label models only (present for them, absent otherwise): the genres "
        "assigned to the text, each at or above its decision threshold and at least the most "
        "probable one, most probable first. `genres` is then the top-k ranking of independent "
        "per-genre probabilities, which do not sum to 1.",
    )
    set: list[GenreScore] | None = Field(
        None,
        description="The genre set asked for, most probable first; present only with "
        "`coverage` (single-label models: holds the true genre at that rate) or `recall` "
        "(multi-label models: holds that mean share of a film's true genres); null for a "
        "refused text.",
    )


class PredictResponse(BaseModel):
    """``moviegenre.results.predictions_payload``: the model's name, one result per text."""

    model: str
    results: list[PredictItem]


class WordOut(BaseModel):
    word: str
    start: int = Field(description="Character offset of the word in the submitted text.")
    end: int
    weight: Rounded = Field(
        description="Signed push toward the top genre (6 decimals): exact tf-idf x weight for "
        "'weights', log-odds for 'banzhaf'."
    )
    noise: Rounded = Field(description="Half-width of the weight's 95% noise band (0: exact).")
    significant: bool = Field(
        description="False when the weight lies inside its noise band: show it as neutral."
    )


class ExplainResponse(BaseModel):
    genre: str
    genres: list[GenreScore]
    method: str = Field(description="'weights' (the model's own) or 'banzhaf' (sampled).")
    truncated: bool
    words: list[WordOut]


class ModelResponse(BaseModel):
    name: str
    kind: str
    version: str = Field(description="moviegenre version that trained the model.")
    server_version: str
    created: str
    genres: list[str]
    multi_label: bool = Field(
        description="True: several genres per text (`labels`, sets by `recall`); false: one "
        "genre per text (probabilities sum to 1, sets by `coverage`)."
    )
    metrics: dict[str, Any]


class Health(BaseModel):
    status: str


class ErrorBody(BaseModel):
    """Why a request was refused; ``limit`` names the limit it broke, if any."""

    detail: str
    limit: str | None = None


class Issue(BaseModel):
    """One problem of a refused request, as FastAPI reports validation errors."""

    loc: list[str | int] = Field(description='Where, e.g. ["body", "texts", 0].')
    msg: str
    type: str = Field(description="e.g. missing, string_type, too_short, not_english.")
    ctx: dict[str, Any] | None = None


class InvalidBody(BaseModel):
    """FastAPI's 422 convention: ``detail`` lists the problems; ``code`` is a refused text's."""

    detail: list[Issue]
    code: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be decoded (send UTF-8 JSON)."},
    413: {"model": ErrorBody, "description": "A request limit was exceeded."},
    422: {"model": InvalidBody, "description": "The request or the text is invalid."},
}


# -- request bodies --------------------------------------------------------------------------


#: The 422 messages of a set asked for with the field of the other kind of model.
MULTI_LABEL_COVERAGE = (
    "coverage is for single-label models; this model is multi-label: ask for its genre sets "
    'with "recall" (the mean share of a film\'s genres a set holds), or send no coverage'
)
SINGLE_LABEL_RECALL = (
    "recall is for multi-label models; this model gives one genre per text: ask for its "
    'genre sets with "coverage", or send no recall'
)
#: What ``coverage`` and ``recall`` ask for, in the request schema.
COVERAGE_DOC = (
    "Single-label models: also return each text's conformal genre set, which holds the true "
    "genre for this share of texts like the training data (marginal coverage)."
)
RECALL_DOC = (
    "Multi-label models: also return each text's genre set, which holds this mean share of a "
    "film's true genres on texts like the training data (conformal risk control)."
)


def set_level(doc: str, refusal: str | None) -> Any:
    """The type of a request's ``coverage`` or ``recall``: a level strictly between 0 and 1,
    or, where the served model takes the other field, null only, anything else refused with
    ``refusal`` (one 422 line naming the field to use). So the served OpenAPI document is
    true for the served model, and generated "valid" requests are valid."""
    if refusal is None:
        return Annotated[float | None, Field(gt=0, lt=1, description=doc)]

    def refuse(value: Any) -> None:
        if value is not None:
            raise PydanticCustomError("not_for_this_model", refusal)

    return Annotated[None, BeforeValidator(refuse), Field(description=f"{doc} {refusal}")]


def request_models(
    settings: ApiSettings, n_genres: int, multi_label: bool
) -> tuple[type[BaseModel], type[BaseModel]]:
    """The bodies of POST /v1/predict and POST /v1/explain for this app's limits and model."""
    Text = Annotated[str, Field(max_length=settings.max_chars)]
    TopK = Annotated[int, Field(ge=1, le=n_genres, description="Genres per text.")]
    Coverage = set_level(COVERAGE_DOC, MULTI_LABEL_COVERAGE if multi_label else None)
    Recall = set_level(RECALL_DOC, None if multi_label else SINGLE_LABEL_RECALL)

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        texts: list[Text] = Field(
            min_length=1,
            max_length=settings.max_texts,
            description=(
                f"1 to {settings.max_texts} English descriptions, each of {MIN_WORDS}+ words."
            ),
        )
        top_k: TopK = 3
        coverage: Coverage = None
        recall: Recall = None

    class ExplainRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: Text
        top_k: TopK = 3

    return PredictRequest, ExplainRequest
