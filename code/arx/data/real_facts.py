"""Real-world facts for probing a pretrained model: capitals, currencies, languages, continents, landmarks.

Why: a pretrained model's knowledge can only be attributed on facts it holds, and synthetic facts are not among
them. These are common, stable facts written for this project (one accepted answer each; disputed or ambiguous
ones, such as the continent of Australia or the country of Niagara Falls, are left out), each with three templates
so that a finding does not rest on one wording. A fact's answer is scored by its first token after the prompt
(the answer is preceded by one space), so answers are chosen to start with a distinctive word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: the relations of this file (typed configs take a list of them, so a misspelt one is a config error)
Relation = Literal["capital", "currency", "language", "continent", "landmark"]

#: relation -> templates; "{s}" is the subject, the answer follows the prompt after one space.
TEMPLATES: dict[str, list[str]] = {
    "capital": ["The capital of {s} is", "The capital city of {s} is", "{s}'s capital city is"],
    "currency": ["The currency of {s} is the", "The official currency of {s} is the", "In {s}, people pay with the"],
    "language": ["The official language of {s} is", "The main language spoken in {s} is",
                 "In {s}, most people speak"],
    "continent": ["{s} is a country in", "{s} is located on the continent of", "The continent where {s} lies is"],
    "landmark": ["{s} is located in the country of", "{s} can be found in the country of",
                 "To see {s}, you have to travel to"],
}

FACTS: dict[str, list[tuple[str, str]]] = {
    "capital": [
        ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Germany", "Berlin"),
        ("Russia", "Moscow"), ("China", "Beijing"), ("Egypt", "Cairo"), ("Greece", "Athens"), ("Portugal", "Lisbon"),
        ("Austria", "Vienna"), ("Poland", "Warsaw"), ("Hungary", "Budapest"), ("Ireland", "Dublin"),
        ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"), ("Denmark", "Copenhagen"),
        ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"), ("Indonesia", "Jakarta"), ("Kenya", "Nairobi"),
        ("Argentina", "Buenos Aires"), ("Peru", "Lima"), ("Chile", "Santiago"), ("Colombia", "Bogota"),
        ("Cuba", "Havana"), ("Canada", "Ottawa"), ("Australia", "Canberra"), ("South Korea", "Seoul"),
        ("Iran", "Tehran"), ("Iraq", "Baghdad"), ("Ukraine", "Kyiv"), ("Belgium", "Brussels"),
        ("the Netherlands", "Amsterdam"), ("Czech Republic", "Prague"), ("Romania", "Bucharest"),
        ("Turkey", "Ankara"), ("India", "New Delhi"), ("Mexico", "Mexico City"),
    ],
    "currency": [
        ("Japan", "yen"), ("India", "rupee"), ("Mexico", "peso"), ("Russia", "ruble"), ("China", "yuan"),
        ("South Korea", "won"), ("Switzerland", "franc"), ("Sweden", "krona"), ("Thailand", "baht"),
        ("Turkey", "lira"), ("Israel", "shekel"), ("Vietnam", "dong"), ("Indonesia", "rupiah"),
        ("South Africa", "rand"), ("Nigeria", "naira"), ("Saudi Arabia", "riyal"), ("Hungary", "forint"),
        ("the United States", "dollar"), ("Canada", "dollar"), ("Germany", "euro"), ("France", "euro"),
        ("Italy", "euro"), ("Spain", "euro"), ("the United Kingdom", "pound"), ("Brazil", "real"),
        ("Argentina", "peso"), ("Norway", "krone"), ("Denmark", "krone"), ("Poland", "zloty"),
        ("Ukraine", "hryvnia"),
    ],
    "language": [
        ("France", "French"), ("Germany", "German"), ("Spain", "Spanish"), ("Italy", "Italian"),
        ("Portugal", "Portuguese"), ("Brazil", "Portuguese"), ("Russia", "Russian"), ("Japan", "Japanese"),
        ("Greece", "Greek"), ("Turkey", "Turkish"), ("Poland", "Polish"), ("the Netherlands", "Dutch"),
        ("Sweden", "Swedish"), ("Norway", "Norwegian"), ("Finland", "Finnish"), ("Hungary", "Hungarian"),
        ("Israel", "Hebrew"), ("Iran", "Persian"), ("Thailand", "Thai"), ("Vietnam", "Vietnamese"),
        ("South Korea", "Korean"), ("Egypt", "Arabic"), ("Mexico", "Spanish"), ("Argentina", "Spanish"),
        ("Denmark", "Danish"), ("Ukraine", "Ukrainian"), ("Czech Republic", "Czech"), ("China", "Chinese"),
    ],
    "continent": [
        ("France", "Europe"), ("Japan", "Asia"), ("Brazil", "South America"), ("Kenya", "Africa"),
        ("Canada", "North America"), ("Egypt", "Africa"), ("India", "Asia"), ("Argentina", "South America"),
        ("Germany", "Europe"), ("Mexico", "North America"), ("Nigeria", "Africa"), ("China", "Asia"),
        ("Peru", "South America"), ("Italy", "Europe"), ("Chile", "South America"), ("Ghana", "Africa"),
        ("Thailand", "Asia"), ("Spain", "Europe"), ("Morocco", "Africa"), ("Vietnam", "Asia"),
        ("Colombia", "South America"), ("Sweden", "Europe"), ("Ethiopia", "Africa"), ("Indonesia", "Asia"),
        ("Poland", "Europe"), ("Cuba", "North America"), ("Norway", "Europe"), ("Senegal", "Africa"),
        ("Mongolia", "Asia"), ("Bolivia", "South America"),
    ],
    "landmark": [
        ("the Eiffel Tower", "France"), ("the Colosseum", "Italy"), ("the Great Wall", "China"),
        ("the Taj Mahal", "India"), ("the Statue of Liberty", "the United States"), ("Machu Picchu", "Peru"),
        ("the Sydney Opera House", "Australia"), ("the Kremlin", "Russia"), ("the Acropolis", "Greece"),
        ("the Brandenburg Gate", "Germany"), ("the Sagrada Familia", "Spain"), ("Mount Fuji", "Japan"),
        ("Christ the Redeemer", "Brazil"), ("the Pyramids of Giza", "Egypt"), ("Petra", "Jordan"),
        ("Angkor Wat", "Cambodia"), ("Chichen Itza", "Mexico"), ("Table Mountain", "South Africa"),
        ("Neuschwanstein Castle", "Germany"), ("the Leaning Tower of Pisa", "Italy"), ("the Alhambra", "Spain"),
        ("the Hagia Sophia", "Turkey"), ("the Louvre", "France"), ("the Parthenon", "Greece"),
        ("the Forbidden City", "China"), ("Red Square", "Russia"), ("the Blue Mosque", "Turkey"),
        ("the CN Tower", "Canada"), ("Uluru", "Australia"), ("Mount Kilimanjaro", "Tanzania"),
    ],
}


@dataclass(frozen=True)
class RealFact:
    relation: str
    subject: str
    answer: str
    index: int  # position in FACTS[relation]: the fact's identity across templates


def real_facts(relations: list[str] | None = None) -> list[RealFact]:
    """Every fact of ``relations`` (default: all), in a fixed order."""
    names = list(FACTS) if relations is None else relations
    unknown = [r for r in names if r not in FACTS]
    if unknown:
        raise ValueError(f"real_facts: unknown relation(s) {unknown}; use some of {sorted(FACTS)}")
    return [RealFact(r, s, a, i) for r in names for i, (s, a) in enumerate(FACTS[r])]


def renderings(facts: list[RealFact]) -> list[tuple[str, str, RealFact]]:
    """(prompt, answer, fact) for every template of every fact; the prompt's first letter is upper-case."""
    out = []
    for f in facts:
        for t in TEMPLATES[f.relation]:
            prompt = t.format(s=f.subject)
            out.append((prompt[0].upper() + prompt[1:], f.answer, f))
    return out
