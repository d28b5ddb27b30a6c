"""Sentences for synthetic speech: a small English grammar over hand-written word lists.

Every sentence is drawn from a handful of templates (declaratives with subject, verb, object and
an optional place or time phrase; questions; imperatives; short two-clause sentences) filled
with words that agree in number and article (``a``/``an``). The lists are small on purpose:
the sentences are meant to be intelligible, varied and grammatical, like the Harvard or
Hearing-in-Noise-Test sentences, not to model a language.

All draws come from the ``numpy.random.Generator`` that is passed in, never from global state.
"""

from __future__ import annotations

import numpy as np

#: Singular nouns that can act (subjects) and be acted on (objects).
ANIMATE_NOUNS: tuple[str, ...] = (
    "man", "woman", "child", "teacher", "farmer", "doctor", "baker", "sailor", "driver",
    "neighbour", "singer", "student", "captain", "nurse", "painter", "girl", "boy", "dog",
    "cat", "horse", "bird", "fox", "clerk", "pilot", "player", "cook", "old friend",
)
OBJECT_NOUNS: tuple[str, ...] = (
    "book", "letter", "basket", "coat", "lamp", "cup", "chair", "ball", "box", "key",
    "ticket", "bottle", "hat", "map", "rope", "bag", "plate", "window", "door", "bicycle",
    "apple", "orange", "loaf of bread", "bowl of soup", "pair of shoes", "newspaper",
    "umbrella", "blanket", "kettle", "candle", "garden gate", "piece of cake",
)
PLACES: tuple[str, ...] = (
    "the market", "the station", "the kitchen", "the river", "the garden", "the school",
    "the harbour", "the old bridge", "the village", "the library", "the hill", "the shop",
    "the church", "the park", "the farm", "the office", "the beach", "the corner",
)
#: Adjectives for people and animals, for things, and for the scenery.
ANIMATE_ADJECTIVES: tuple[str, ...] = (
    "old", "young", "quiet", "happy", "tired", "clever", "busy", "kind", "tall", "short",
    "strong", "gentle", "angry", "lucky", "hungry", "brave", "friendly", "patient",
)
OBJECT_ADJECTIVES: tuple[str, ...] = (
    "old", "small", "big", "red", "green", "heavy", "bright", "warm", "cold", "new",
    "broken", "clean", "brown", "yellow", "empty", "blue", "light", "wet", "dry",
)
SCENERY_ADJECTIVES: tuple[str, ...] = (
    "dark", "bright", "warm", "cold", "quiet", "calm", "grey", "clear", "still", "cool",
)
#: (present 3rd singular, past, base) of transitive verbs.
TRANSITIVE_VERBS: tuple[tuple[str, str, str], ...] = (
    ("carries", "carried", "carry"), ("finds", "found", "find"), ("takes", "took", "take"),
    ("brings", "brought", "bring"), ("paints", "painted", "paint"), ("opens", "opened", "open"),
    ("cleans", "cleaned", "clean"), ("buys", "bought", "buy"), ("sells", "sold", "sell"),
    ("holds", "held", "hold"), ("drops", "dropped", "drop"), ("fixes", "fixed", "fix"),
    ("moves", "moved", "move"), ("hides", "hid", "hide"), ("wants", "wanted", "want"),
    ("watches", "watched", "watch"), ("keeps", "kept", "keep"), ("leaves", "left", "leave"),
    ("wraps", "wrapped", "wrap"), ("sends", "sent", "send"), ("needs", "needed", "need"),
)
#: (present 3rd singular, past, base) of intransitive verbs.
INTRANSITIVE_VERBS: tuple[tuple[str, str, str], ...] = (
    ("walks", "walked", "walk"), ("runs", "ran", "run"), ("sleeps", "slept", "sleep"),
    ("waits", "waited", "wait"), ("sings", "sang", "sing"), ("laughs", "laughed", "laugh"),
    ("works", "worked", "work"), ("sits", "sat", "sit"), ("stops", "stopped", "stop"),
    ("arrives", "arrived", "arrive"), ("plays", "played", "play"), ("rests", "rested", "rest"),
)
ADVERBS: tuple[str, ...] = (
    "quickly", "slowly", "quietly", "carefully", "happily", "suddenly", "gladly", "early",
    "again", "together", "alone", "often", "at last",
)
#: Times that go with a request (future or habitual).
REQUEST_TIMES: tuple[str, ...] = (
    "before noon", "after lunch", "this evening", "tomorrow", "on Monday", "right away",
    "at six o'clock", "before the rain", "on the weekend", "when you can",
)
#: Verbs that make polite requests (base forms of :data:`TRANSITIVE_VERBS`).
REQUEST_VERBS: tuple[str, ...] = (
    "carry", "take", "bring", "paint", "open", "clean", "buy", "hold", "fix", "move", "hide",
    "keep", "wrap", "send",
)
TIMES: tuple[str, ...] = (
    "this morning", "last night", "before noon", "after lunch", "on Monday", "on Friday",
    "every day", "in the evening", "at dawn", "in the spring", "after the rain", "today",
    "yesterday", "at six o'clock", "on the weekend",
)
PREPOSITIONS: tuple[str, ...] = (
    "to", "from", "near", "behind", "across", "past", "towards", "beside", "inside", "outside",
)
NUMBERS: tuple[str, ...] = (
    "two", "three", "four", "five", "six", "seven", "eight", "ten", "twelve",
)
SCENERY: tuple[str, ...] = ("sky", "sea", "road", "room", "night", "field", "water")

_VOWEL_SOUNDS = ("a", "e", "i", "o", "u")


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    return words[int(rng.integers(len(words)))]


def _pick_verb(
    rng: np.random.Generator, verbs: tuple[tuple[str, str, str], ...]
) -> tuple[str, str, str]:
    return verbs[int(rng.integers(len(verbs)))]


def indefinite(phrase: str) -> str:
    """``phrase`` with ``a`` or ``an`` in front (by its first letter; good for these lists)."""
    article = "an" if phrase[0].lower() in _VOWEL_SOUNDS else "a"
    return f"{article} {phrase}"


def plural(noun: str) -> str:
    """English plural of a noun phrase from the lists above (``loaf of bread`` ->
    ``loaves of bread``)."""
    head, _, rest = noun.partition(" of ")
    words = head.split(" ")
    last = words[-1]
    irregular = {"man": "men", "woman": "women", "child": "children", "loaf": "loaves",
                 "piece": "pieces", "pair": "pairs", "fox": "foxes", "box": "boxes",
                 "bus": "buses", "leaf": "leaves"}
    if last in irregular:
        last = irregular[last]
    elif last.endswith(("s", "x", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2] not in _VOWEL_SOUNDS:
        last = last[:-1] + "ies"
    else:
        last += "s"
    words[-1] = last
    head = " ".join(words)
    return f"{head} of {rest}" if rest else head


def noun_phrase(
    rng: np.random.Generator, nouns: tuple[str, ...], allow_plural: bool = True
) -> tuple[str, bool]:
    """A noun phrase (``the tall farmer``, ``three red apples``, ``a cup``) and whether it is
    plural (for verb agreement)."""
    noun = _pick(rng, nouns)
    adjectives = ANIMATE_ADJECTIVES if nouns is ANIMATE_NOUNS else OBJECT_ADJECTIVES
    adjective = _pick(rng, adjectives) if rng.random() < 0.6 else ""
    form = rng.random()
    if allow_plural and form < 0.25:
        count = _pick(rng, NUMBERS) if rng.random() < 0.5 else "the"
        words = [count, adjective, plural(noun)]
        return " ".join(w for w in words if w), True
    described = f"{adjective} {noun}".strip()
    if form < 0.65:
        return f"the {described}", False
    return indefinite(described), False


def _capitalise(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:]


def make_sentence(rng: np.random.Generator) -> str:
    """One grammatical English sentence, 5-16 words, ending with punctuation."""
    template = int(rng.integers(7))
    subject, subject_plural = noun_phrase(rng, ANIMATE_NOUNS)
    obj, _ = noun_phrase(rng, OBJECT_NOUNS)
    present, past, base = _pick_verb(rng, TRANSITIVE_VERBS)
    place = _pick(rng, PLACES)
    time = _pick(rng, TIMES)
    if template == 0:  # The tall farmer carried a heavy basket to the market this morning.
        sentence = f"{subject} {past} {obj} {_pick(rng, PREPOSITIONS)} {place} {time}."
    elif template == 1:  # Three dogs wait quietly behind the school.
        i_present, _, i_base = _pick_verb(rng, INTRANSITIVE_VERBS)
        verb = i_base if subject_plural else i_present
        sentence = f"{subject} {verb} {_pick(rng, ADVERBS)} {_pick(rng, PREPOSITIONS)} {place}."
    elif template == 2:  # Did the young nurse find the key near the river?
        sentence = f"did {subject} {base} {obj} {_pick(rng, PREPOSITIONS)} {place}?"
    elif template == 3:  # Please bring the red cup to the kitchen before noon.
        request, when = _pick(rng, REQUEST_VERBS), _pick(rng, REQUEST_TIMES)
        sentence = f"please {request} {obj} to {place} {when}."
    elif template == 4:  # The baker sold a warm loaf of bread, and the child laughed happily.
        other, other_plural = noun_phrase(rng, ANIMATE_NOUNS)
        _, i_past, _ = _pick_verb(rng, INTRANSITIVE_VERBS)
        sentence = f"{subject} {past} {obj}, and {other} {i_past} {_pick(rng, ADVERBS)}."
    elif template == 5:  # When the bell rang, the captain opened the door.
        first, _ = noun_phrase(rng, ANIMATE_NOUNS, allow_plural=False)
        _, i_past, _ = _pick_verb(rng, INTRANSITIVE_VERBS)
        sentence = f"when {first} {i_past} {time}, {subject} {past} {obj}."
    else:  # The sky was dark and the water was cold at dawn.
        be = "were" if subject_plural else "was"
        sentence = (
            f"{subject} {be} {_pick(rng, ANIMATE_ADJECTIVES)} and the {_pick(rng, SCENERY)} "
            f"was {_pick(rng, SCENERY_ADJECTIVES)} {time}."
        )
    return _capitalise(sentence)


def make_text(rng: np.random.Generator, sentences: int = 1) -> str:
    """``sentences`` sentences joined by spaces."""
    return " ".join(make_sentence(rng) for _ in range(sentences))
