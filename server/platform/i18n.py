"""French and English UI strings for Lucarne's pages.

Templates call ``t(key)``; the browser modules get the subset they need through the page's boot data
(``boot.strings = js_strings(lang)``). A missing translation falls back to English, then to the key itself, so a
typo shows up on the page instead of crashing it. Strings may hold ``{name}``-style placeholders that the caller
fills in (the JS side does it in ``i18n.js``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["SUPPORTED", "STRINGS", "JS_KEYS", "negotiate", "translator", "code_labeler", "js_strings"]

SUPPORTED: tuple[str, ...] = ("fr", "en")

# key: (French, English)
_PAIRS: dict[str, tuple[str, str]] = {
    # -- layout and errors ------------------------------------------------------------------------------------
    "app_name": ("Lucarne", "Lucarne"),
    "language_switch": ("English", "Français"),
    "language_switch_label": ("Read this page in English", "Lire cette page en français"),
    "error_title": ("Une erreur est survenue", "Something went wrong"),
    "error_hint": ("Si le problème continue, contactez votre soignant ou le secrétariat.",
                   "If the problem goes on, contact your practitioner or their office."),
    "error_code": ("Code d'erreur", "Error code"),
    "link_error_title": ("Ce lien ne permet pas de rejoindre", "This link cannot be used"),
    "link_invalid": ("Ce lien est incomplet ou a été modifié. Vérifiez-le ou demandez-en un nouveau à votre soignant.",
                     "This link is incomplete or was altered. Check it or ask your practitioner for a new one."),
    "link_expired": ("Ce lien a expiré. Demandez un nouveau lien à votre soignant.",
                     "This link has expired. Ask your practitioner for a new one."),
    "link_revoked": ("Ce lien a été annulé par votre soignant. Demandez-lui un nouveau lien.",
                     "Your practitioner cancelled this link. Ask them for a new one."),
    "link_used": ("Ce lien a déjà été utilisé. Rouvrez la page sur l'appareil où vous l'avez ouvert, "
                  "ou demandez un nouveau lien.",
                  "This link was already used. Go back to the device where you opened it, or ask for a new link."),
    "link_ended": ("Cette consultation est terminée.", "This consultation has ended."),
    "link_closed": ("Ce dossier de régulation est clos.", "This emergency case is closed."),
    "link_not_yet_title": ("Il est encore un peu tôt", "It is a little early"),
    "link_not_yet": ("Ce lien s'ouvrira le {when} (heure de Paris). Revenez à partir de ce moment-là avec le même "
                     "lien.",
                     "This link opens on {when} (Paris time). Come back from then on with the same link."),
    # The page a join or caller link first shows: nothing is used until the button is pressed (link previews
    # in messaging apps fetch the page too). It names nobody: a preview may show it to whoever sees the chat.
    "join_title": ("Votre téléconsultation", "Your video consultation"),
    "join_text": ("Touchez le bouton pour rejoindre. Vous vérifierez d'abord votre caméra et votre micro, puis "
                  "vous attendrez que votre soignant vous fasse entrer.",
                  "Tap the button to join. You will first check your camera and microphone, then wait until "
                  "your practitioner lets you in."),
    "join_button": ("Rejoindre la consultation", "Join the consultation"),
    "join_hint": ("Ce lien est personnel : ne le transférez pas.", "This link is personal: do not forward it."),
    "caller_landing_text": ("Le SAMU vous a envoyé ce lien pour voir la situation avec la caméra de votre "
                            "téléphone. Touchez le bouton pour continuer : vous pourrez ensuite accepter ou refuser.",
                            "The emergency service sent you this link to see what is happening through your "
                            "phone's camera. Tap the button to go on: you can then agree or refuse."),
    "caller_landing_button": ("Continuer", "Continue"),
    "caller_landing_hint": ("Ce lien ne fonctionne que sur un seul téléphone.", "This link works on one phone only."),
    "link_opening": ("Ouverture…", "Opening…"),
    "caller_other_device": ("Ce lien a déjà été ouvert sur un autre téléphone. Le régulateur a été prévenu.",
                            "This link was already opened on another phone. The dispatcher has been told."),
    "caller_title": ("Montrer la situation au SAMU", "Show the emergency service what is happening"),
    "caller_consent": ("Le régulateur va voir l'image de votre caméra. Vous pouvez arrêter à tout moment.",
                       "The dispatcher will see your camera. You can stop at any time."),
    "caller_accept": ("J'accepte, ouvrir la caméra", "I agree, open the camera"),
    "caller_share_location": ("Partager ma position", "Share my location"),
    "caller_photo": ("Envoyer une photo", "Send a photo"),
    "caller_stop": ("Arrêter le partage", "Stop sharing"),
    "caller_stopped": ("Partage arrêté. Merci.", "Sharing stopped. Thank you."),
    "caller_sent": ("Photo envoyée", "Photo sent"),
    "regulation_title": ("Régulation : dossiers", "Regulation: cases"),
    "new_case": ("Nouveau dossier", "New case"),
    "case_number": ("Numéro de dossier", "Case number"),
    "caller_phone": ("Téléphone de l'appelant", "Caller's phone"),
    "case_reason": ("Motif", "Reason"),
    "open_case": ("Ouvrir le dossier", "Open the case"),
    "caller_link": ("Lien appelant (usage unique)", "Caller link (single use)"),
    "send_sms": ("Envoyer par SMS (nouveau lien)", "Send by SMS (new link)"),
    "live_video": ("Vidéo en direct", "Live video"),
    "capture": ("Capturer une image", "Capture a still"),
    "captures": ("Captures", "Captures"),
    "caller_position": ("Position de l'appelant", "Caller's position"),
    "position_none": ("Position non partagée.", "Position not shared."),
    "position_plot": ("Positions récentes autour de la dernière (nord en haut)",
                      "Recent positions around the latest (north up)"),
    "position_coords": ("Coordonnées", "Coordinates"),
    "position_accuracy": ("Précision", "Accuracy"),
    "position_age": ("Reçue", "Received"),
    "position_open_map": ("Ouvrir la carte", "Open the map"),
    "position_copy": ("Copier", "Copy"),
    "timeline": ("Chronologie", "Timeline"),
    "close_case": ("Clore le dossier", "Close the case"),
    "export_json": ("Exporter (JSON)", "Export (JSON)"),
    "add_member": ("Ajouter un professionnel", "Add a professional"),
    "torch_on": ("Allumer la lampe", "Torch on"),
    "torch_off": ("Éteindre la lampe", "Torch off"),
    "torch_unavailable": ("Lampe non disponible sur ce téléphone", "Torch not available on this phone"),
    "waiting_stream": ("En attente de la caméra de l'appelant…", "Waiting for the caller's camera…"),
    "visit_needs_link": ("Ouvrez le lien que votre soignant vous a envoyé pour rejoindre la consultation.",
                         "Open the link your practitioner sent you to join the consultation."),
    "noscript": ("Cette page a besoin de JavaScript. Activez-le ou ouvrez le lien dans Chrome, Firefox ou Safari.",
                 "This page needs JavaScript. Turn it on, or open the link in Chrome, Firefox or Safari."),
    # -- login -------------------------------------------------------------------------------------------------
    "login_title": ("Connexion professionnelle", "Professional login"),
    "username": ("Identifiant", "User name"),
    "password": ("Mot de passe", "Password"),
    "login": ("Se connecter", "Log in"),
    "logout": ("Se déconnecter", "Log out"),
    # -- the professional's menu and the administrator's page --------------------------------------------------
    "nav_label": ("Mes activités", "My work"),
    "nav_consultations": ("Mes téléconsultations", "My teleconsultations"),
    "nav_my_requests": ("Mes demandes d'avis", "My expertise requests"),
    "nav_regulation": ("Régulation", "Regulation"),
    "nav_expertise": ("Demandes d'avis reçues", "Expertise requests for me"),
    "nav_profile": ("Mon profil d'expert", "My expert profile"),
    "nav_indicators": ("Indicateurs de télé-expertise", "Tele-expertise indicators"),
    "nav_admin": ("Administration", "Administration"),
    "admin_title": ("Administration", "Administration"),
    "admin_intro": ("Pour l'instant, l'administration se fait sur le serveur, avec la commande lucarne :",
                    "For now, administration is done on the server, with the lucarne command:"),
    "admin_accounts": ("créer un compte professionnel (médecin, régulateur, spécialiste, administrateur) : "
                       "lucarne create-user ;",
                       "create a professional account (practitioner, regulator, specialist, administrator): "
                       "lucarne create-user;"),
    "admin_deactivate": ("désactiver un compte, ce qui ferme aussitôt ses sessions : lucarne deactivate-user ;",
                         "deactivate an account, which ends its sessions at once: lucarne deactivate-user;"),
    "admin_directory": ("importer l'annuaire des professionnels de santé : lucarne directory import ;",
                        "import the directory of health professionals: lucarne directory import;"),
    "admin_audit": ("vérifier que le journal d'audit n'a pas été modifié : lucarne audit verify ;",
                    "check that the audit log was not altered: lucarne audit verify;"),
    "admin_indicators": ("les indicateurs de télé-expertise sont consultables depuis le menu.",
                         "the tele-expertise indicators can be read from the menu."),
    "admin_later": ("La gestion des comptes depuis cette page viendra plus tard.",
                    "Managing accounts from this page will come later."),
    "admin_only": ("Cette page est réservée aux administrateurs.", "This page is for administrators only."),
    # -- expertise profile (directory) ---------------------------------------------------------------------------
    "profile_title": ("Mon profil de télé-expertise", "My tele-expertise profile"),
    "profile_capacity": ("Demandes ouvertes en même temps (capacité)", "Open requests at once (capacity)"),
    "profile_languages": ("Langues (codes ISO 639-1, séparés par des virgules)",
                          "Languages (ISO 639-1 codes, comma-separated)"),
    "profile_specialties": ("Spécialités pour lesquelles j'accepte des demandes",
                            "Specialties for which I accept requests"),
    "profile_save": ("Enregistrer", "Save"),
    "profile_saved": ("Profil enregistré.", "Profile saved."),
    "profile_bad_languages": ("Langues : des codes ISO 639-1 de deux lettres, séparés par des virgules (ex. fr, en). "
                              "Non reconnu : {codes}",
                              "Languages: two-letter ISO 639-1 codes, comma-separated (e.g. fr, en). "
                              "Not recognised: {codes}"),
    "profile_absences": ("Absences", "Absences"),
    "profile_absence_from": ("Du", "From"),
    "profile_absence_to": ("Au", "To"),
    "profile_absence_note": ("Note", "Note"),
    "profile_absence_add": ("Ajouter l'absence", "Add the absence"),
    "profile_absence_remove": ("Retirer", "Remove"),
    "profile_inactive": ("Votre fiche ne figure plus dans l'extraction de l'annuaire national : vous ne recevez plus "
                         "de demandes et ce profil ne peut plus être modifié.",
                         "Your entry is no longer in the national directory extract: you receive no more requests "
                         "and this profile can no longer be changed."),
    "profile_not_linked": ("Ce compte n'est pas relié à une fiche de l'annuaire (RPPS) : "
                           "demandez-le à un administrateur.",
                           "This account is not linked to a directory entry (RPPS): ask an administrator."),
    "login_failed": ("Identifiant ou mot de passe incorrect.", "Wrong user name or password."),
    "login_rate_limited": ("Trop d'essais. Réessayez dans quelques minutes.",
                           "Too many attempts. Try again in a few minutes."),
    # -- tele-expertise pages (list, request, metrics) ------------------------------------------------------------
    "xp_title": ("Télé-expertise", "Tele-expertise"),
    "xp_new": ("Nouvelle demande d'avis", "New second-opinion request"),
    "xp_mine": ("Demandes", "Requests"),
    "xp_filter": ("Filtrer", "Filter"),
    "xp_all": ("toutes", "all"),
    "xp_sent": ("envoyées", "sent"),
    "xp_received": ("reçues", "received"),
    "xp_metrics": ("Indicateurs", "Metrics"),
    "xp_profile_link": ("Mon profil de télé-expertise", "My tele-expertise profile"),
    "xp_send": ("Envoyer la demande", "Send the request"),
    "xp_consent": ("Le patient est informé et consent à la télé-expertise",
                   "The patient was informed and consents to tele-expertise"),
    "xp_accept": ("Accepter", "Accept"),
    "xp_decline": ("Refuser", "Decline"),
    "xp_cancel": ("Annuler la demande", "Cancel the request"),
    "xp_answer": ("Répondre (compte rendu)", "Answer (report)"),
    "xp_ask_info": ("Demander des informations", "Ask for information"),
    "xp_give_info": ("Envoyer les informations", "Send the information"),
    "xp_message": ("Message", "Message"),
    "xp_video": ("Passer en téléconsultation", "Escalate to a video consultation"),
    "xp_close_yes": ("Clore : orientation évitée", "Close: referral avoided"),
    "xp_close_no": ("Clore : orientation nécessaire", "Close: referral still needed"),
    "xp_deadline": ("Réponse attendue avant", "Answer due by"),
    "xp_attachments": ("Pièces jointes", "Attachments"),
    "xp_thread": ("Échanges", "Thread"),
    "xp_history": ("Historique", "History"),
    "xp_notice": ("Une demande a changé : actualisez la page.", "A request changed: reload the page."),
    "xp_none_yet": ("Aucune demande.", "No requests."),
    "xp_col_created": ("Créée le", "Created"),
    "xp_col_specialty": ("Spécialité", "Specialty"),
    "xp_col_urgency": ("Urgence", "Urgency"),
    "xp_col_status": ("Statut", "Status"),
    "xp_col_role": ("Mon rôle", "My role"),
    "xp_col_deadline": ("Échéance", "Due"),
    "xp_status": ("Statut", "Status"),
    "xp_urgency": ("Urgence", "Urgency"),
    "xp_role": ("Rôle", "Role"),
    "xp_specialty": ("Spécialité (code savoir-faire, ex. SM15)", "Specialty (savoir-faire code, e.g. SM15)"),
    "xp_commune": ("Commune du patient (code INSEE)", "Patient's commune (INSEE code)"),
    "xp_language": ("Langue de la demande (ISO 639-1)", "Language of the request (ISO 639-1)"),
    "xp_question": ("Question", "Question"),
    "xp_context": ("Contexte clinique", "Clinical context"),
    "xp_family_name": ("Nom de naissance", "Family name"),
    "xp_given_names": ("Prénoms", "Given names"),
    "xp_birth_date": ("Date de naissance", "Birth date"),
    "xp_sex": ("Sexe", "Sex"),
    "xp_sex_F": ("féminin", "female"),
    "xp_sex_M": ("masculin", "male"),
    "xp_sex_U": ("non renseigné", "unknown"),
    "xp_identity_status": ("Statut de l'identité (INS)", "Identity status (INS)"),
    "xp_ins": ("Matricule INS", "INS number"),
    "xp_patient": ("Patient", "Patient"),
    "xp_recommendations": ("Recommandations", "Recommendations"),
    "xp_consultation": ("Consultation nécessaire", "Consultation needed"),
    "xp_attach": ("Joindre un fichier (JPEG, PNG ou PDF)", "Attach a file (JPEG, PNG or PDF)"),
    "xp_actor_system": ("système", "system"),
    "xp_state_submitted": ("envoyée", "submitted"),
    "xp_state_offered": ("proposée", "offered"),
    "xp_state_declined": ("refusée", "declined"),
    "xp_state_expired": ("offre expirée", "offer expired"),
    "xp_state_accepted": ("acceptée", "accepted"),
    "xp_state_info_requested": ("informations demandées", "information requested"),
    "xp_state_escalated": ("en attente d'un expert", "waiting for an expert"),
    "xp_state_answered": ("répondue", "answered"),
    "xp_state_closed": ("close", "closed"),
    "xp_state_cancelled": ("annulée", "cancelled"),
    "xp_urgency_urgent": ("urgente", "urgent"),
    "xp_urgency_soon": ("rapide", "soon"),
    "xp_urgency_routine": ("habituelle", "routine"),
    "xp_role_requester": ("demandeur", "requester"),
    "xp_role_expert": ("expert", "expert"),
    "xp_need_none": ("aucune", "none"),
    "xp_need_teleconsultation": ("téléconsultation", "teleconsultation"),
    "xp_need_in_person": ("en présentiel", "in person"),
    "xp_identity_provisoire": ("provisoire", "provisional"),
    "xp_identity_recuperee": ("récupérée", "retrieved"),
    "xp_identity_validee": ("validée", "validated"),
    "xp_identity_qualifiee": ("qualifiée", "qualified"),
    "xp_kind_message": ("message", "message"),
    "xp_kind_info_request": ("demande d'informations", "information request"),
    "xp_kind_info_reply": ("réponse aux questions", "information reply"),
    "xp_days": ("{days} derniers jours", "last {days} days"),
    "xp_m_total": ("Demandes", "Requests"),
    "xp_m_accept": ("Délai d'acceptation, médiane / p90", "Time to acceptance, median / p90"),
    "xp_m_answer": ("Délai de réponse, médiane / p90", "Time to answer, median / p90"),
    "xp_m_within": ("Répondues dans le délai promis", "Answered within the deadline"),
    "xp_m_avoided": ("Orientations évitées ({n} issues renseignées)", "Referrals avoided ({n} outcomes recorded)"),
    "xp_chart_title": ("Délai de réponse (demandes par tranche)", "Time to answer (requests per bucket)"),
    "xp_chart_within": ("répondues dans le délai", "answered within deadline"),
    "xp_chart_avoided": ("orientations évitées", "referrals avoided"),
    "xp_not_available": ("n.d.", "n/a"),
    # -- console -----------------------------------------------------------------------------------------------
    "console_title": ("Mes téléconsultations", "My teleconsultations"),
    "new_consultation": ("Nouvelle téléconsultation", "New teleconsultation"),
    "patient_name": ("Nom du patient", "Patient name"),
    "patient_phone": ("Téléphone (facultatif)", "Phone (optional)"),
    "patient_email": ("E-mail (facultatif)", "E-mail (optional)"),
    "scheduled_at": ("Date et heure", "Date and time"),
    "duration_min": ("Durée (minutes)", "Duration (minutes)"),
    "language": ("Langue du patient", "Patient's language"),
    "language_fr": ("Français", "French"),
    "language_en": ("Anglais", "English"),
    "create": ("Créer", "Create"),
    "when": ("Quand", "When"),
    "patient": ("Patient", "Patient"),
    "status": ("Statut", "Status"),
    "open": ("Ouvrir", "Open"),
    "no_consultations": ("Aucune consultation pour l'instant.", "No consultations yet."),
    "status_scheduled": ("programmée", "scheduled"),
    "status_in_progress": ("en cours", "in progress"),
    "status_ended": ("terminée", "ended"),
    "status_cancelled": ("annulée", "cancelled"),
    "back": ("Mes consultations", "My consultations"),
    # -- practitioner room -------------------------------------------------------------------------------------
    "minutes": ("min", "min"),
    "patient_link": ("Lien patient", "Patient link"),
    "patient_link_help": ("Envoyez ce lien au patient (SMS, e-mail ou QR code). Il l'ouvre sur son téléphone, "
                          "sans application ni compte.",
                          "Send this link to the patient (text message, e-mail or QR code). They open it on their "
                          "phone, with no app and no account."),
    "qr_alt": ("QR code du lien patient", "QR code of the patient link"),
    "new_link": ("Nouveau lien", "New link"),
    "copy_link": ("Copier le lien", "Copy the link"),
    "revoke": ("Annuler ce lien", "Revoke this link"),
    "sms_text": ("Texte SMS", "Text message"),
    "email_text": ("Texte e-mail", "E-mail text"),
    "calendar_invite": ("Invitation agenda (.ics)", "Calendar invitation (.ics)"),
    "guest_link": ("Inviter un tiers", "Invite a third person"),
    "guest_link_help": ("Interprète, proche ou infirmier·e : il ou elle passe aussi par la salle d'attente.",
                        "Interpreter, family member or nurse: they also go through the waiting room."),
    "guest_label": ("Qui ? (ex. interprète)", "Who? (e.g. interpreter)"),
    "guest_link_create": ("Créer un lien invité", "Create a guest link"),
    "waiting_room": ("Salle d'attente", "Waiting room"),
    "waiting_room_empty": ("Personne pour l'instant.", "Nobody yet."),
    "admit": ("Faire entrer", "Admit"),
    "start_call": ("Démarrer l'appel", "Start the call"),
    "mute": ("Couper le micro", "Mute"),
    "camera_off": ("Couper la caméra", "Camera off"),
    "switch_camera": ("Changer de caméra", "Switch camera"),
    "hangup": ("Raccrocher", "Hang up"),
    "local_video": ("Votre image", "Your picture"),
    "remote_videos": ("Participants", "Participants"),
    "chat": ("Messages", "Messages"),
    "chat_placeholder": ("Écrire un message…", "Write a message…"),
    "send": ("Envoyer", "Send"),
    "end_consultation": ("Terminer la consultation", "End the consultation"),
    "end_confirm_title": ("Terminer la consultation pour tout le monde ?", "End the consultation for everyone?"),
    "end_confirm_cancel": ("Continuer la consultation", "Keep the consultation going"),
    "end_consultation_help": ("Met fin à l'appel pour tout le monde et enregistre le compte rendu.",
                              "Ends the call for everyone and saves the report."),
    "report": ("Compte rendu", "Report"),
    "save_report": ("Enregistrer le compte rendu", "Save the report"),
    # -- patient / guest page ----------------------------------------------------------------------------------
    "visit_title": ("Votre téléconsultation", "Your video consultation"),
    "device_check": ("Vérifions votre caméra et votre micro", "Let's check your camera and microphone"),
    "device_check_intro": ("Votre navigateur va vous demander l'accès à la caméra et au micro : touchez « Autoriser ».",
                           "Your browser will ask to use the camera and microphone: tap \u201cAllow\u201d."),
    "preview": ("Aperçu de votre caméra", "Your camera preview"),
    "mic_level": ("Niveau du micro (parlez pour le voir bouger)", "Microphone level (speak to see it move)"),
    "network": ("Réseau :", "Network:"),
    "continue": ("Continuer", "Continue"),
    "continue_audio": ("Continuer sans caméra (audio seul)", "Continue without camera (audio only)"),
    "retry": ("Réessayer", "Try again"),
    "waiting_title": ("Salle d'attente", "Waiting room"),
    "waiting_text": ("Votre soignant va vous faire entrer. Gardez cette page ouverte.",
                     "Your practitioner will let you in. Keep this page open."),
    "waiting_text_named": ("{name} va vous faire entrer. Gardez cette page ouverte.",
                           "{name} will let you in. Keep this page open."),
    "waiting_tip": ("Astuce : branchez votre téléphone et installez-vous dans un endroit calme et éclairé.",
                    "Tip: plug in your phone and sit somewhere quiet and well lit."),
    "ended_title": ("La consultation est terminée", "The consultation has ended"),
    "ended_text": ("Merci. Vous pouvez fermer cette page.", "Thank you. You may close this page."),
    "left_title": ("Vous avez quitté l'appel", "You left the call"),
    "left_text": ("Vous pouvez revenir dans la salle d'attente tant que la consultation n'est pas terminée.",
                  "You can go back to the waiting room as long as the consultation is not over."),
    "tap_to_play": ("Touchez l'écran pour entendre vos interlocuteurs", "Tap the screen to hear the others"),
    "rejoin": ("Revenir dans la salle d'attente", "Back to the waiting room"),
}

# Strings the browser modules need (sent in the page's boot data as ``boot.strings``).
_JS_PAIRS: dict[str, tuple[str, str]] = {
    "js_checking": ("Vérification en cours…", "Checking…"),
    "js_camera_ok": ("Caméra et micro fonctionnent.", "Camera and microphone work."),
    "js_audio_only": ("Micro fonctionne, mais aucune caméra n'est disponible.",
                      "The microphone works, but no camera is available."),
    "js_audio_only_help": ("Vous pouvez continuer en audio seul. Pour la vidéo : fermez les autres applications qui "
                           "utilisent la caméra (appel, WhatsApp, autre visio), puis touchez « Réessayer ».",
                           "You can continue with audio only. For video: close other apps using the camera (a call, "
                           "WhatsApp, another video app), then tap \u201cTry again\u201d."),
    "js_denied": ("L'accès à la caméra ou au micro a été refusé.", "Camera or microphone access was denied."),
    "js_denied_help": ("Autorisez la caméra et le micro pour ce site (cadenas ou icône de caméra dans la barre "
                       "d'adresse), puis touchez « Réessayer » ou rechargez la page.",
                       "Allow the camera and microphone for this site (padlock or camera icon in the address "
                       "bar), then tap \u201cTry again\u201d or reload the page."),
    "js_denied_android": ("Android (Chrome) : touchez l'icône à gauche de l'adresse › Autorisations › "
                          "Caméra et Micro › Autoriser.",
                          "Android (Chrome): tap the icon left of the address › Permissions › "
                          "Camera and Microphone › Allow."),
    "js_denied_ios": ("iPhone (Safari) : touchez « aA » dans la barre d'adresse › Réglages du site web › "
                      "Caméra et Micro › Autoriser. Ou : Réglages › Safari › Caméra / Micro.",
                      "iPhone (Safari): tap \u201caA\u201d in the address bar › Website Settings › "
                      "Camera and Microphone › Allow. Or: Settings › Safari › Camera / Microphone."),
    "js_no_device": ("Aucun micro trouvé.", "No microphone was found."),
    "js_no_device_help": ("Vérifiez qu'aucune autre application n'utilise le micro (appel en cours, dictaphone), "
                          "ou branchez un casque, puis touchez « Réessayer ».",
                          "Check that no other app is using the microphone (a call, a voice recorder), "
                          "or plug in a headset, then tap \u201cTry again\u201d."),
    "js_busy": ("La caméra ou le micro est déjà utilisé par une autre application.",
                "The camera or microphone is already used by another app."),
    "js_unsupported": ("Ce navigateur ne permet pas la vidéo.", "This browser cannot do video calls."),
    "js_unsupported_help": ("Ouvrez le lien dans Chrome (Android) ou Safari (iPhone), pas dans une application "
                            "de messagerie.",
                            "Open the link in Chrome (Android) or Safari (iPhone), not inside a messaging app."),
    "js_network_ok": ("Connexion au serveur : bonne ({ms} ms)", "Connection to the server: good ({ms} ms)"),
    "js_network_slow": ("Connexion au serveur : lente ({ms} ms). L'appel peut être saccadé.",
                        "Connection to the server: slow ({ms} ms). The call may be choppy."),
    "js_network_down": ("Pas de connexion au serveur. Vérifiez le Wi-Fi ou les données mobiles.",
                        "No connection to the server. Check Wi-Fi or mobile data."),
    "js_connecting": ("Connexion…", "Connecting…"),
    "js_reconnecting": ("Connexion perdue, reconnexion…", "Connection lost, reconnecting…"),
    # The regulator's banner over the caller's video (stream-state.js): the stream's real condition.
    "js_stream_waiting": ("En attente de la caméra de l'appelant…", "Waiting for the caller's camera…"),
    "js_stream_frozen": ("Image figée : plus aucune nouvelle image de l'appelant depuis 2 s.",
                         "Picture frozen: no new picture from the caller for 2 s."),
    "js_stream_stopped": ("L'appelant a arrêté le partage de sa caméra.", "The caller stopped sharing their camera."),
    "js_stream_lost": ("Connexion avec l'appelant perdue, reconnexion…",
                       "Connection with the caller lost, reconnecting…"),
    "js_stream_ended": ("Dossier clôturé : la vidéo est terminée.", "Case closed: the video has ended."),
    # The case timeline in sentences (timeline-words.js), never an event name or a code.
    "js_tl_case_opened": ("Dossier ouvert.", "Case opened."),
    "js_tl_member_added": ("Un professionnel a été ajouté au dossier.", "A professional was added to the case."),
    "js_tl_case_closed": ("Dossier clôturé.", "Case closed."),
    "js_tl_link_created": ("Lien pour l'appelant créé.", "Link for the caller created."),
    "js_tl_link_sent": ("Lien envoyé par SMS à l'appelant.", "Link sent to the caller by text message."),
    "js_tl_link_send_failed": ("Le SMS n'a pas pu être envoyé. Dictez le lien à l'appelant.",
                               "The text message could not be sent. Read the link out to the caller."),
    "js_tl_link_opened": ("L'appelant a ouvert le lien.", "The caller opened the link."),
    "js_tl_refused_other_device": ("Le lien a été ouvert sur un autre appareil que celui de l'appelant : accès "
                                   "refusé.",
                                   "The link was opened on a device other than the caller's: access refused."),
    "js_tl_refused_expired": ("Quelqu'un a ouvert un lien expiré : accès refusé.",
                              "Someone opened an expired link: access refused."),
    "js_tl_refused_revoked": ("Quelqu'un a ouvert un lien annulé : accès refusé.",
                              "Someone opened a cancelled link: access refused."),
    "js_tl_refused_closed": ("Quelqu'un a ouvert le lien après la clôture : accès refusé.",
                             "Someone opened the link after the case was closed: access refused."),
    "js_tl_refused_invalid": ("Quelqu'un a ouvert un lien altéré : accès refusé.",
                              "Someone opened an altered link: access refused."),
    "js_tl_consent": ("L'appelant a accepté de partager sa caméra.", "The caller agreed to share their camera."),
    "js_tl_stream_started": ("La vidéo de l'appelant arrive.", "The caller's video is coming in."),
    "js_tl_stream_stopped": ("La vidéo de l'appelant s'est interrompue.", "The caller's video stopped."),
    "js_tl_camera_switched": ("L'appelant a changé de caméra.", "The caller's phone switched camera."),
    "js_tl_sharing_stopped": ("L'appelant a arrêté le partage.", "The caller stopped sharing."),
    "js_tl_command_switch_camera": ("Demande de changement de caméra envoyée.", "Camera switch requested."),
    "js_tl_command_torch_on": ("Demande d'allumer la lampe envoyée.", "Torch on requested."),
    "js_tl_command_torch_off": ("Demande d'éteindre la lampe envoyée.", "Torch off requested."),
    "js_tl_torch_on": ("La lampe du téléphone est allumée.", "The phone's torch is on."),
    "js_tl_torch_off": ("La lampe du téléphone est éteinte.", "The phone's torch is off."),
    "js_tl_torch_unsupported": ("Ce téléphone n'a pas de lampe utilisable.", "This phone has no usable torch."),
    "js_tl_mode_stills": ("La vidéo ne passe pas : le téléphone envoie des photos à la place.",
                          "The video cannot get through: the phone sends photos instead."),
    "js_tl_mode_location": ("La caméra n'a pas pu s'ouvrir : seule la position peut être partagée.",
                            "The camera could not be opened: only the position can be shared."),
    "js_tl_mode_trouble": ("Le téléphone de l'appelant a rencontré un problème.",
                           "The caller's phone ran into a problem."),
    "js_tl_capture_stream": ("Capture prise dans la vidéo.", "Capture taken from the video."),
    "js_tl_capture_caller": ("Photo reçue de l'appelant.", "Photo received from the caller."),
    "js_tl_location": ("Position reçue : {coords} (à {accuracy} m près).",
                       "Position received: {coords} (within {accuracy} m)."),
    "js_tl_other": ("Autre événement.", "Other event."),
    "js_capture_by_regulator": ("Capture du régulateur", "Taken by the regulator"),
    "js_capture_by_caller": ("Photo de l'appelant", "Photo from the caller"),
    "js_capture_at": ("position {coords}", "position {coords}"),
    "js_capture_no_position": ("position non partagée", "position not shared"),
    "js_capture_open": ("Agrandir la capture", "Enlarge the capture"),
    "js_capture_close": ("Fermer", "Close"),
    "js_case_status_open": ("En cours", "In progress"),
    "js_case_status_closed": ("Clôturé", "Closed"),
    "js_case_number_open": ("Un dossier ouvert porte déjà ce numéro : ouvrez-le depuis la liste ci-dessous, ou "
                            "clôturez-le d'abord.",
                            "An open case already has this number: open it from the list below, or close it first."),
    "js_in_call": ("En consultation", "In the call"),
    "js_age_seconds": ("il y a {n} s", "{n} s ago"),
    "js_age_minutes": ("il y a {n} min", "{n} min ago"),
    "js_age_hours": ("il y a {n} h", "{n} h ago"),
    "js_in_call_relayed": ("En consultation, via le serveur", "In the call, through the server"),
    "js_alone": ("En attente des autres participants…", "Waiting for the other participants…"),
    "js_peer_left": ("{name} a quitté l'appel", "{name} left the call"),
    "js_error": ("Erreur", "Error"),
    "js_link_copied": ("Lien copié", "Link copied"),
    "js_link_used": ("Ce lien a déjà été ouvert par le patient.", "The patient already opened this link."),
    "js_remove": ("Retirer", "Remove"),
    "js_removed_title": ("Vous avez été retiré de la consultation", "You were removed from the consultation"),
    "js_removed": ("Le soignant a mis fin à votre participation. Vous pouvez fermer cette page.",
                   "The practitioner ended your participation. You may close this page."),
    "js_links_closed": ("La consultation est terminée : ses liens ne s'ouvrent plus.",
                        "The consultation has ended: its links no longer open."),
    "js_no_link": ("Aucun lien actif. Créez-en un nouveau.", "No active link. Create a new one."),
    "js_saved": ("Compte rendu enregistré", "Report saved"),
    "js_ended": ("Consultation terminée", "Consultation ended"),
    "js_online": ("en ligne", "online"),
    "js_offline": ("hors ligne", "offline"),
    "js_in_call_badge": ("dans l'appel", "in the call"),
    "js_me": ("Moi", "Me"),
    "js_mute": ("Couper le micro", "Mute"),
    "js_unmute": ("Activer le micro", "Unmute"),
    "js_camera_off": ("Couper la caméra", "Camera off"),
    "js_camera_on": ("Activer la caméra", "Camera on"),
    # Shown on the other participant's video when they turned their microphone or camera off.
    "js_remote_muted": ("Micro coupé", "Microphone off"),
    "js_remote_camera_off": ("Caméra coupée", "Camera off"),
    "js_session_over": ("Votre accès à cette consultation est terminé.", "Your access to this consultation is over."),
    "js_second_device": ("{name} a ouvert la consultation sur un autre appareil : il attend à nouveau. Admettez-le "
                         "seulement si c'est bien lui.",
                         "{name} opened the consultation on another device and is waiting again. Admit them only "
                         "if it is really them."),
    "js_replaced": ("Cette consultation a été ouverte sur un autre appareil. Si ce n'était pas vous, prévenez votre "
                    "soignant.",
                    "This consultation was opened on another device. If it was not you, tell your practitioner."),
    "kind_patient": ("Patient", "Patient"),
    "kind_guest": ("Invité", "Guest"),
    "kind_practitioner": ("Soignant", "Practitioner"),
    "state_checking": ("vérifie ses appareils", "checking devices"),
    "state_waiting": ("attend", "waiting"),
    "state_admitted": ("admis", "admitted"),
    "state_left": ("parti", "left"),
    "state_removed": ("retiré", "removed"),
    # -- caller page (remote camera): what the phone says after each step, never a status code ------------------
    "js_caller_photo_wait": ("Trop de photos d'un coup : attendez une minute avant la suivante.",
                             "Too many photos at once: wait a minute before the next one."),
    "js_caller_photo_full": ("Le dossier ne peut plus recevoir de photos. Le régulateur a déjà les précédentes.",
                             "The case file cannot take more photos. The regulator already has the earlier ones."),
    "js_caller_photo_failed": ("La photo n'a pas pu être envoyée. Réessayez.",
                               "The photo could not be sent. Try again."),
    "js_caller_camera_denied": ("La caméra n'a pas pu être ouverte. Vous pouvez encore partager votre position.",
                                "The camera could not be opened. You can still share your location."),
    "js_caller_video_failed": ("La vidéo n'a pas pu partir. Des photos seront envoyées à la place.",
                               "The video could not be sent. Photos will be sent instead."),
    "js_caller_on_air": ("● Le régulateur voit votre caméra", "● The regulator sees your camera"),
    "js_caller_on_air_lost": ("Connexion perdue : le régulateur ne voit plus votre caméra, reconnexion…",
                              "Connection lost: the regulator no longer sees your camera, reconnecting…"),
    "js_caller_location_sent": ("Position envoyée au régulateur", "Location sent to the regulator"),
    "js_caller_location_failed": ("Votre position n'a pas pu être lue. Vérifiez que la localisation est activée.",
                                  "Your location could not be read. Check that location is turned on."),
}

STRINGS: dict[str, dict[str, str]] = {
    key: {"fr": fr, "en": en} for key, (fr, en) in {**_PAIRS, **_JS_PAIRS}.items()
}
# Page strings the modules also use.
JS_KEYS: tuple[str, ...] = (*_JS_PAIRS, "admit", "status_in_progress", "status_ended", "caller_sent")

_LANG_TAG = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*$")


def negotiate(query_lang: str | None, accept_language: str | None, default: str = "fr") -> str:
    """The page language: an explicit ``?lang=`` wins, then the best ``Accept-Language`` match, else ``default``."""
    if query_lang and query_lang.strip().lower() in SUPPORTED:
        return query_lang.strip().lower()
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept_language or "")[:500].split(",")[:20]):
        tag, _, params = part.partition(";")
        match = _LANG_TAG.match(tag)
        if not match:
            continue
        code = match.group(1).lower()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if code in SUPPORTED and quality > 0 and (best is None or (quality, -position) > best[:2]):
            best = (quality, -position, code)
    if best is not None:
        return best[2]
    return default if default in SUPPORTED else SUPPORTED[0]


def translator(lang: str) -> Callable[[str], str]:
    """``t(key)`` for one language: the string in ``lang``, else in English, else the key itself."""

    def t(key: str) -> str:
        entry = STRINGS.get(key)
        if entry is None:
            return key
        return entry.get(lang) or entry.get("en") or key

    return t


def code_labeler(lang: str) -> Callable[[str, str | None], str]:
    """``label(prefix, code)``: the translation of ``prefix + code`` (e.g. ``xp_state_`` + ``offered``), or the code
    itself when there is none (a deployment may configure its own urgencies)."""
    t = translator(lang)

    def label(prefix: str, code: str | None) -> str:
        if code is None:
            return ""
        key = prefix + code
        return t(key) if key in STRINGS else code

    return label


def js_strings(lang: str) -> dict[str, str]:
    """The strings the browser modules use, in ``lang``, for the page's boot data."""
    t = translator(lang)
    return {key: t(key) for key in JS_KEYS}
