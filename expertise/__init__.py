"""Tele-expertise: professional directory, routed second-opinion requests, durable deadlines, FHIR views.

Directory part: :class:`Directory` answers routing questions (:meth:`Directory.candidates`); the tables are
declared on :data:`metadata` (the host's migrations own the schema); :func:`territory` is the shipped
commune → département → region reference.
"""

from .directory import Candidate, Directory, display_name
from .models import metadata
from .territory import Territory, departement_of, territory

__all__ = ["Candidate", "Directory", "display_name", "metadata", "Territory", "departement_of", "territory"]
