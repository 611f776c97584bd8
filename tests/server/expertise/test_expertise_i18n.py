"""The tele-expertise pages (list, request, metrics, profile) render in French and in English from
``server/platform/i18n.py`` (``?lang=`` or Accept-Language), with no English label left in the French page and no
missing key shown."""

from __future__ import annotations

import re
from typing import Any

import pytest

from server.platform import i18n
from tests.server.expertise.test_requests_http import API, _create, _login, _people

# Visible texts each page must show in each language (a sample per page: title, a form label, a code label).
EXPECTED = {
    "fr": {"/expertise": ["Demandes", "Nouvelle demande d'avis", "Statut de l'identité (INS)", "habituelle",
                          "Envoyer la demande", "Mon profil de télé-expertise"],
           "request": ["Réponse attendue avant", "Échanges", "Historique", "proposée", "Accepter"],
           "/expertise/metrics": ["Indicateurs", "Délai de réponse, médiane / p90", "90 derniers jours",
                                  "orientations évitées"],
           "/directory/profile": ["Mon profil de télé-expertise", "Enregistrer", "Ajouter l'absence"]},
    "en": {"/expertise": ["Requests", "New second-opinion request", "Identity status (INS)", "routine",
                          "Send the request", "My tele-expertise profile"],
           "request": ["Answer due by", "Thread", "History", "offered", "Accept"],
           "/expertise/metrics": ["Metrics", "Time to answer, median / p90", "last 90 days", "referrals avoided"],
           "/directory/profile": ["My tele-expertise profile", "Save", "Add the absence"]},
}
# English labels that used to be hard-coded in the templates: none may remain on a French page.
ENGLISH_ONLY = ["family name", "given names", "birth date", "identity status", ">question<", ">context<",
                "time to answer", "answered within deadline", "Time to answer (requests"]


def _visible(html: str) -> str:
    html = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", html)


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_expertise_pages_render_in_the_requested_language(live_server: Any, lang: str) -> None:
    await _people(live_server)
    gp, near = await _login(live_server, "gpone"), await _login(live_server, "near")
    try:
        rid = (await _create(gp))["id"]
        pages = {"/expertise": gp, "request": near, "/expertise/metrics": gp, "/directory/profile": near}
        for path, browser in pages.items():
            url = f"/expertise/r/{rid}" if path == "request" else path
            for how in ({"params": {"lang": lang}}, {"headers": {"Accept-Language": f"{lang};q=0.9"}}):
                response = await browser.session.get(url, **how)
                assert response.status == 200, (url, await response.text())
                page = _visible(await response.text())
                assert f'<html lang="{lang}">' in page
                for text in EXPECTED[lang][path]:
                    assert text.replace("'", "&#39;") in page, (lang, path, text)
                assert "xp_" not in page  # an untranslated key shows as itself
                if lang == "fr":
                    for english in ENGLISH_ONLY:
                        assert english not in page, (path, english)
    finally:
        await gp.session.close()
        await near.session.close()


def test_every_expertise_string_has_both_languages() -> None:
    keys = [k for k in i18n.STRINGS if k.startswith("xp_") or k.startswith("profile_")]
    assert len(keys) > 80
    for key in keys:
        assert i18n.STRINGS[key]["fr"] and i18n.STRINGS[key]["en"], key
    label = i18n.code_labeler("fr")
    assert label("xp_state_", "info_requested") == "informations demandées"
    assert label("xp_urgency_", "tres-urgent") == "tres-urgent"  # a configured urgency without a translation
