"""Teleconsultation: consultations, invitations, the call's host side, the media relay, pages, API."""
