"""What the bot says, in French and English (the reader's Telegram language, else English)."""

from __future__ import annotations

COMMANDS: list[tuple[str, str, str]] = [  # (command, French, English)
    ("start", "s'abonner et choisir ses réglages", "subscribe and pick your settings"),
    ("help", "toutes les commandes", "every command"),
    ("digest", "le briefing maintenant", "the digest now"),
    ("latest", "les N dernières histoires : /latest 5", "the N latest stories: /latest 5"),
    ("summary", "résumer une page : /summary URL", "summarise a page: /summary URL"),
    ("ask", "une question sur le dernier résumé", "a question about the last brief"),
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
    "ask_usage": {"fr": "Usage : /ask votre question (sur le dernier résumé envoyé ici), ou "
                        "répondez à un message.",
                  "en": "Usage: /ask your question (about the last brief sent here), or reply "
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
    # --- questions ------------------------------------------------------------------------
    # --- digests, lists and summaries -----------------------------------------------------
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
