"""The issue lists' `search` as GitLab runs it (`IssuableFinder#by_search`).

Latin text (ASCII and Latin letters only) goes to PostgreSQL's full-text search with the `english`
dictionary (`PgFullTextSearchable`): the title is indexed with weight A and the description with weight B;
every query word, stemmed, must be the prefix of a stemmed word of the text (`to_tsquery('english',
'word:*')`), so `rollouts` finds "Alpha rollout plan" and `llout` finds nothing; English stop words are
left out (a query of stop words alone finds nothing); a quoted phrase must appear as consecutive words; a
number matches every issue (GitLab writes it `(n:* | -n:*)`); `in=title` or `in=description` keeps one
weight. Accents are dropped on both sides and URL schemes and characters other than letters, digits and
` .@/-"` are removed from the query, as GitLab does.

Any other text (CJK, Cyrillic, ...) is searched as GitLab's `full_search` does: each word of 3 or more
characters must be a substring of the title or the description, ignoring case; a query with no such word
must equal one of them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# PostgreSQL's `english.stop` (the Snowball English stop word list).
STOP_WORDS = frozenset(
    (
        "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself",
        "yourselves", "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself",
        "they", "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that",
        "these", "those", "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had",
        "having", "do", "does", "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as",
        "until", "while", "of", "at", "by", "for", "with", "about", "against", "between", "into", "through",
        "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off",
        "over", "under", "again", "further", "then", "once", "here", "there", "when", "where", "why", "how",
        "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not",
        "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don", "should",
        "now",
    )
)  # fmt: skip
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_URL_SCHEME = re.compile(r"(?<!\w)\w+://(?=\w)")
_DISALLOWED = re.compile(r"[^a-zA-Z0-9 .@/\-\"]")
_TERMS = re.compile(r'"([^"]+)"|(\S+)')
MIN_FUZZY_CHARS = 3


def is_latin(text: str) -> bool:
    """Whether GitLab would use full-text search for `text`: every character ASCII or a Latin letter."""
    return all(ord(char) < 128 or "LATIN" in unicodedata.name(char, "") for char in text)


def _fold(text: str) -> str:
    """Accents dropped (`ActiveSupport::Inflector.transliterate`), lower case."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).lower()


@functools.cache
def _stemmer() -> object:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))  # type: ignore[attr-defined]


def lexemes(text: str) -> list[str]:
    """The words of `text` as `to_tsvector('english', ...)` keeps them, in order: stemmed, no stop words;
    a hyphenated word gives itself and its parts."""
    found: list[str] = []
    for match in _WORD.finditer(_fold(text)):
        word = match.group(0)
        parts = word.split("-")
        candidates = [word, *parts] if len(parts) > 1 else [word]
        found.extend(_stem(part) for part in candidates if part not in STOP_WORDS)
    return found


@dataclass(frozen=True)
class Query:
    """A parsed full-text query: terms all of which must match (a term is a phrase of one or more words)."""

    terms: tuple[tuple[str, ...], ...]
    matches_all: tuple[bool, ...]  # per term: a number, which GitLab's query matches whatever the text


def parse_query(text: str) -> Query:
    text = _DISALLOWED.sub(" ", _URL_SCHEME.sub("", _fold(text)))
    terms: list[tuple[str, ...]] = []
    numbers: list[bool] = []
    for phrase, word in _TERMS.findall(text):
        words = tuple(lexemes(phrase or word))
        if not words:
            continue  # a stop word, or punctuation alone: PostgreSQL leaves it out
        terms.append(words)
        numbers.append(not phrase and word.isdigit())
    return Query(tuple(terms), tuple(numbers))


def _has_phrase(words: Sequence[str], phrase: tuple[str, ...], *, prefix: bool) -> bool:
    if len(phrase) == 1:
        return any(w.startswith(phrase[0]) if prefix else w == phrase[0] for w in words)
    size = len(phrase)
    return any(tuple(words[i : i + size]) == phrase for i in range(len(words) - size + 1))


def matches(query_text: str, title: str, description: str, fields: Sequence[str]) -> bool:
    """Whether an issue with `title` and `description` is found by `search=query_text&in=fields`."""
    searched = [text for name, text in (("title", title), ("description", description)) if name in fields]
    if is_latin(query_text):
        query = parse_query(query_text)
        if not query.terms:
            return False
        texts = [lexemes(text) for text in searched]
        return all(
            number or any(_has_phrase(words, term, prefix=len(term) == 1) for words in texts)
            for term, number in zip(query.terms, query.matches_all, strict=True)
        )
    haystacks = [text.lower() for text in searched]
    words = [word.lower() for word in query_text.split() if len(word) >= MIN_FUZZY_CHARS]
    if not words:
        return any(text == query_text.lower() for text in haystacks)
    return all(any(word in text for text in haystacks) for word in words)
