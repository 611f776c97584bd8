"""French and English UI strings. Templates call ``t(key)``; browser modules receive ``js_strings(lang)``."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["SUPPORTED", "negotiate", "translator", "js_strings", "STRINGS"]

SUPPORTED = ("fr", "en")

STRINGS: dict[str, dict[str, str]] = {
    "app_name": {"fr": "Lucarne", "en": "Lucarne"},
    "language_switch": {"fr": "English", "en": "Français"},
    "error_title": {"fr": "Une erreur est survenue", "en": "Something went wrong"},
    "link_error_title": {"fr": "Ce lien ne permet pas de rejoindre", "en": "This link cannot be used"},
    "link_invalid": {"fr": "Ce lien est incomplet ou a été modifié. Vérifiez-le ou demandez-en un nouveau à votre soignant.",
                     "en": "This link is incomplete or was altered. Check it or ask your practitioner for a new one."},
    "link_expired": {"fr": "Ce lien a expiré. Demandez un nouveau lien à votre soignant.",
                     "en": "This link has expired. Ask your practitioner for a new one."},
    "link_revoked": {"fr": "Ce lien a été annulé par votre soignant. Demandez-lui un nouveau lien.",
                     "en": "Your practitioner cancelled this link. Ask them for a new one."},
    "link_used": {"fr": "Ce lien a déjà été utilisé. Rouvrez la page sur l'appareil où vous l'avez ouvert, ou demandez un nouveau lien.",
                  "en": "This link was already used. Go back to the device where you opened it, or ask for a new link."},
    "link_ended": {"fr": "Cette consultation est terminée.", "en": "This consultation has ended."},
    "visit_needs_link": {"fr": "Ouvrez le lien que votre soignant vous a envoyé pour rejoindre la consultation.",
                         "en": "Open the link your practitioner sent you to join the consultation."},
    "login_title": {"fr": "Connexion professionnelle", "en": "Professional login"},
    "username": {"fr": "Identifiant", "en": "User name"},
    "password": {"fr": "Mot de passe", "en": "Password"},
    "login": {"fr": "Se connecter", "en": "Log in"},
    "logout": {"fr": "Se déconnecter", "en": "Log out"},
    "login_failed": {"fr": "Identifiant ou mot de passe incorrect.", "en": "Wrong user name or password."},
    "login_rate_limited": {"fr": "Trop d'essais. Réessayez dans quelques minutes.",
                           "en": "Too many attempts. Try again in a few minutes."},
    "console_title": {"fr": "Mes téléconsultations", "en": "My teleconsultations"},
    "new_consultation": {"fr": "Nouvelle téléconsultation", "en": "New teleconsultation"},
    "patient_name": {"fr": "Nom du patient", "en": "Patient name"},
    "patient_phone": {"fr": "Téléphone (facultatif)", "en": "Phone (optional)"},
    "patient_email": {"fr": "E-mail (facultatif)", "en": "E-mail (optional)"},
    "scheduled_at": {"fr": "Date et heure", "en": "Date and time"},
    "duration_min": {"fr": "Durée (minutes)", "en": "Duration (minutes)"},
    "language": {"fr": "Langue du patient", "en": "Patient's language"},
    "create": {"fr": "Créer", "en": "Create"},
    "status": {"fr": "Statut", "en": "Status"},
    "open": {"fr": "Ouvrir", "en": "Open"},
    "no_consultations": {"fr": "Aucune consultation pour l'instant.", "en": "No consultations yet."},
    "status_scheduled": {"fr": "programmée", "en": "scheduled"},
    "status_in_progress": {"fr": "en cours", "en": "in progress"},
    "status_ended": {"fr": "terminée", "en": "ended"},
    "status_cancelled": {"fr": "annulée", "en": "cancelled"},
    "back": {"fr": "Retour", "en": "Back"},
    "patient_link": {"fr": "Lien patient", "en": "Patient link"},
    "new_link": {"fr": "Nouveau lien", "en": "New link"},
    "revoke": {"fr": "Annuler ce lien", "en": "Revoke this link"},
    "sms_text": {"fr": "Texte SMS", "en": "SMS text"},
    "email_text": {"fr": "Texte e-mail", "en": "E-mail text"},
    "calendar_invite": {"fr": "Invitation agenda (.ics)", "en": "Calendar invitation (.ics)"},
    "guest_link": {"fr": "Inviter un tiers (interprète, proche, infirmier·e)",
                   "en": "Invite a third person (interpreter, family, nurse)"},
    "guest_label": {"fr": "Qui ?", "en": "Who?"},
    "waiting_room": {"fr": "Salle d'attente", "en": "Waiting room"},
    "admit": {"fr": "Faire entrer", "en": "Admit"},
    "start_call": {"fr": "Démarrer l'appel", "en": "Start the call"},
    "mute": {"fr": "Micro", "en": "Mic"},
    "camera": {"fr": "Caméra", "en": "Camera"},
    "switch_camera": {"fr": "Changer de caméra", "en": "Switch camera"},
    "hangup": {"fr": "Raccrocher", "en": "Hang up"},
    "chat": {"fr": "Messages", "en": "Messages"},
    "send": {"fr": "Envoyer", "en": "Send"},
    "end_consultation": {"fr": "Terminer la consultation", "en": "End the consultation"},
    "report": {"fr": "Compte rendu", "en": "Report"},
    "save_report": {"fr": "Enregistrer le compte rendu", "en": "Save the report"},
    "visit_title": {"fr": "Votre téléconsultation", "en": "Your video consultation"},
    "device_check": {"fr": "Vérifions votre caméra et votre micro", "en": "Let's check your camera and microphone"},
    "continue": {"fr": "Continuer", "en": "Continue"},
    "continue_audio": {"fr": "Continuer sans caméra", "en": "Continue without camera"},
    "waiting_title": {"fr": "Salle d'attente", "en": "Waiting room"},
    "waiting_text": {"fr": "Votre soignant va vous faire entrer. Gardez cette page ouverte.",
                     "en": "Your practitioner will let you in. Keep this page open."},
    "ended_title": {"fr": "La consultation est terminée", "en": "The consultation has ended"},
    "ended_text": {"fr": "Merci. Vous pouvez fermer cette page.", "en": "Thank you. You may close this page."},
    "mic_level": {"fr": "Niveau du micro", "en": "Microphone level"},
    "network": {"fr": "Réseau", "en": "Network"},
}

# Strings the browser modules need (sent in the page's boot data).
_JS_KEYS = (
    "js_checking", "js_camera_ok", "js_denied", "js_denied_help", "js_no_device", "js_no_device_help",
    "js_network_ok", "js_network_slow", "js_network_down", "js_connecting", "js_reconnecting", "js_in_call",
    "js_waiting", "js_admitted", "js_peer_left", "js_error", "js_link_copied", "js_confirm_end", "js_saved",
    "js_online", "js_offline", "kind_patient", "kind_guest", "kind_practitioner", "state_checking",
    "state_waiting", "state_admitted", "state_left",
)
STRINGS.update({
    "js_checking": {"fr": "Vérification en cours…", "en": "Checking…"},
    "js_camera_ok": {"fr": "Caméra et micro fonctionnent.", "en": "Camera and microphone work."},
    "js_denied": {"fr": "L'accès à la caméra ou au micro a été refusé.", "en": "Camera or microphone access was denied."},
    "js_denied_help": {"fr": "Touchez le cadenas dans la barre d'adresse, autorisez caméra et micro, puis rechargez la page. Sur iPhone : Réglages › Safari › Caméra / Micro › Autoriser.",
                       "en": "Tap the padlock in the address bar, allow camera and microphone, then reload. On iPhone: Settings › Safari › Camera / Microphone › Allow."},
    "js_no_device": {"fr": "Aucune caméra ou aucun micro trouvé.", "en": "No camera or microphone was found."},
    "js_no_device_help": {"fr": "Branchez un micro ou une caméra, ou fermez les autres applications qui les utilisent. Vous pouvez continuer sans caméra.",
                          "en": "Plug in a microphone or camera, or close other apps using them. You can continue without a camera."},
    "js_network_ok": {"fr": "Connexion au serveur : bonne", "en": "Connection to the server: good"},
    "js_network_slow": {"fr": "Connexion au serveur : lente", "en": "Connection to the server: slow"},
    "js_network_down": {"fr": "Pas de connexion au serveur", "en": "No connection to the server"},
    "js_connecting": {"fr": "Connexion…", "en": "Connecting…"},
    "js_reconnecting": {"fr": "Reconnexion…", "en": "Reconnecting…"},
    "js_in_call": {"fr": "En consultation", "en": "In the call"},
    "js_waiting": {"fr": "En attente", "en": "Waiting"},
    "js_admitted": {"fr": "Vous êtes admis·e", "en": "You have been admitted"},
    "js_peer_left": {"fr": "Un participant est parti", "en": "A participant left"},
    "js_error": {"fr": "Erreur", "en": "Error"},
    "js_link_copied": {"fr": "Lien copié", "en": "Link copied"},
    "js_confirm_end": {"fr": "Terminer la consultation pour tout le monde ?", "en": "End the consultation for everyone?"},
    "js_saved": {"fr": "Enregistré", "en": "Saved"},
    "js_online": {"fr": "en ligne", "en": "online"},
    "js_offline": {"fr": "hors ligne", "en": "offline"},
    "kind_patient": {"fr": "Patient", "en": "Patient"},
    "kind_guest": {"fr": "Invité", "en": "Guest"},
    "kind_practitioner": {"fr": "Soignant", "en": "Practitioner"},
    "state_checking": {"fr": "vérifie ses appareils", "en": "checking devices"},
    "state_waiting": {"fr": "attend", "en": "waiting"},
    "state_admitted": {"fr": "admis", "en": "admitted"},
    "state_left": {"fr": "parti", "en": "left"},
})


def negotiate(query_lang: str | None, accept_language: str | None, default: str = "fr") -> str:
    if query_lang in SUPPORTED:
        return query_lang  # type: ignore[return-value]
    for part in (accept_language or "")[:200].split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in SUPPORTED:
            return code
    return default


def translator(lang: str) -> Callable[[str], str]:
    def t(key: str) -> str:
        entry = STRINGS.get(key)
        if entry is None:
            return key
        return entry.get(lang) or entry.get("en") or key

    return t


def js_strings(lang: str) -> dict[str, str]:
    t = translator(lang)
    return {key: t(key) for key in _JS_KEYS}
