"""The HTTP, socket and CLI side of the top-level expertise package: requests, FHIR, pages, directory."""
