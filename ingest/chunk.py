"""Blocks -> passages: section-, paragraph- and sentence-bounded, sized in the embedding model's own tokens."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby

from kb.models import Block, Chunk, chunk_id_for
from kb.text import split_sentences

# A passage at least this full closes at a paragraph end rather than take part of the next paragraph: one topic
# per passage keeps its vector on that topic (real-PDF questions, docs/benchmarks.md). A single block (an
# abstract) is packed sentence by sentence as before.
PARAGRAPH_FILL = 0.5
# A paragraph that is only a numbered or question heading the reader did not mark ("2.What is the NRM process?",
# "3.1 Sampling"): it opens a passage and joins the section path of the passages under it.
_INLINE_HEADING_RE = re.compile(r"^(?:\d+(?:\.\d+)*\.\s*|\d+\.\d+(?:\.\d+)*\s+)?[A-Z][^.;:!]*$")
_NUMBERED_RE = re.compile(r"^\d+(?:\.\d+)*\.\s*[A-Z]|^\d+\.\d+(?:\.\d+)*\s+[A-Z]")
INLINE_HEADING_WORDS = 12
# A figure or table caption ("FIGURE 1 | Life at ...", "Table 2. Baseline ..."): pypdf puts it wherever it
# stands on the page, often inside a sentence of the running text. It becomes a passage of its own, and the
# text around it is packed as if it were not there.
_CAPTION_RE = re.compile(r"^(?:FIGURE|Figure|Fig\.?|TABLE|Table)\s+[A-Z]?\d+[a-z]?\s*[|.:\u2013\u2014]\s*\S")
# A labelled panel set off by a bar ("FIGURE 2 | Diagram ...", "KEY CONCEPT 4 | Canine Cooperation Hypothesis",
# "BOX 1 | ..."): pypdf often runs it on from the text or caption before it in one block. The bar marks a label
# (a sentence never has one there), so the block is cut before it and each panel is passed apart like a caption.
_PANEL = r"[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)? [A-Z]?\d+[a-z]? \| \S"
_PANEL_RE = re.compile(_PANEL)
_PANEL_INSIDE_RE = re.compile(rf"(?<!\S){_PANEL}")


@dataclass
class _Sentence:
    text: str
    n_tokens: int
    page_label: str | None
    page_index: int | None
    paragraph: int  # which paragraph of the run it belongs to
    end_label: str | None  # the page it ends on (a sentence may run over a page break)
    ocr: bool  # some of it was read by OCR


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
        paras = _paragraph_numbers(blocks)
        para = dict(zip(map(id, blocks), paras, strict=True))
        # Count each sentence as it will be joined: Python's whitespace (form feed, \x1c-\x1f) becomes a space
        # there, while the tokenizer drops those characters and glues the words around them into one.
        # sentence, block it starts in, block it ends in, whether OCR read any block it spans
        flat: list[tuple[str, Block, Block, bool]] = []
        for i, (b, sents) in enumerate(zip(blocks, per_block, strict=True)):
            for j, s in enumerate(sents):
                if not (t := _join([s])):
                    continue
                if j == 0 and flat and i and paras[i] == paras[i - 1]:
                    # The paragraph ran on from the previous block: its first words end that block's last
                    # sentence, which keeps the page it starts on.
                    text, first, _, ocr = flat[-1]
                    flat[-1] = (_join([text, t]), first, b, ocr or b.ocr)
                else:
                    flat.append((t, b, b, b.ocr))
        counts = self.count([s for s, _, _, _ in flat]) if flat else []
        out: list[_Sentence] = []
        for (text, b, last, ocr), n in zip(flat, counts, strict=True):
            if n <= self.target:
                parts = [(text, n)]
            else:
                pieces = self._split_long(text)
                parts = list(zip(pieces, self.count(pieces), strict=True))
            for part, pn in parts:
                out.append(_Sentence(part, pn, b.page_label, b.page_index, para[id(b)], last.page_label, ocr))
        return out

    def _pack(self, paragraphs: list[list[_Sentence]]) -> list[list[_Sentence]]:
        groups: list[list[_Sentence]] = []
        cur: list[_Sentence] = []
        size = 0
        for para in paragraphs:
            if cur and size >= PARAGRAPH_FILL * self.target and size + sum(s.n_tokens for s in para) > self.target:
                groups.append(cur)  # a natural break: no overlap carried across it
                cur, size = [], 0
            for s in para:
                cur, size = self._add(groups, cur, size, s)
        if cur:
            groups.append(cur)
        return groups

    def _add(
        self, groups: list[list[_Sentence]], cur: list[_Sentence], size: int, s: _Sentence
    ) -> tuple[list[_Sentence], int]:
        """Adds one sentence to the passage being packed, closing it first (with overlap) when it is full."""
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
        return cur, size

    def _chunk(self, doc_id: str, section: list[str], packed: list[_Sentence]) -> Chunk:
        return Chunk(
            chunk_id="",
            doc_id=doc_id,
            index=0,
            text=_join(s.text for s in packed),
            section=list(section),
            page_start=packed[0].page_label,
            page_end=packed[-1].end_label,
            page_index=packed[0].page_index,
            ocr=any(s.ocr for s in packed),
        )

    def chunk(self, doc_id: str, blocks: list[Block], repeated: list[Chunk] | None = None) -> list[Chunk]:
        """The document's passages. One that repeats an earlier passage word for word is left out, and added to
        `repeated` when given, so the caller can say so."""
        chunks: list[Chunk] = []
        for _, group in groupby(blocks, key=lambda b: tuple(b.section)):
            for section, run in _runs(list(group)):
                sents = self._sentences(run)
                paragraphs = [list(g) for _, g in groupby(sents, key=lambda s: s.paragraph)]
                for packed in self._pack(paragraphs):
                    chunks.append(self._chunk(doc_id, section, packed))
        chunks = _first_copies(chunks, repeated if repeated is not None else [])
        for ch, n in zip(chunks, self.count([c.text for c in chunks]), strict=True):
            if n > self.hard_max:  # joining never adds word pieces, so this is a bug, not a user error
                raise AssertionError(f"chunk of {n} tokens exceeds the model window of {self.hard_max}")
            ch.n_tokens = n
        for i, ch in enumerate(chunks):
            ch.index = i
            ch.chunk_id = chunk_id_for(doc_id, i)
        return chunks


def _first_copies(chunks: list[Chunk], repeated: list[Chunk]) -> list[Chunk]:
    """Each passage text once, at its first place. A file can hold its text more than once (the US Trustee
    handbook .docx in ../shared/data holds its body four times over): every copy would be a search result of its
    own, and a result list of one passage four times answers nothing."""
    seen: set[str] = set()
    kept: list[Chunk] = []
    for ch in chunks:
        key = " ".join(ch.text.split())
        if key in seen:
            repeated.append(ch)
        else:
            seen.add(key)
            kept.append(ch)
    return kept


def is_inline_heading(text: str) -> bool:
    """A paragraph that is a numbered or question heading: short, capitalised, no sentence punctuation."""
    text = text.strip()
    if len(text.split()) > INLINE_HEADING_WORDS or not _INLINE_HEADING_RE.match(text):
        return False
    return bool(_NUMBERED_RE.match(text)) or text.endswith("?")


def is_caption(text: str) -> bool:
    return bool(_CAPTION_RE.match(text.strip())) or bool(_PANEL_RE.match(text.strip()))


def _split_panels(blocks: list[Block]) -> list[Block]:
    """Each block cut before every labelled panel inside it; the pieces keep its page and section."""
    out: list[Block] = []
    for b in blocks:
        # finditer's matches do not overlap, so "KEY CONCEPT 4 |" is one label, not "KEY" + "CONCEPT 4 |".
        cuts = [0, *(m.start() for m in _PANEL_INSIDE_RE.finditer(b.text)), len(b.text)]
        pieces = [b.text[i:j].strip() for i, j in zip(cuts, cuts[1:], strict=False)]
        out.extend(Block(p, b.section, b.page_label, b.page_index, b.ocr) for p in pieces if p)
    return out


def _paragraph_numbers(blocks: list[Block]) -> list[int]:
    """A block that does not end a sentence runs on into the next (a page break, or a caption taken out)."""
    out, n = [], 0
    for prev, _ in zip([None, *blocks], blocks, strict=False):
        if prev is not None and prev.text.rstrip(" \"\u201d\u2019')")[-1:] in ".!?:":
            n += 1
        out.append(n)
    return out


def _runs(blocks: list[Block]) -> list[tuple[list[str], list[Block]]]:
    """The blocks of one section as (section path, blocks) runs to pack apart: a new run at each inline
    heading (its path gains the heading), and each caption a run of its own after the text it interrupted."""
    runs: list[tuple[list[str], list[Block]]] = []
    captions: list[tuple[list[str], list[Block]]] = []
    base = list(blocks[0].section) if blocks else []
    path, cur = base, []
    for b in _split_panels(blocks):
        if is_caption(b.text):
            captions.append((path, [b]))
        elif is_inline_heading(b.text):
            if cur:
                runs.append((path, cur))
            path, cur = [*base, " ".join(b.text.split())], [b]
        else:
            cur.append(b)
    if cur:
        runs.append((path, cur))
    return runs + captions


def _join(parts) -> str:
    return re.sub(r"\s+", " ", " ".join(parts)).strip()
