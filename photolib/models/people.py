"""Grouping faces into people: incremental, deterministic, and respectful of names.

A new face joins the person of its nearest already-grouped face when that
face is at most `threshold` away (descriptor distance: dlib's usual 0.6 for its
128-d descriptors, 1.0 for unit ArcFace vectors from Immich's servers);
otherwise it starts a new person. Faces are taken in the order they were
stored, so the same catalog always gives the same people, and grouping new
faces never moves an old one: a person keeps its faces, its number and its
name through later imports. `people recluster` regroups only the faces of
unnamed people; the faces of a named person stay with it.
"""

from __future__ import annotations

from typing import Any, Sequence


def group(known: Any, known_people: Sequence[int], new: Any, threshold: float) -> list[int]:
    """For each row of `new`, the person it joins: an id from `known_people`, or -1, -2, ... for the
    first, second, ... new person (new faces can join new people formed earlier in the same call).

    `known` is an (M, D) float32 matrix of grouped faces of one face space with their people in
    `known_people`; `new` is (N, D), in the order the faces were stored.
    """
    import numpy as np

    total = len(known_people) + len(new)
    vectors = np.empty((total, new.shape[1] if len(new) else 128), dtype=np.float32)
    people = np.empty(total, dtype=np.int64)
    count = len(known_people)
    if count:
        vectors[:count] = known
        people[:count] = known_people
    assigned, next_label = [], -1
    for vector in new:
        person = None
        if count:
            distances = np.linalg.norm(vectors[:count] - vector, axis=1)
            nearest = int(np.argmin(distances))  # first of equal minima: stable
            if distances[nearest] <= threshold:
                person = int(people[nearest])
        if person is None:
            person, next_label = next_label, next_label - 1
        vectors[count], people[count] = vector, person
        count += 1
        assigned.append(person)
    return assigned
