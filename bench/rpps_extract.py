"""Deterministic synthetic ``PS_LibreAcces_Personne_activite`` extracts in the real format (56 columns).

Distributions (rough orders of magnitude of the national file): ~40 % doctors, then nurses, physiotherapists,
pharmacists, dentists, midwives; 1 to 4 activity lines per professional (mean ~1.4); practices spread over
every département weighted by population. Lines of a professional are contiguous and identifiers ascend, as
in the national extract. Usage: ``python -m bench.rpps_extract OUT --lines 2400000``.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from pathlib import Path

from expertise import territory
from expertise.rpps_format import STANDARD_HEADER

__all__ = ["generate", "DOCTOR_SPECIALTIES", "line_fields"]

PROFESSIONS = [  # code, label, weight, category
    ("10", "Médecin", 40, "C"), ("60", "Infirmier", 30, "C"), ("70", "Masseur-Kinésithérapeute", 12, "C"),
    ("21", "Pharmacien", 9, "C"), ("40", "Chirurgien-Dentiste", 6, "C"), ("50", "Sage-Femme", 3, "C"),
]
DOCTOR_SPECIALTIES = [  # savoir-faire code, label, weight
    ("SM53", "Spécialiste en Médecine Générale", 45), ("SM26", "Qualifié en Médecine Générale", 10),
    ("SM04", "Cardiologie et maladies vasculaires", 5), ("SM15", "Dermatologie et vénéréologie", 3),
    ("SM02", "Anesthésie-réanimation", 5), ("SM40", "Pédiatrie", 4), ("SM42", "Psychiatrie", 5),
    ("SM54", "Radio-diagnostic", 4), ("SM20", "Gynécologie-obstétrique", 3), ("SM38", "Ophtalmologie", 3),
    ("SM44", "Rhumatologie", 2), ("SM24", "Gastro-entérologie et hépatologie", 2), ("SM32", "Néphrologie", 1),
    ("SM33", "Neurologie", 2), ("SM36", "Oto-rhino-laryngologie", 2), ("SM14", "Endocrinologie", 1),
    ("SM19", "Gériatrie", 2), ("SM37", "Pneumologie", 1),
]
MODES = [("L", "Libéral"), ("S", "Salarié"), ("B", "Bénévole")]
GIVEN = ["Inès", "Camille", "Jean", "Marie", "Léa", "Hugo", "Chloé", "Théo", "Zoé", "Étienne", "Anaïs", "Noé",
         "Manon", "Lucas", "Océane", "Joël", "Gaëlle", "François", "Hélène", "Rémi"]
FAMILY = ["Moreau", "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
          "Lefèvre", "Garçon", "Roux", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau",
          "Ngô", "Benali", "Da Silva", "L'Hôpital", "Müller"]
STREETS = [("RUE", "rue"), ("AV", "avenue"), ("BD", "boulevard"), ("PL", "place"), ("CHE", "chemin")]
# Rough population weights: big urban départements get more practices.
_HEAVY = {"75": 12, "13": 8, "59": 8, "69": 7, "92": 6, "93": 5, "94": 5, "33": 5, "31": 5, "06": 4, "44": 4,
          "34": 4, "67": 4, "78": 4, "91": 4, "95": 4, "77": 4, "38": 4, "62": 4, "76": 4}


def _departements() -> tuple[list[str], list[int]]:
    deps = sorted(territory().region_of)
    deps = [d for d in deps if d not in ("975", "977", "978")]
    return deps, [_HEAVY.get(d, 2) for d in deps]


def _commune(rng: random.Random, dep: str) -> tuple[str, str]:
    """(INSEE commune, postal code) shaped like real ones."""
    if dep.startswith("97"):
        n = rng.randint(1, 24)
        return f"{dep}{n:02d}", f"{dep}{n * 4 % 100:02d}"
    n = rng.choice((1, 1, 1, 2, 3, 4)) if rng.random() < 0.3 else rng.randint(1, 400)
    postal_dep = "20" if dep in ("2A", "2B") else dep
    return f"{dep}{n:03d}", f"{postal_dep}{rng.randrange(0, 1000, 10):03d}"


def line_fields(rng: random.Random, rpps: str, person: tuple[str, str, str, str], profession: tuple[str, str, str],
                specialty: tuple[str, str], place: tuple[str, str, str], site: int) -> list[str]:
    civility_code, civility, family, given = person
    code, label, category = profession
    sf_code, sf_label = specialty
    commune, postal, dep = place
    mode = MODES[0] if rng.random() < 0.6 else MODES[1]
    street_code, street_label = rng.choice(STREETS)
    values = dict.fromkeys(STANDARD_HEADER, "")
    values.update({
        "Type d'identifiant PP": "8", "Identifiant PP": rpps, "Identification nationale PP": "8" + rpps,
        "Code civilité d'exercice": civility_code, "Libellé civilité d'exercice": civility,
        "Code civilité": "M" if rng.random() < 0.5 else "MME", "Libellé civilité": "",
        "Nom d'exercice": family, "Prénom d'exercice": given, "Code profession": code, "Libellé profession": label,
        "Code catégorie professionnelle": category, "Libellé catégorie professionnelle": "Civil",
        "Code type savoir-faire": "S" if sf_code else "", "Libellé type savoir-faire": "Spécialité ordinale" if sf_code else "",
        "Code savoir-faire": sf_code, "Libellé savoir-faire": sf_label,
        "Code mode exercice": mode[0], "Libellé mode exercice": mode[1],
        "Numéro SIRET site": f"{rng.randrange(10**13, 10**14)}" if mode[0] == "L" else "",
        "Numéro FINESS site": f"{dep[:2]}{rng.randrange(10**6, 10**7)}" if mode[0] == "S" else "",
        "Identifiant technique de la structure": f"R{rpps[-9:]}{site}",
        "Raison sociale site": f"CABINET DU DR {family.upper()}" if mode[0] == "L" else f"CENTRE HOSPITALIER {dep}",
        "Numéro Voie (coord. structure)": str(rng.randint(1, 180)),
        "Code type de voie (coord. structure)": street_code, "Libellé type de voie (coord. structure)": street_label,
        "Libellé Voie (coord. structure)": rng.choice(("de la République", "Victor Hugo", "des Écoles", "Pasteur")),
        "Code postal (coord. structure)": postal, "Code commune (coord. structure)": commune,
        "Libellé commune (coord. structure)": f"Commune {commune}", "Code pays (coord. structure)": "99100",
        "Libellé pays (coord. structure)": "France",
        "Téléphone (coord. structure)": f"0{rng.randint(1, 5)}{rng.randrange(10**7, 10**8)}",
        "Code Département (structure)": dep, "Autorité d'enregistrement": "CNOM",
        "Code secteur d'activité": "SA07", "Code rôle": "FON-01", "Code genre activité": "GENR01",
    })
    return [values[name] for name in STANDARD_HEADER]


def rows(lines: int, seed: int = 4) -> Iterator[list[str]]:
    """``lines`` activity lines, professionals in ascending RPPS order."""
    rng = random.Random(seed)
    deps, weights = _departements()
    professions = [p[:2] + (p[3],) for p in PROFESSIONS]
    profession_weights = [p[2] for p in PROFESSIONS]
    specialty_weights = [s[2] for s in DOCTOR_SPECIALTIES]
    written = 0
    number = 10_000_000_000
    while written < lines:
        number += rng.randint(1, 7)
        rpps = str(number)
        profession = rng.choices(professions, profession_weights)[0]
        doctor = profession[0] == "10"
        person = ("DR", "Docteur", rng.choice(FAMILY), rng.choice(GIVEN)) if doctor else (
            "", "", rng.choice(FAMILY), rng.choice(GIVEN))
        specialty = rng.choices(DOCTOR_SPECIALTIES, specialty_weights)[0][:2] if doctor else ("", "")
        home = rng.choices(deps, weights)[0]
        sites = min(rng.choices((1, 2, 3, 4), (72, 20, 6, 2))[0], lines - written)
        for site in range(sites):
            dep = home if site == 0 or rng.random() < 0.8 else rng.choices(deps, weights)[0]
            commune, postal = _commune(rng, dep)
            yield line_fields(rng, rpps, person, profession, specialty, (commune, postal, dep), site)
        written += sites


def generate(path: Path, lines: int, *, seed: int = 4, trailing_pipe: bool = True, encoding: str = "utf-8") -> None:
    end = "|\n" if trailing_pipe else "\n"
    with path.open("w", encoding=encoding, newline="") as out:
        out.write("|".join(STANDARD_HEADER) + end)
        for fields in rows(lines, seed):
            out.write("|".join(fields) + end)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--lines", type=int, default=2_400_000)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    generate(args.out, args.lines, seed=args.seed)


if __name__ == "__main__":
    main()
