"""What the bot says, in French and English (the reader's Telegram language, else English)."""

from __future__ import annotations

COMMANDS: list[tuple[str, str, str]] = [  # (command, French, English)
    ("start", "s'abonner et choisir ses réglages", "subscribe and pick your settings"),
    ("help", "toutes les commandes", "every command"),
    ("digest", "le briefing maintenant", "the digest now"),
    ("latest", "les N dernières histoires : /latest 5", "the N latest stories: /latest 5"),
    ("summary", "résumer une page : /summary URL", "summarise a page: /summary URL"),
    ("ask", "une question sur une histoire reçue", "a question about a story you got"),
    ("settings", "voir et changer ses réglages", "see and change your settings"),
    ("lang", "langues : /lang fr, en ou both", "languages: /lang fr, en or both"),
    ("time", "heure du briefing : /time 07:30", "digest time: /time 07:30"),
    ("timezone", "fuseau : /timezone Europe/Paris", "time zone: /timezone Europe/Paris"),
    ("sources", "les flux disponibles", "the feeds available"),
    ("follow", "suivre un flux : /follow N", "follow a feed: /follow N"),
    ("unfollow", "ne plus suivre un flux : /unfollow N", "stop following a feed: /unfollow N"),
    ("subscribe", "reprendre les envois", "resume deliveries"),
    ("unsubscribe", "suspendre les envois (réglages gardés)", "pause deliveries (keeps settings)"),
]
ADMIN_COMMANDS = [("addfeed", "ajouter un flux", "add a feed"),
                  ("removefeed", "retirer un flux", "remove a feed"),
                  ("stats", "statistiques du jour", "today's statistics")]

TEXTS: dict[str, dict[str, str]] = {
    "welcome": {
        "fr": "Bonjour {name} ! Chaque jour à {time} ({tz}), je vous envoie un briefing "
              "des actualités, avec des citations vérifiées mot pour mot dans les sources. "
              "Répondez à un message pour poser une question. Choisissez vos réglages :",
        "en": "Hello {name}! Every day at {time} ({tz}) I will send you a news briefing, with "
              "quotes checked word for word against the sources. Reply to a message to ask "
              "a question. Pick your settings:",
    },
    "settings": {
        "fr": "Réglages : langues {langs}, briefing à {time} ({tz}), flux {feeds}, envois {state}.",
        "en": "Settings: languages {langs}, digest at {time} ({tz}), feeds {feeds}, "
              "deliveries {state}.",
    },
    "all_feeds": {"fr": "tous", "en": "all"},
    "active": {"fr": "actifs", "en": "on"},
    "paused": {"fr": "suspendus", "en": "paused"},
    "unsubscribed": {"fr": "Envois suspendus ; vos réglages sont gardés. /subscribe pour "
                           "reprendre.",
                     "en": "Deliveries paused; your settings are kept. /subscribe to resume."},
    "saved": {"fr": "C'est noté.", "en": "Saved."},
    "bad_lang": {"fr": "Usage : /lang fr, /lang en ou /lang both",
                 "en": "Usage: /lang fr, /lang en or /lang both"},
    "no_feeds": {"fr": "Aucun flux pour l'instant.", "en": "No feeds yet."},
    "feed_usage": {"fr": "Usage : /{cmd} N (voir /sources)",
                   "en": "Usage: /{cmd} N (see /sources)"},
    "no_such_feed": {"fr": "Pas de flux n° {n} (voir /sources).",
                     "en": "No feed number {n} (see /sources)."},
    "nothing_new": {"fr": "Rien de neuf depuis votre dernier briefing.",
                    "en": "Nothing new since your last digest."},
    "no_stories": {"fr": "Aucune histoire pour l'instant.", "en": "No stories yet."},
    "summary_usage": {"fr": "Usage : /summary https://…", "en": "Usage: /summary https://…"},
    "cannot_read": {"fr": "Je n'ai pas pu lire cette page : {reason}",
                    "en": "I could not read that page: {reason}"},
    "withheld": {"fr": "Je ne peux pas résumer cette page en le vérifiant sur la source : "
                       "{reason}",
                 "en": "I cannot brief that page and check it against the source: {reason}"},
    "ask_usage": {"fr": "Usage : /ask votre question (sur une histoire reçue ici), ou "
                        "répondez à un message.",
                  "en": "Usage: /ask your question (about a story you got here), or reply "
                        "to a message."},
    "nothing_to_ask": {"fr": "Je n'ai encore rien envoyé ici sur quoi répondre.",
                       "en": "I have not sent anything here to answer about yet."},
    "over_limit": {"fr": "Limite atteinte ({what}) : réessayez plus tard.",
                   "en": "Limit reached ({what}): please try again later."},
    "budget": {"fr": "Le budget du jour est épuisé : réessayez demain.",
               "en": "Today's budget is used up: please try again tomorrow."},
    "not_allowed": {"fr": "Désolé, ce bot est privé.", "en": "Sorry, this bot is private."},
    "admins_only": {"fr": "Commande réservée aux administrateurs.",
                    "en": "This command is for administrators."},
    "error": {"fr": "Désolé, quelque chose s'est mal passé. Réessayez plus tard.",
              "en": "Sorry, something went wrong. Please try again later."},
    "sources_do_not_say": {"fr": "Les sources ne le disent pas.",
                           "en": "The sources do not say."},
    # --- the settings panel ---------------------------------------------------------------
    "panel_change": {"fr": "Changer", "en": "Change"},
    "panel_open": {"fr": "⚙️ Réglages", "en": "⚙️ Settings"},
    "panel_feeds": {"fr": "📰 Flux : {feeds}", "en": "📰 Feeds: {feeds}"},
    "panel_other": {"fr": "Autre…", "en": "Other…"},
    "panel_back": {"fr": "« Retour", "en": "« Back"},
    "panel_pick_time": {"fr": "À quelle heure voulez-vous votre briefing ?",
                        "en": "When would you like your digest?"},
    "panel_pick_zone": {"fr": "Dans quel fuseau horaire êtes-vous ?",
                        "en": "Which time zone are you in?"},
    "panel_pick_feeds": {"fr": "Touchez une source pour la suivre (✅) ou ne plus la suivre (⬜).",
                         "en": "Tap a source to follow it (✅) or stop following it (⬜)."},
    "panel_type_time": {"fr": "Écrivez l'heure de votre briefing, par exemple 7:30, 7h30 ou 18h.",
                        "en": "Type the time of your digest, for example 7:30 or 18:00 "
                              "(7h30 works too)."},
    "panel_type_zone": {"fr": "Écrivez votre ville ou votre fuseau horaire, par exemple Paris, "
                              "Montréal ou Europe/Paris.",
                        "en": "Type your city or your time zone, for example Paris, Montreal "
                              "or America/Toronto."},
    "panel_bad_time": {"fr": "Je n'ai pas compris l'heure « {value} » : écrivez par exemple "
                             "7:30, 7h30 ou 18h.",
                       "en": "I did not understand the time “{value}”: use HH:MM, for example "
                             "07:30 (7h30 works too)."},
    "panel_bad_zone": {"fr": "Fuseau horaire inconnu : « {value} ». Écrivez une ville ou un "
                             "fuseau, par exemple Paris ou Europe/Paris.",
                       "en": "Unknown time zone “{value}”: type a city or a zone such as "
                             "Europe/Paris or America/Montreal."},
    "panel_did_you_mean": {"fr": "Vouliez-vous dire {zone} ?", "en": "Did you mean {zone}?"},
    "panel_bad_lang": {"fr": "Langues possibles : fr, en ou deux (les deux), par exemple "
                             "/lang deux.",
                       "en": "Languages: fr, en or both (for example /lang both)."},
    "panel_current_lang": {"fr": "Langues de vos briefings : {langs}.",
                           "en": "Languages of your briefs: {langs}."},
    "panel_current_time": {"fr": "Votre briefing arrive chaque jour à {time} ({tz}).",
                           "en": "Your digest arrives every day at {time} ({tz})."},
    "panel_current_zone": {"fr": "Votre fuseau horaire : {tz}.", "en": "Your time zone: {tz}."},
    "panel_none": {"fr": "aucun", "en": "none"},
    "panel_n_of": {"fr": "{n} sur {total}", "en": "{n} of {total}"},
    "panel_outside_feeds": {"fr": "Hors flux : dossier et pages résumées à la demande",
                            "en": "Outside feeds: folder and pages summarised on demand"},
    "panel_now_following": {"fr": "Vous suivez maintenant {name}.",
                            "en": "You now follow {name}."},
    "panel_already_following": {"fr": "Vous suivez déjà {name}.",
                                "en": "You already follow {name}."},
    "panel_unfollowed": {"fr": "Vous ne suivez plus {name}.", "en": "You no longer follow {name}."},
    "panel_not_following": {"fr": "Vous ne suivez pas {name}.", "en": "You do not follow {name}."},
    "panel_follows_nothing": {"fr": "Vous ne suivez plus aucune source : vos briefings resteront "
                                    "vides tant que vous n'en suivez pas une (/follow N, voir "
                                    "/sources).",
                              "en": "You now follow no source: your digests stay empty until "
                                    "you follow one (/follow N, see /sources)."},
    # --- questions ------------------------------------------------------------------------
    "answer_about": {"fr": "À propos de : {headline}", "en": "About: {headline}"},
    "which_story": {"fr": "Plusieurs histoires répondent à votre question. Laquelle voulez-vous ?",
                    "en": "Several stories fit your question. Which one do you mean?"},
    "pick_gone": {"fr": "Ce choix n'est plus valable : posez à nouveau votre question.",
                  "en": "This choice has expired: please ask your question again."},
    "no_story_matches": {"fr": "Aucune histoire récente ne parle de cela. Répondez à un résumé "
                               "pour poser une question à son sujet.",
                         "en": "No recent story is about that. Reply to a brief to ask a "
                               "question about it."},
    "question_hint": {"fr": "Pour poser une question, répondez à un résumé ou envoyez /ask "
                            "suivi de votre question.",
                      "en": "To ask a question, reply to a brief or send /ask followed by "
                            "your question."},
    "unknown_command": {"fr": "Je ne connais pas la commande {command} : voyez /help, ou le "
                              "bouton ci-dessous.",
                        "en": "I do not know the command {command}: see /help, or the button "
                              "below."},
    "help_button": {"fr": "Voir les commandes", "en": "See the commands"},
    # --- digests, lists and summaries -----------------------------------------------------
    "latest_usage": {"fr": "Usage : /latest N, avec N de 1 à {most} (sans N : {default}).",
                     "en": "Usage: /latest N, with N from 1 to {most} ({default} without N)."},
    "reading": {"fr": "⏳ Je lis la page…", "en": "⏳ Reading the page…"},
    "list_gone": {"fr": "Cette liste n'est plus disponible : demandez-la de nouveau "
                        "(/latest, /digest).",
                  "en": "This list is no longer available: ask for it again "
                        "(/latest, /digest)."},
    "ask_prompt": {"fr": "❓ Votre question sur « {headline} » ? Répondez à ce message.",
                   "en": "❓ Your question about “{headline}”? Reply to this message."},
    "ask_toast": {"fr": "Écrivez votre question en réponse au message ci-dessous.",
                  "en": "Type your question as a reply to the message below."},
    "ask_placeholder": {"fr": "Votre question", "en": "Your question"},
    "no_brief_in": {"fr": "Pas de résumé en {language} pour cette histoire.",
                    "en": "This story has no brief in {language}."},
    "quota_summary": {"fr": "Limite de résumés atteinte ({n} par {period}) : vous pourrez "
                            "réessayer {when}.",
                      "en": "Limit reached for summaries ({n} per {period}): you can try "
                            "again {when}."},
    "quota_question": {"fr": "Limite de questions atteinte ({n} par {period}) : vous pourrez "
                             "réessayer {when}.",
                       "en": "Limit reached for questions ({n} per {period}): you can try "
                             "again {when}."},
    "quota_off": {"fr": "Ce service est désactivé sur ce bot.",
                  "en": "This is turned off on this bot."},
    "period_hour": {"fr": "heure", "en": "hour"},
    "period_day": {"fr": "jour", "en": "day"},
    "in_one_minute": {"fr": "dans 1 minute", "en": "in 1 minute"},
    "in_minutes": {"fr": "dans {n} minutes", "en": "in {n} minutes"},
    "in_hours": {"fr": "dans {hours} h {minutes} min", "en": "in {hours} h {minutes} min"},
    "at_time": {"fr": "à {time} ({tz})", "en": "at {time} ({tz})"},
    "tomorrow_at": {"fr": "demain à {time} ({tz})", "en": "tomorrow at {time} ({tz})"},
    # --- admins ---------------------------------------------------------------------------
    # Failures as readers read them (`errors.BriefingError.reason`); the technical message
    # stays in the log and in admins' replies.
    "failure_http_status": {"fr": "Cette page est inaccessible (erreur {status}).",
                            "en": "That page cannot be reached (error {status})."},
    "failure_unreachable": {"fr": "Je n'arrive pas à joindre ce site pour l'instant.",
                            "en": "I cannot reach that site right now."},
    "failure_timeout": {"fr": "Ce site met trop de temps à répondre.",
                        "en": "That site takes too long to answer."},
    "failure_refused": {"fr": "Je ne lis pas cette adresse (réseau privé ou lien non web).",
                        "en": "I do not read that address (a private network or not a web link)."},
    "failure_invalid_url": {"fr": "Ce lien n'est pas une adresse web valide.",
                            "en": "That link is not a valid web address."},
    "failure_not_a_page": {"fr": "Ce lien ne mène pas à une page d'article.",
                           "en": "That link does not lead to an article page."},
    "failure_too_large": {"fr": "Cette page est trop volumineuse pour que je la lise.",
                          "en": "That page is too large for me to read."},
    "failure_not_text": {"fr": "Je n'arrive pas à lire le texte de cette page.",
                         "en": "I cannot read the text of that page."},
    "failure_no_article": {"fr": "Je ne trouve pas d'article sur cette page.",
                           "en": "I find no article on that page."},
    "failure_unknown": {"fr": "Je n'ai pas pu lire cette page.",
                        "en": "I could not read that page."},
}


def ui_language(code: str | None) -> str:
    """The bot's language for a Telegram language code: fr or en (the default)."""
    return "fr" if (code or "").lower().startswith("fr") else "en"


def t(key: str, lang: str, **values: object) -> str:
    """A bot text in `lang`, filled with `values`."""
    text = TEXTS[key].get(lang) or TEXTS[key]["en"]
    return text.format(**values) if values else text


def help_text(lang: str, admin: bool = False) -> str:
    """Every command, one line each."""
    rows = COMMANDS + (ADMIN_COMMANDS if admin else [])
    index = 1 if lang == "fr" else 2
    return "\n".join(f"/{row[0]} — {row[index]}" for row in rows)
