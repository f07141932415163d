"""What the image, OCR and face stages share: a pixel model that may run here or on inference servers.

Each of those stages calls its model once per batch (`ImageEmbedder.embed_each`,
`TextReader.read_texts`, `FaceReader.find_faces`), which answers per photo with
a result or the error that says why there is none. `PixelModelStage` turns
that into the engine's outcomes:

* a result -> the photo is done;
* `ServerUnansweredError` (no server answered) -> no outcome: the photo stays
  pending, and the next run (`photolib enrich`) sends it again;
* any other `PhotolibError` -> the photo fails with that reason;
* `NoServerAnswersError` raised instead (every server stopped answering) ->
  the run stops with its one line; what was answered before is stored
  (`unfinished`), the rest waits.

A model on servers (its `remote_host` is set: `photolib.providers.immich_ml`)
also puts on the stage's progress line how many servers it has and how many
serve.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from photolib.core.errors import NoServerAnswersError, PhotolibError, ServerUnansweredError
from photolib.pipeline.stage import Outcome, PhotoWork, StageBase


class PixelModelStage(StageBase):
    """A stage whose `process` is one call of `self.pixel_model` over the batch's images."""

    run_stopping: ClassVar[tuple[type[BaseException], ...]] = (NoServerAnswersError,)
    pixel_model: Any  # the ImageEmbedder / TextReader / FaceReader the stage runs
    _answered: tuple[Outcome, ...] = ()  # what was answered in the batch that stopped the run

    def outcomes(self, work: list[PhotoWork], call: Callable[[list[Any]], list[Any]]) -> list[Outcome]:
        """`call` over the images of `work`, as outcomes (see the module's docstring)."""
        try:
            results = call([item.image for item in work])
        except NoServerAnswersError as stop:
            self._answered = tuple(_outcomes(work, stop.results))
            raise
        return _outcomes(work, results)

    def unfinished(self, work: list[PhotoWork]) -> list[Outcome]:
        answered, self._answered = self._answered, ()
        wanted = {item.photo.id for item in work}
        return [outcome for outcome in answered if outcome.photo_id in wanted]

    def on_servers(self) -> bool:
        return self.pixel_model.remote_host is not None

    def progress_title(self) -> str:
        """"Image embedding: immich-app/ViT-B-32__openai on 2 Immich ML servers (2 serving)": the servers are
        pinged first; one that does not answer is set aside (and the run stops when none does)."""
        title = super().progress_title()
        if not self.on_servers():
            return title
        configured = self.pixel_model.serving()[1]
        try:
            serving = self.pixel_model.check()
        except NoServerAnswersError:
            serving = 0  # the first batch stops the run with the one line that says why
        return f"{title} on {configured} Immich ML server{'s' if configured > 1 else ''} ({serving} serving)"

    def progress_counters(self, counts: dict[str, int]) -> dict[str, int]:
        counters = super().progress_counters(counts)
        if self.on_servers():
            counters["serving"] = self.pixel_model.serving()[0]
        return counters


def _outcomes(work: list[PhotoWork], results: list[Any]) -> list[Outcome]:
    outcomes = []
    for item, result in zip(work, results):
        if isinstance(result, ServerUnansweredError):
            continue  # pending: sent again next run
        if isinstance(result, PhotolibError):
            outcomes.append(Outcome(item.photo.id, error=str(result)))
        else:
            outcomes.append(Outcome(item.photo.id, value=result))
    return outcomes
