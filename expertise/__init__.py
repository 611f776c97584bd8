"""Tele-expertise: professional directory, routed second-opinion requests, durable deadlines, FHIR views.

Directory part:

- :class:`Directory` answers routing questions (:meth:`Directory.candidates`);
- :func:`import_rpps` / :func:`import_fhir_bundle` load the national extract or a FHIR R4 Bundle (upsert by RPPS);
- :class:`Profiles` holds what each professional accepts (capacity, languages, specialties, absences);
- :class:`DirectoryFhir` renders Practitioner / PractitionerRole resources and searchset Bundles;
- :func:`territory` is the shipped commune → département → region reference;
- the tables are declared on :data:`metadata` (the host's migrations own the schema).
"""

from .directory import Candidate, Directory, display_name
from .directory_errors import DirectoryError, ImportRefused, InvalidProfile, ProfessionalNotFound
from .directory_import import ImportReport, RejectFile, csv_safe, import_rpps
from .fhir import DirectoryFhir
from .fhir_import import import_fhir_bundle, sniff_format
from .models import metadata
from .profiles import AbsenceView, ProfileUpdate, ProfileView, Profiles
from .territory import Territory, departement_of, territory

__all__ = [
    "Candidate", "Directory", "display_name", "metadata", "Territory", "departement_of", "territory",
    "DirectoryError", "ImportRefused", "InvalidProfile", "ProfessionalNotFound",
    "ImportReport", "RejectFile", "csv_safe", "import_rpps", "import_fhir_bundle", "sniff_format",
    "DirectoryFhir", "Profiles", "ProfileView", "ProfileUpdate", "AbsenceView",
]
