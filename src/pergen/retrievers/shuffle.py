"""`random`: a seeded random order, the floor any real retriever should beat."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from ..data.records import Scored
from ..errors import ConfigError
from .base import RETRIEVERS, BaseRetriever, RankRequest, sort_scored


class RandomRetriever(BaseRetriever):
    """Random scores drawn from a generator seeded by (seed, query).

    Seeding per request, not once per instance, makes a question's order independent of
    which questions came before it: the same run resumed or re-batched ranks alike.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.name = f"random:{seed}"

    def rank(self, request: RankRequest) -> Sequence[Scored]:
        digest = hashlib.blake2b(f"{self.seed}\x00{request.query}".encode("utf-8",
                                 "surrogatepass"), digest_size=8).digest()
        rng = random.Random(int.from_bytes(digest, "big"))
        return sort_scored(request.profile, [rng.random() for _ in request.profile])


@RETRIEVERS.register("random")
def _random(arg: str | None = None, *, seed: int | None = None) -> RandomRetriever:
    if arg and seed is not None:
        raise ConfigError("random: give the seed either as random:SEED or as seed=, not both")
    if arg:
        try:
            seed = int(arg)
        except ValueError:
            raise ConfigError(f"random:SEED needs an integer seed, got {arg!r}") from None
    return RandomRetriever(seed if seed is not None else 0)
