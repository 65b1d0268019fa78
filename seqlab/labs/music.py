"""Bach chorale melodies from the corpus that ships inside the `music21` package (no download).

music21 (BSD-3-Clause; its corpus is distributed with the encoders' permission, see
music21/corpus/license.txt) installs a corpus of scores, among them about 400 four-part
chorales harmonised by J. S. Bach (public-domain music) as compressed MusicXML (`.mxl`). We
read the *soprano* line (the chorale melody) of each straight from the MusicXML with the
standard library (the music21 parser is much slower and not needed for one line), and

- transpose it by its key signature so that every chorale is in C major / A minor,
- write each note as a token "pitch_duration": MIDI pitch number (or R for a rest) and the
  length in quarter notes (tied notes merged), e.g. "67_1.0" is a G above middle C, one beat.

The melodies are cached in a temporary folder (`$SEQLAB_CACHE`, like the transliteration data).
`load_chorales()` splits them 80/10/10 by a hash of the file name.
"""
from __future__ import annotations

import glob
import importlib.util
import json
import os
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from ..translit import split_of

STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def corpus_files() -> list:
    spec = importlib.util.find_spec("music21")
    if spec is None:
        raise ImportError("the music21 package is not installed (pip install music21)")
    root = spec.submodule_search_locations[0]
    return sorted(glob.glob(os.path.join(root, "corpus", "bach", "*.mxl")))


def soprano_tokens(path: str) -> list:
    """The soprano line of one chorale as 'pitch_duration' tokens (transposed to C / a)."""
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.endswith((".xml", ".musicxml"))
                 and not n.startswith("META")]
        if not names:
            return []
        root = ET.fromstring(z.read(names[0]))
    if root.tag != "score-partwise":
        return []
    parts = {sp.get("id"): (sp.findtext("part-name") or "") for sp in root.iter("score-part")}
    pid = next((i for i, n in parts.items() if n.lower().startswith("soprano")), None)
    if pid is None:
        return []
    part = next(p for p in root.iter("part") if p.get("id") == pid)
    divisions, shift, notes = 1, None, []
    for measure in part.iter("measure"):
        for el in measure:
            if el.tag == "attributes":
                divisions = int(el.findtext("divisions") or divisions)
                fifths = el.findtext("key/fifths")
                if fifths is not None and shift is None:
                    shift = -((int(fifths) * 7) % 12)       # tonic (major) down to C
                    if shift < -6:
                        shift += 12
            elif el.tag == "note":
                if el.find("chord") is not None or el.find("grace") is not None:
                    continue
                if (el.findtext("voice") or "1") != "1":
                    continue
                dur = int(el.findtext("duration") or 0) / divisions
                if el.find("rest") is not None:
                    pitch = None
                else:
                    p = el.find("pitch")
                    pitch = (12 * (int(p.findtext("octave")) + 1) + STEPS[p.findtext("step")]
                             + int(float(p.findtext("alter") or 0)))
                tie_stop = any(t.get("type") == "stop" for t in el.findall("tie"))
                if tie_stop and notes and notes[-1][0] == pitch:
                    notes[-1][1] += dur
                else:
                    notes.append([pitch, dur])
    shift = shift or 0
    return [("R" if p is None else str(p + shift)) + f"_{d:g}" for p, d in notes if d > 0]


def _cache_path() -> Path:
    root = Path(os.environ.get("SEQLAB_CACHE", Path(tempfile.gettempdir()) / "seqlab-cache"))
    from importlib.metadata import version
    return root / f"chorales-v1-music21-{version('music21')}.json"


def chorale_melodies() -> dict:
    """{file name: token list} for every Bach chorale with a soprano part (cached)."""
    path = _cache_path()
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    out = {}
    for f in corpus_files():
        toks = soprano_tokens(f)
        if len(toks) >= 16:
            out[os.path.basename(f)] = toks
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(out))
        tmp.replace(path)
    except OSError:
        pass
    return out


def load_chorales():
    """{'train'|'val'|'test': list of token lists}, split by a hash of the file name."""
    parts = {"train": [], "val": [], "test": []}
    for name, toks in sorted(chorale_melodies().items()):
        parts[split_of(name)].append(toks)
    return parts
