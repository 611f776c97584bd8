"""SQLAlchemy tables of the tele-expertise domain: the professional directory and expertise profiles.

The tables hang off :data:`metadata` (same naming convention as the host's), so the host's Alembic environment
can autogenerate and compare them; migrations in ``server/platform/migrations`` own the schema.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, MetaData, String, true
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "metadata",
    "Base",
    "UTCDateTime",
    "Professional",
    "Activity",
    "SavoirFaire",
    "Diploma",
    "Organization",
    "Profile",
    "ProfileLanguage",
    "ProfileSpecialty",
    "Absence",
]

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})


class Base(DeclarativeBase):
    metadata = metadata


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always returns aware UTC datetimes (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Professional(Base):
    """One health professional, keyed by the 11-digit RPPS identifier ("Identifiant PP")."""

    __tablename__ = "directory_professionals"

    rpps: Mapped[str] = mapped_column(String(11), primary_key=True)
    national_id: Mapped[str] = mapped_column(String(20))  # "Identification nationale PP" (8 + RPPS)
    civility_code: Mapped[str] = mapped_column(String(8), default="")
    civility: Mapped[str] = mapped_column(String(60), default="")
    family_name: Mapped[str] = mapped_column(String(120))
    given_name: Mapped[str] = mapped_column(String(120), default="")
    source: Mapped[str] = mapped_column(String(8))  # "rpps" extract or "fhir" bundle
    # Digest of the identity and every activity line as imported: a re-import compares it and skips the row.
    row_hash: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # False once a full extract no longer lists the professional (``--prune``): the row stays, because requests
    # reference it, but routing skips it. A server default, so the importer's driver-level INSERT leaves it alone.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    inactive_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Activity(Base):
    """One line of the extract: a professional's activity (profession, savoir-faire, structure, place)."""

    __tablename__ = "directory_activities"
    # Few indexes on purpose: each one costs on every imported line. (rpps, specialty) serves routing (driven by
    # the accepted-specialty table) and the upsert's deletes; (specialty, commune) and postal code serve FHIR search.
    __table_args__ = (
        Index("ix_directory_activities_rpps_specialty", "rpps", "specialty_code"),
        Index("ix_directory_activities_specialty_commune", "specialty_code", "commune"),
        Index("ix_directory_activities_postal_code", "postal_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rpps: Mapped[str] = mapped_column(ForeignKey("directory_professionals.rpps", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # order among the professional's lines
    profession_code: Mapped[str] = mapped_column(String(8), default="")
    profession: Mapped[str] = mapped_column(String(120), default="")
    category_code: Mapped[str] = mapped_column(String(8), default="")
    specialty_type: Mapped[str] = mapped_column(String(8), default="")
    specialty_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    specialty: Mapped[str] = mapped_column(String(200), default="")
    practice_mode: Mapped[str] = mapped_column(String(8), default="")
    structure_id: Mapped[str] = mapped_column(String(40), default="")
    siret: Mapped[str] = mapped_column(String(14), default="")
    finess: Mapped[str] = mapped_column(String(9), default="")
    structure_name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    postal_code: Mapped[str | None] = mapped_column(String(10), nullable=True)
    commune: Mapped[str | None] = mapped_column(String(5), nullable=True)  # INSEE code
    commune_name: Mapped[str] = mapped_column(String(120), default="")
    departement: Mapped[str | None] = mapped_column(String(3), nullable=True)
    phone: Mapped[str] = mapped_column(String(30), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    role_code: Mapped[str] = mapped_column(String(8), default="")
    genre_code: Mapped[str] = mapped_column(String(8), default="")


class SavoirFaire(Base):
    """One line of ``PS_LibreAcces_SavoirFaire``: a savoir-faire the professional holds (specialty, competence,
    DESC, capacity...). Held by the person, not by one practice site, so it applies to all their activities."""

    __tablename__ = "directory_savoir_faire"

    rpps: Mapped[str] = mapped_column(ForeignKey("directory_professionals.rpps", ondelete="CASCADE"),
                                      primary_key=True)
    type_code: Mapped[str] = mapped_column(String(8), primary_key=True)  # TRE_R04 type: S, C, CEX, DNQ, CAPA...
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    type_label: Mapped[str] = mapped_column(String(120), default="")
    label: Mapped[str] = mapped_column(String(200), default="")


class Diploma(Base):
    """One line of ``PS_LibreAcces_Dipl_AutExerc``: a diploma obtained and/or an authorisation to practise."""

    __tablename__ = "directory_diplomas"
    __table_args__ = (Index("ix_directory_diplomas_rpps", "rpps", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rpps: Mapped[str] = mapped_column(ForeignKey("directory_professionals.rpps", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    diploma_type_code: Mapped[str] = mapped_column(String(8), default="")
    diploma_type: Mapped[str] = mapped_column(String(120), default="")
    diploma_code: Mapped[str] = mapped_column(String(16), default="")
    diploma: Mapped[str] = mapped_column(String(200), default="")
    authorisation_type_code: Mapped[str] = mapped_column(String(8), default="")
    authorisation_type: Mapped[str] = mapped_column(String(120), default="")
    discipline_code: Mapped[str] = mapped_column(String(16), default="")
    discipline: Mapped[str] = mapped_column(String(200), default="")


class Organization(Base):
    """A structure (FHIR Organization import; extract lines carry their structure inline)."""

    __tablename__ = "directory_organizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    finess: Mapped[str] = mapped_column(String(9), default="")
    siret: Mapped[str] = mapped_column(String(14), default="")
    postal_code: Mapped[str | None] = mapped_column(String(10), nullable=True)
    commune: Mapped[str | None] = mapped_column(String(5), nullable=True)
    source: Mapped[str] = mapped_column(String(8))
    row_hash: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Profile(Base):
    """What a professional accepts for tele-expertise; absent profile = not routed to."""

    __tablename__ = "expertise_profiles"

    rpps: Mapped[str] = mapped_column(ForeignKey("directory_professionals.rpps", ondelete="CASCADE"),
                                      primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)  # open requests at once
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProfileLanguage(Base):
    __tablename__ = "expertise_profile_languages"

    rpps: Mapped[str] = mapped_column(ForeignKey("expertise_profiles.rpps", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str] = mapped_column(String(2), primary_key=True)  # ISO 639-1


class ProfileSpecialty(Base):
    """A savoir-faire code for which the professional accepts tele-expertise requests."""

    __tablename__ = "expertise_profile_specialties"
    __table_args__ = (Index("ix_expertise_profile_specialties_specialty", "specialty", "rpps"),)

    rpps: Mapped[str] = mapped_column(ForeignKey("expertise_profiles.rpps", ondelete="CASCADE"), primary_key=True)
    specialty: Mapped[str] = mapped_column(String(16), primary_key=True)


class Absence(Base):
    """A period ``[starts_at, ends_at)`` when the professional takes no request."""

    __tablename__ = "expertise_absences"
    __table_args__ = (Index("ix_expertise_absences_rpps_ends_at", "rpps", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rpps: Mapped[str] = mapped_column(ForeignKey("expertise_profiles.rpps", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(200), default="")
