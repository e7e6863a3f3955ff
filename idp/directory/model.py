"""Who exists: the directory's view of a professional, as the Annuaire Santé describes them.

These classes hold what the extraction files say, named with the Annuaire's own French
terms. They know nothing of OIDC: ``idp.claims`` turns them into PSC's JSON.

They are values: hashed, compared, never assigned to once built (changes go through
``dataclasses.replace``). They are not ``frozen``, though: a frozen dataclass sets each
field through ``object.__setattr__``, and building an Activite's 30 fields took 4.2 µs
against 0.36 µs, paid on each of a national import's two million rows and on each lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True, unsafe_hash=True)
class Activite:
    """One activity (situation d'exercice) of an exercice: where and how the person works.

    Every field is a string, ``""`` when the file leaves it empty, as in PSC's claims.
    """

    code_mode_exercice: str = ""
    code_secteur_activite: str = ""
    code_section_pharmacien: str = ""
    code_role: str = ""
    code_genre_activite: str = ""
    numero_siret_site: str = ""
    numero_siren_site: str = ""
    numero_finess_site: str = ""
    numero_finess_etablissement_juridique: str = ""
    identifiant_technique_structure: str = ""
    raison_sociale_site: str = ""
    enseigne_commerciale_site: str = ""
    complement_destinataire: str = ""
    complement_point_geographique: str = ""
    numero_voie: str = ""
    indice_repetition_voie: str = ""
    code_type_de_voie: str = ""
    libelle_voie: str = ""
    mention_distribution: str = ""
    bureau_cedex: str = ""
    code_postal: str = ""
    code_commune: str = ""
    code_pays: str = ""
    telephone: str = ""
    telephone2: str = ""
    telecopie: str = ""
    adresse_email: str = ""
    code_departement: str = ""
    ancien_identifiant_structure: str = ""
    autorite_enregistrement: str = ""


@dataclass(slots=True, unsafe_hash=True)
class Exercice:
    """One professional exercise (profession + category + savoir-faire) and its activities."""

    code_profession: str = ""
    code_categorie_professionnelle: str = ""
    code_civilite_exercice: str = ""
    nom_exercice: str = ""
    prenom_exercice: str = ""
    code_type_savoir_faire: str = ""
    code_savoir_faire: str = ""
    activites: tuple[Activite, ...] = ()


@dataclass(slots=True, unsafe_hash=True)
class AutreIdentifiant:
    """An entry of PSC's ``otherIds``: another identifier of the same person."""

    identifiant: str
    origine: str  # "RPPS", "ADELI", "EDIT", ...
    qualite: int = 1


@dataclass(slots=True, unsafe_hash=True)
class Practitioner:
    """A person known to the directory, keyed by their national identifier (idNat)."""

    id_nat: str
    type_identifiant: str  # TRE_G08 digit ("8" RPPS, "0" ADELI, "3", "5"), "" for EDIT
    identifiant: str  # the identifier without its type prefix
    nom: str = ""  # Nom de famille (état civil)
    prenoms: tuple[str, ...] = ()
    code_civilite: str = ""  # état-civil civility, e.g. "M", "MME"
    date_naissance: str = ""  # dd/MM/yyyy as in the files, "" if unknown
    telephone: str = ""  # correspondence phone (the order's data)
    email: str = ""  # correspondence e-mail (the order's data)
    exercices: tuple[Exercice, ...] = ()
    autres_identifiants: tuple[AutreIdentifiant, ...] = field(default=())

    @property
    def given_name(self) -> str:
        """First name as PSC shows it: the exercise first name, else the first civil one."""
        for exercice in self.exercices:
            if exercice.prenom_exercice:
                return exercice.prenom_exercice
        return self.prenoms[0] if self.prenoms else ""

    @property
    def family_name(self) -> str:
        """Family name as PSC shows it: the exercise name, else the civil name."""
        for exercice in self.exercices:
            if exercice.nom_exercice:
                return exercice.nom_exercice
        return self.nom

    @property
    def activites(self) -> tuple[Activite, ...]:
        return tuple(a for e in self.exercices for a in e.activites)
