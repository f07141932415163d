"""`people`: everyone whose face was found, named, merged, forgotten or grouped again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from photolib.app.context import UseCase
from photolib.core.errors import UsageError

if TYPE_CHECKING:
    from photolib.store.faces import Person


class People(UseCase):
    """Faces grouped into people (see `photolib.store.faces`)."""

    def people(self) -> list["Person"]:
        """Everyone whose face was found, most faces first (unnamed people have a number)."""
        return self.face_store.people()

    def person(self, ref: str | int) -> dict[str, Any]:
        """One person: counts, and their faces with the photos they are in."""
        from photolib.app.views import photo_summary

        person = self.face_store.person(ref)
        faces = self.face_store.faces_of_person(person.id)
        photos = self.catalog.get_many(self.face_store.photo_ids_of_person(person.id))
        return {**person.as_dict(), "faces_found": faces,
                "photo_list": [photo_summary(photos[pid]) for pid in sorted(photos)]}

    def name_person(self, ref: str | int, name: str) -> "Person":
        name = " ".join(name.split())
        if not name or name.isdigit():
            raise UsageError(f"{name!r} cannot be a name: give a name with letters, e.g. people name 3 \"Anna\"")
        with self.write_lock(), self.catalog.transaction():
            person = self.face_store.person(ref)
            self.face_store.name(person.id, name)
            return self.face_store.person(person.id)

    def merge_people(self, keep: str | int, other: str | int) -> "Person":
        """`other`'s faces join `keep`, which takes `other`'s name if it has none."""
        with self.write_lock(), self.catalog.transaction():
            first, second = self.face_store.person(keep), self.face_store.person(other)
            if first.id == second.id:
                raise UsageError(f"{keep} and {other} are the same person: give two different people to merge")
            if first.name and second.name:
                raise UsageError(f"both people are named ({first.name!r}, {second.name!r}): rename or forget one, "
                                 "then merge")
            self.face_store.merge(first, second)
            return self.face_store.person(first.id)

    def forget_person(self, ref: str | int) -> dict[str, Any]:
        """Drop a person and their faces from the catalog (photos stay)."""
        with self.write_lock(), self.catalog.transaction():
            person = self.face_store.person(ref)
            dropped = self.face_store.forget(person.id)
        return {"id": person.id, "name": person.name, "faces_dropped": dropped}

    def recluster_people(self, threshold: float | None = None) -> list["Person"]:
        """Group again the faces of unnamed people (named people keep theirs), at `threshold`."""
        from photolib.core.config import face_threshold
        from photolib.providers.base import make_face_reader

        reader = make_face_reader(self.settings)  # builds no model and opens no socket: only its identity is read
        if threshold is None:
            threshold = reader.threshold if reader is not None else face_threshold(self.settings)
        with self.write_lock(), self.catalog.transaction():
            from photolib.models.people import group

            self.face_store.ungroup_unnamed()  # then the faces of the configured face model's space are grouped
            self.face_store.group_new_faces(threshold, group, reader.model_name if reader is not None else None)
        return self.face_store.people()
