"""Blocks -> passages: section- and sentence-bounded, sized in the embedding model's own tokens."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby

from kb.models import Block, Chunk, chunk_id_for
from kb.text import split_sentences


@dataclass
class _Sentence:
    text: str
    n_tokens: int
    page_label: str | None
    page_index: int | None


class Chunker:
    """Packs whole sentences into passages of at most `target` tokens, never over `hard_max`.

    `count` and `offsets` come from the embedding model's tokenizer, so a passage the chunker
    accepts is never silently truncated by the model.
    """

    def __init__(
        self,
        count: Callable[[list[str]], list[int]],
        offsets: Callable[[str], list[tuple[int, int]]],
        target: int,
        overlap: int,
        hard_max: int,
    ):
        if target > hard_max:
            target = hard_max
        self.count = count
        self.offsets = offsets
        self.target = target
        self.overlap = overlap
        self.hard_max = hard_max

    def _split_long(self, text: str) -> list[str]:
        """A sentence over the target is cut at word-piece boundaries (rare: tables, lists, run-ons)."""
        offs = self.offsets(text)
        pieces = []
        for i in range(0, len(offs), self.target):
            window = offs[i : i + self.target]
            start = window[0][0]
            end = offs[i + self.target][0] if i + self.target < len(offs) else len(text)
            piece = text[start:end].strip()
            if piece:
                pieces.append(piece)
        return pieces

    def _sentences(self, blocks: list[Block]) -> list[_Sentence]:
        per_block = split_sentences([b.text for b in blocks])
        # Count each sentence as it will be joined: Python's whitespace (form feed, \x1c-\x1f) becomes a space
        # there, while the tokenizer drops those characters and glues the words around them into one.
        flat: list[tuple[str, Block]] = [
            (t, b) for b, sents in zip(blocks, per_block, strict=True) for s in sents if (t := _join([s]))
        ]
        counts = self.count([s for s, _ in flat]) if flat else []
        out: list[_Sentence] = []
        for (text, b), n in zip(flat, counts, strict=True):
            if n <= self.target:
                out.append(_Sentence(text, n, b.page_label, b.page_index))
                continue
            parts = self._split_long(text)
            for part, pn in zip(parts, self.count(parts), strict=True):
                out.append(_Sentence(part, pn, b.page_label, b.page_index))
        return out

    def _pack(self, sents: list[_Sentence]) -> list[list[_Sentence]]:
        groups: list[list[_Sentence]] = []
        cur: list[_Sentence] = []
        size = 0
        for s in sents:
            if cur and size + s.n_tokens > self.target:
                groups.append(cur)
                # Carry trailing sentences as overlap, but never a whole chunk's worth.
                carry: list[_Sentence] = []
                carried = 0
                for prev in reversed(cur):
                    if carried + prev.n_tokens > self.overlap or len(carry) + 1 >= len(cur):
                        break
                    carry.insert(0, prev)
                    carried += prev.n_tokens
                if carried + s.n_tokens > self.target:
                    carry, carried = [], 0
                cur, size = carry, carried
            cur.append(s)
            size += s.n_tokens
        if cur:
            groups.append(cur)
        return groups

    def chunk(self, doc_id: str, blocks: list[Block]) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section, group in groupby(blocks, key=lambda b: tuple(b.section)):
            sents = self._sentences(list(group))
            for packed in self._pack(sents):
                text = _join(s.text for s in packed)
                chunks.append(
                    Chunk(
                        chunk_id="",
                        doc_id=doc_id,
                        index=0,
                        text=text,
                        section=list(section),
                        page_start=packed[0].page_label,
                        page_end=packed[-1].page_label,
                        page_index=packed[0].page_index,
                    )
                )
        for ch, n in zip(chunks, self.count([c.text for c in chunks]), strict=True):
            if n > self.hard_max:  # joining never adds word pieces, so this is a bug, not a user error
                raise AssertionError(f"chunk of {n} tokens exceeds the model window of {self.hard_max}")
            ch.n_tokens = n
        for i, ch in enumerate(chunks):
            ch.index = i
            ch.chunk_id = chunk_id_for(doc_id, i)
        return chunks


def _join(parts) -> str:
    return re.sub(r"\s+", " ", " ".join(parts)).strip()
