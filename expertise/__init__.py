"""Tele-expertise: professional directory, routed second-opinion requests, durable deadlines, FHIR views.

Not built yet: this package is issue #4's.
"""

__all__: list[str] = []
