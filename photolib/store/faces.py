"""The catalog's face tables: faces, the people they are grouped into, and the stage's state.

`face_scans` holds one row per photo the face stage has scanned (with the
detector that did it and how many faces it found); the stage's state per
photo (done / failed / pending) is the pipeline's (`stage_states`). `faces` keeps each face's box (0-1 of the upright photo),
detector score and 128-d descriptor (float32 BLOB), and its person. Triggers
drop a photo's faces when its bytes change; forgetting a photo drops them by
cascade. Face data is only ever read by this module and `people`: no provider
sees it.

Face spaces: `faces.detector` names the model that made a face's descriptor
(dlib's 128-d locally, `immich-app/buffalo_l`'s 512-d on Immich servers).
Descriptors of two models are never compared: grouping looks only at faces of
one detector. When a photo is scanned again by another model, a new face where
a named person's face was (boxes overlapping by `SAME_FACE_OVERLAP`) keeps that
person, so the names the user gave survive a switch of models the way they
survive `people recluster`; unnamed faces are grouped afresh in the new space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from photolib.core.clock import now
from photolib.core.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from photolib.core.records import FoundFace
    from photolib.store.sql import CatalogPart

    # (known descriptors, their people, new descriptors, threshold) -> a person id, or a negative label per new face
    GroupFaces = Callable[[Any, list[int], Any, float], list[int]]

SAME_FACE_OVERLAP = 0.5  # intersection over union of two boxes of one photo that are the same face


@dataclass
class Person:
    id: int
    name: str | None
    faces: int
    photos: int
    sample_photo: int | None

    @property
    def label(self) -> str:
        return self.name or f"Person {self.id}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "label": self.label, "faces": self.faces, "photos": self.photos,
                "sample_photo": self.sample_photo}


class FaceStore:
    """Queries over the face tables of one catalog; no policy, no printing."""

    def __init__(self, catalog: "CatalogPart") -> None:
        self.catalog = catalog
        self.db = catalog.db

    # -- the stage -------------------------------------------------------------

    def store(self, photo_id: int, model: str, found: "Sequence[FoundFace]") -> None:
        """Replace a photo's faces (ungrouped until `group_new_faces`, except where a named person's face
        was: that person keeps it) and mark its scan done."""
        import numpy as np

        named = self.db.execute(
            "SELECT f.x0, f.y0, f.x1, f.y1, f.person_id FROM faces f JOIN people p ON p.id = f.person_id "
            "WHERE f.photo_id = ? AND p.name IS NOT NULL ORDER BY f.id", [photo_id]).fetchall()
        self.db.execute("DELETE FROM faces WHERE photo_id = ?", [photo_id])
        self.db.conn.executemany(
            "INSERT INTO faces (photo_id, person_id, x0, y0, x1, y1, score, detector, descriptor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(photo_id, _named_person_at(face.box, named), *face.box, face.score, model,
              np.asarray(face.descriptor, dtype=np.float32).tobytes()) for face in found])
        self.db.execute("INSERT OR REPLACE INTO face_scans (photo_id, model, state, error, faces, updated_at) "
                        "VALUES (?, ?, 'done', NULL, ?, ?)", [photo_id, model, len(found), now()])

    def group_new_faces(self, threshold: float, group: "GroupFaces", detector: str | None = None) -> int:
        """Give every ungrouped face of `detector`'s face space a person, as `group` decides
        (`photolib.models.people.group`: the grouping rule belongs to the face model, the rows to the
        store), comparing it only with faces of that space; returns how many were grouped. Without
        `detector`: the space of the most recently stored face."""
        if detector is None:
            last = self.db.execute("SELECT detector FROM faces ORDER BY id DESC LIMIT 1").fetchone()
            if last is None:
                return 0
            detector = last[0]
        new = self.db.execute("SELECT id, descriptor FROM faces WHERE person_id IS NULL AND detector = ? ORDER BY id",
                              [detector]).fetchall()
        if not new:
            return 0
        known = self.db.execute("SELECT person_id, descriptor FROM faces WHERE person_id IS NOT NULL AND detector = ? "
                                "ORDER BY id", [detector]).fetchall()
        known_matrix = _matrix([row[1] for row in known])
        labels = group(known_matrix, [row[0] for row in known], _matrix([row[1] for row in new]), threshold)
        created: dict[int, int] = {}
        updates = []
        for (face_id, _blob), label in zip(new, labels):
            if label < 0 and label not in created:
                created[label] = self.db.execute("INSERT INTO people (created_at) VALUES (?)", [now()]).lastrowid
            updates.append((created.get(label, label), face_id))
        self.db.conn.executemany("UPDATE faces SET person_id = ? WHERE id = ?", updates)
        return len(updates)

    # -- people ------------------------------------------------------------------

    def people(self) -> list[Person]:
        """Everyone with a face, and named people even without one; most faces first."""
        rows = self.db.execute(
            "SELECT p.id, p.name, count(f.id), count(DISTINCT f.photo_id), min(f.photo_id) FROM people p "
            "LEFT JOIN faces f ON f.person_id = p.id GROUP BY p.id HAVING count(f.id) > 0 OR p.name IS NOT NULL "
            "ORDER BY count(f.id) DESC, p.id").fetchall()
        return [Person(*row) for row in rows]

    def person(self, ref: str | int) -> Person:
        """A person by number or by name (any case); a `UsageError` naming `people` if there is none."""
        text = str(ref).strip()
        if text.isdigit():
            where, params = "p.id = ?", [int(text)]
        else:
            where, params = "p.name = ?", [text]
        row = self.db.execute(
            "SELECT p.id, p.name, count(f.id), count(DISTINCT f.photo_id), min(f.photo_id) FROM people p "
            f"LEFT JOIN faces f ON f.person_id = p.id WHERE {where} GROUP BY p.id", params).fetchone()
        if row is None or (row[2] == 0 and row[1] is None):
            raise UsageError(f"no person {text!r} in the library: see `photolib people` for numbers and names")
        return Person(*row)

    def photo_ids_of_person(self, person_id: int) -> list[int]:
        return [row[0] for row in self.db.execute(
            "SELECT DISTINCT photo_id FROM faces WHERE person_id = ? ORDER BY photo_id", [person_id])]

    def faces_of_photo(self, photo_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT f.id, f.person_id, p.name, f.x0, f.y0, f.x1, f.y1, f.score FROM faces f "
            "LEFT JOIN people p ON p.id = f.person_id WHERE f.photo_id = ? ORDER BY f.x0, f.id", [photo_id])
        return [{"face": row[0], "person_id": row[1], "person": row[2] or (f"Person {row[1]}" if row[1] else None),
                 "box": [row[3], row[4], row[5], row[6]], "score": round(row[7] or 0.0, 3)} for row in rows]

    def faces_of_person(self, person_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT id, photo_id, x0, y0, x1, y1 FROM faces WHERE person_id = ? "
                               "ORDER BY photo_id, id", [person_id])
        return [{"face": row[0], "photo_id": row[1], "box": list(row[2:6])} for row in rows]

    def name(self, person_id: int, name: str) -> None:
        other = self.db.execute("SELECT id FROM people WHERE name = ? AND id <> ?", [name, person_id]).fetchone()
        if other is not None:
            raise UsageError(f"person {other[0]} is already called {name!r}: if they are the same person, run "
                             f"`photolib people merge {other[0]} {person_id}`")
        self.db.execute("UPDATE people SET name = ? WHERE id = ?", [name, person_id])

    def merge(self, keep: Person, other: Person) -> None:
        """`other`'s faces become `keep`'s; `keep` takes `other`'s name if it has none."""
        self.db.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", [keep.id, other.id])
        self.db.execute("DELETE FROM people WHERE id = ?", [other.id])
        if keep.name is None and other.name is not None:
            self.db.execute("UPDATE people SET name = ? WHERE id = ?", [other.name, keep.id])

    def forget(self, person_id: int) -> int:
        """Drop a person and their faces (their photos are not scanned again); returns the faces dropped."""
        dropped = self.db.execute("DELETE FROM faces WHERE person_id = ?", [person_id]).rowcount
        self.db.execute("DELETE FROM people WHERE id = ?", [person_id])
        return dropped

    def ungroup_unnamed(self) -> None:
        """Before regrouping: the faces of unnamed people lose their person; named people keep theirs."""
        self.db.execute("UPDATE faces SET person_id = NULL WHERE person_id IN (SELECT id FROM people WHERE name IS NULL)")
        self.db.execute("DELETE FROM people WHERE name IS NULL")

    def found(self) -> dict[str, int]:
        """How many faces are stored, and of how many people."""
        row = self.db.execute("SELECT count(*), count(DISTINCT person_id) FROM faces").fetchone()
        return {"faces": row[0] or 0, "people": row[1] or 0}


def _matrix(blobs: list[bytes]) -> Any:
    """Descriptors of one face space as an (n, dimension) matrix (the dimension is the space's)."""
    import numpy as np

    from photolib.core.records import FACE_DIMENSION

    if not blobs:
        return np.empty((0, FACE_DIMENSION), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)


def _named_person_at(box: tuple[float, float, float, float], named: list[tuple]) -> int | None:
    """The named person whose old face in this photo is where `box` is (the best overlap), if any."""
    best, person = SAME_FACE_OVERLAP, None
    for x0, y0, x1, y1, person_id in named:
        width, height = min(box[2], x1) - max(box[0], x0), min(box[3], y1) - max(box[1], y0)
        if width <= 0 or height <= 0:
            continue
        shared = width * height
        union = (box[2] - box[0]) * (box[3] - box[1]) + (x1 - x0) * (y1 - y0) - shared
        overlap = shared / union if union > 0 else 0.0
        if overlap >= best:
            best, person = overlap, person_id
    return person


