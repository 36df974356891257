import { type Locale, resolveLocale, translate } from '../core/index.js';

/**
 * Texts only Discord shows (its commands, permissions, the Message Content rule). Everything shared
 * with other front ends (errors, progress, buttons, help) is in the core's catalogue.
 */
const en = {
  'progress.queued': '⏳ In line: #{position}',
  'progress.started': '🎨 Working on it…',
  'progress.running': '🎨 Working on it… {elapsed}',
  'result.header': '**{prompt}**',
  'result.details': '{mention} · {model} · {ratio} · {resolution} · {elapsed}',
  'result.more': '{mention} more images: {from} to {to} of {total}',
  'result.edit_hint': '✏️ To edit: reply mentioning me with what to change, or press **Edit**.',
  'result.deleted': '🗑️ Deleted by {mention}.',
  'result.no_thread':
    '(I couldn’t open a thread here: I need the Create Public Threads permission.)',
  'reply.no_image_other_user':
    'I can’t see the image in that message: Discord only shows me images in messages that mention me, unless the bot’s operator enables the Message Content intent. Right-click the message → **Apps** → **Edit image** instead.',
  'reply.no_image':
    'I found no image to edit there. Attach one, or reply to a message with an image.',
  'reply.no_image_in_thread': 'I found no image in this thread to edit.',
  'attachment.not_image': '“{name}” isn’t an image I can use (PNG, JPEG, WebP or GIF).',
  'attachment.too_large': '“{name}” is too large ({size}); the limit is {max}.',
  'attachment.missing':
    'Discord didn’t send me the image you attached. Please attach it again; nothing was made.',
  'permission.missing':
    'I’m missing a permission in this channel: **{permission}**. Ask a server admin to grant it, then try again.',
  'permission.archived':
    'This thread is archived, so I can’t post in it. Unarchive it or use another channel.',
  'permission.missing_in':
    'I’m missing a permission in <#{channel}>: **{permission}**, so I can’t answer your request there. Ask an admin to grant it, then try again.',
  'delivery.discord_error':
    'Your images were made, but Discord refused to post them. The bot’s log has the details for an admin.',
  'fallback.message_deleted':
    '{mention} the message showing your request was deleted, so here are your images:',
  'fallback.reply_unavailable':
    '{mention} I could no longer update the reply to your request, so here are your images:',
  'fallback.dm.channel_refused':
    'I couldn’t post your images in <#{channel}>: I’m missing permissions there. Here they are:',
  'fallback.dm.archived_thread':
    'I couldn’t post your images in <#{channel}>: the thread is archived or locked. Here they are:',
  'fallback.dm.channel_gone':
    'I couldn’t post your images where you asked: that channel no longer exists. Here they are:',
  'fallback.dm.message_deleted':
    'The message showing your private request was deleted, so here are your images:',
  'fallback.dm.reply_unavailable':
    'I could no longer update the reply to your private request, so here are your images:',
  'fallback.dm.late':
    'Your private request outlasted the time Discord lets me update its reply, so here are your images:',
  'delete.done': 'Deleted.',
  'delete.not_yet': 'These images are still being posted. Press 🗑️ again in a moment.',
  'delete.refused': 'Only the person who asked, or a moderator, can delete this result.',
  'cancel.not_yours': 'Only the person who asked can cancel this.',
  'cancel.too_late': 'Too late to cancel: this one has already started.',
  gone: 'That result is no longer available.',
  'modal.edit_title': 'Edit image',
  'modal.change_label': 'What should change?',
  'modal.change_placeholder': 'e.g. make the sky purple --ar 16:9',
  'modal.image_label': 'Which image (1 to {count})?',
  'modal.edit_image_title': 'Edit image #{number}',
  'modal.expired': 'That edit form expired. Please start again.',
  'modal.not_yours': 'This edit form was opened by someone else. Open your own with **Edit**.',
  'usage.top': 'Top users today: {list}',
  'batch.preparing': '⏳ Preparing {count} jobs…',
  'help.commands':
    '`/history`: your last requests here, with links to the results. `/usage`: images left today, and made this week.',
  'command.imagine': 'Create or edit images with Nano Banana',
  'command.prompt': 'What to draw; flags like --ar 16:9 may follow',
  'command.model': 'Model',
  'command.aspect_ratio': 'Aspect ratio',
  'command.resolution': 'Resolution (above 1K: Nano Banana 2 and Pro)',
  'command.count': 'How many images',
  'command.image': 'An image to edit',
  'command.private': 'Only you see the result',
  'command.repeat': 'Run the request this many times (1 to 4)',
  'command.blend': 'Blend 2 to 5 images into one',
  'command.blend_image': 'An image to blend (give 2 to 5)',
  'command.blend_prompt': 'How to blend them (default: blend these images)',
  'help.blend':
    '`/blend` blends 2 to 5 images into one; or reply to a message with images, mentioning me with `--blend`.',
  'command.usage': 'How many images you have left today',
  'command.help': 'How to use the bot',
  'command.prefer': 'Your own defaults: model, ratio, resolution, a prompt suffix, named styles',
  'command.prefer_show': 'Show your preferences',
  'command.prefer_set': 'Set your default model, ratio, resolution or prompt suffix',
  'command.prefer_model': 'Your default model',
  'command.prefer_aspect_ratio': 'Your default aspect ratio',
  'command.prefer_resolution': 'Your default resolution (above 1K: Nano Banana 2 and Pro)',
  'command.prefer_suffix': 'Text added to the end of every prompt',
  'command.prefer_clear': 'Clear preferences (without a choice: model, ratio, resolution, suffix)',
  'command.prefer_clear_what': 'What to clear',
  'command.prefer_style': 'Named styles: --style name adds a style’s text to a prompt',
  'command.prefer_style_add': 'Save a style (or replace one of the same name)',
  'command.prefer_style_remove': 'Remove a style',
  'command.prefer_style_list': 'List your styles',
  'command.prefer_style_name': 'The style’s name: lowercase letters, digits, - or _',
  'command.prefer_style_text': 'The text the style adds to a prompt',
  'help.prefer':
    '`/prefer`: your own default model, ratio and resolution, a suffix added to every prompt, and named styles.',
  'command.history': 'Your last 10 requests, with links to the results',
  'command.settings': 'The bot’s settings for this server (moderators); no options: show them',
  'command.settings_model': 'The server’s default model',
  'command.settings_aspect_ratio': 'The server’s default aspect ratio',
  'command.settings_resolution': 'The server’s default resolution',
  'command.settings_add_channel': 'Answer in this channel (once a channel is listed, only there)',
  'command.settings_remove_channel': 'Stop answering in this channel',
  'command.settings_daily_limit': 'Images per day for the whole server (0: no limit of its own)',
  'command.settings_audit_channel': 'Where the moderation log goes',
  'command.settings_private': 'Results are private unless a request says otherwise',
  'command.settings_threads': 'Results open a thread for follow-up edits',
  'command.settings_reset': 'Clear a setting (or all of them) first',
  'settings.title': '**The bot’s settings for this server**',
  'settings.refused':
    'Only members with the **Manage Server** permission can see or change the bot’s settings.',
  'settings.guild_only': 'Settings belong to a server: use `/settings` in one.',
  'settings.hint': 'Change one with the options of `/settings`; `reset` clears one.',
  'settings.use_command': 'Moderators see and change the server’s settings with `/settings`.',
  /** `{command}`: the slash command that does what a mention asked for (`/usage`...). */
  'mention.use_command': 'Use `{command}` for that: it answers you privately.',
  'help.settings':
    'Moderators (Manage Server): `/settings` shows and changes the server’s defaults, channels, daily limit, privacy and threads.',
  'command.unavailable': 'This command is not available. Type / to see the bot’s commands.',
  'elapsed.seconds': '{seconds} s',
};

type DiscordTextKey = keyof typeof en;

const fr: Record<DiscordTextKey, string> = {
  'progress.queued': '⏳ Dans la file\u202F: n°{position}',
  'progress.started': '🎨 Je m’en occupe…',
  'progress.running': '🎨 Je m’en occupe… {elapsed}',
  'result.header': '**{prompt}**',
  'result.details': '{mention} · {model} · {ratio} · {resolution} · {elapsed}',
  'result.more': '{mention} autres images\u202F: {from} à {to} sur {total}',
  'result.edit_hint':
    '✏️ Pour la modifier\u202F: répondez en me mentionnant avec ce qu’il faut changer, ou appuyez sur **Modifier**.',
  'result.deleted': '🗑️ Supprimé par {mention}.',
  'result.no_thread':
    '(Je n’ai pas pu ouvrir de fil ici\u202F: il me faut la permission Créer des fils publics.)',
  'reply.no_image_other_user':
    'Je ne vois pas l’image de ce message\u202F: Discord ne me montre que les images des messages qui me mentionnent, sauf si l’opérateur du bot active l’intent Message Content. Faites plutôt clic droit sur le message → **Applications** → **Modifier l’image**.',
  'reply.no_image':
    'Je n’ai trouvé aucune image à modifier. Joignez-en une, ou répondez à un message qui en contient.',
  'reply.no_image_in_thread': 'Je n’ai trouvé aucune image à modifier dans ce fil.',
  'attachment.not_image':
    '«\u202F{name}\u202F» n’est pas une image utilisable (PNG, JPEG, WebP ou GIF).',
  'attachment.too_large':
    '«\u202F{name}\u202F» est trop lourd ({size})\u202F; la limite est de {max}.',
  'attachment.missing':
    'Discord ne m’a pas transmis l’image jointe. Joignez-la de nouveau\u202F; rien n’a été créé.',
  'permission.missing':
    'Il me manque une permission dans ce salon\u202F: **{permission}**. Demandez à un administrateur du serveur de l’accorder, puis réessayez.',
  'permission.archived':
    'Ce fil est archivé, je ne peux pas y écrire. Désarchivez-le ou utilisez un autre salon.',
  'permission.missing_in':
    'Il me manque une permission dans <#{channel}>\u202F: **{permission}**, je ne peux donc pas y répondre à votre demande. Demandez à un administrateur de l’accorder, puis réessayez.',
  'delivery.discord_error':
    'Vos images ont été créées, mais Discord a refusé de les publier. Le journal du bot donne les détails à un administrateur.',
  'fallback.message_deleted':
    '{mention} le message qui suivait votre demande a été supprimé, alors voici vos images\u202F:',
  'fallback.reply_unavailable':
    '{mention} je ne pouvais plus mettre à jour la réponse à votre demande, alors voici vos images\u202F:',
  'fallback.dm.channel_refused':
    'Je n’ai pas pu publier vos images dans <#{channel}>\u202F: il m’y manque des permissions. Les voici\u202F:',
  'fallback.dm.archived_thread':
    'Je n’ai pas pu publier vos images dans <#{channel}>\u202F: le fil est archivé ou verrouillé. Les voici\u202F:',
  'fallback.dm.channel_gone':
    'Je n’ai pas pu publier vos images là où vous les avez demandées\u202F: ce salon n’existe plus. Les voici\u202F:',
  'fallback.dm.message_deleted':
    'Le message qui suivait votre demande privée a été supprimé, alors voici vos images\u202F:',
  'fallback.dm.reply_unavailable':
    'Je ne pouvais plus mettre à jour la réponse à votre demande privée, alors voici vos images\u202F:',
  'fallback.dm.late':
    'Votre demande privée a duré plus longtemps que Discord ne me laisse mettre à jour sa réponse, alors voici vos images\u202F:',
  'delete.done': 'Supprimé.',
  'delete.not_yet':
    'Ces images sont encore en cours d’envoi. Appuyez de nouveau sur 🗑️ dans un instant.',
  'delete.refused':
    'Seule la personne qui a demandé, ou un modérateur, peut supprimer ce résultat.',
  'cancel.not_yours': 'Seule la personne qui a demandé peut annuler.',
  'cancel.too_late': 'Trop tard pour annuler\u202F: c’est déjà commencé.',
  gone: 'Ce résultat n’est plus disponible.',
  'modal.edit_title': 'Modifier l’image',
  'modal.change_label': 'Que faut-il changer\u202F?',
  'modal.change_placeholder': 'ex. rends le ciel violet --ar 16:9',
  'modal.image_label': 'Quelle image (1 à {count})\u202F?',
  'modal.edit_image_title': 'Modifier l’image n°{number}',
  'modal.expired': 'Ce formulaire a expiré. Recommencez, s’il vous plaît.',
  'modal.not_yours':
    'Ce formulaire a été ouvert par quelqu’un d’autre. Ouvrez le vôtre avec **Modifier**.',
  'usage.top': 'Les plus actifs aujourd’hui\u202F: {list}',
  'batch.preparing': '⏳ Préparation de {count} tâches…',
  'help.commands':
    '`/history`\u202F: vos dernières demandes ici, avec les liens vers les résultats. `/usage`\u202F: les images qu’il vous reste aujourd’hui, et celles de la semaine.',
  'command.imagine': 'Créer ou modifier des images avec Nano Banana',
  'command.prompt': 'Que dessiner\u202F; des options comme --ar 16:9 peuvent suivre',
  'command.model': 'Modèle',
  'command.aspect_ratio': 'Format',
  'command.resolution': 'Résolution (au-delà de 1K\u202F: Nano Banana 2 et Pro)',
  'command.count': 'Combien d’images',
  'command.image': 'Une image à modifier',
  'command.private': 'Vous seul voyez le résultat',
  'command.repeat': 'Lancer la demande autant de fois (1 à 4)',
  'command.blend': 'Mélanger de 2 à 5 images en une seule',
  'command.blend_image': 'Une image à mélanger (donnez-en de 2 à 5)',
  'command.blend_prompt': 'Comment les mélanger (par défaut\u202F: les mélanger simplement)',
  'help.blend':
    '`/blend` mélange de 2 à 5 images en une seule\u202F; ou répondez à un message qui contient des images en me mentionnant avec `--blend`.',
  'command.usage': 'Combien d’images il vous reste aujourd’hui',
  'command.help': 'Comment utiliser le bot',
  'command.prefer':
    'Vos propres valeurs par défaut\u202F: modèle, format, résolution, suffixe, styles nommés',
  'command.prefer_show': 'Afficher vos préférences',
  'command.prefer_set': 'Régler votre modèle, format, résolution ou suffixe par défaut',
  'command.prefer_model': 'Votre modèle par défaut',
  'command.prefer_aspect_ratio': 'Votre format par défaut',
  'command.prefer_resolution':
    'Votre résolution par défaut (au-delà de 1K\u202F: Nano Banana 2 et Pro)',
  'command.prefer_suffix': 'Texte ajouté à la fin de chaque description',
  'command.prefer_clear':
    'Effacer des préférences (sans choix\u202F: modèle, format, résolution, suffixe)',
  'command.prefer_clear_what': 'Ce qu’il faut effacer',
  'command.prefer_style':
    'Styles nommés\u202F: --style nom ajoute le texte d’un style à une description',
  'command.prefer_style_add': 'Enregistrer un style (ou remplacer celui du même nom)',
  'command.prefer_style_remove': 'Supprimer un style',
  'command.prefer_style_list': 'Lister vos styles',
  'command.prefer_style_name': 'Le nom du style\u202F: minuscules, chiffres, - ou _',
  'command.prefer_style_text': 'Le texte que le style ajoute à une description',
  'help.prefer':
    '`/prefer`\u202F: vos propres modèle, format et résolution par défaut, un suffixe ajouté à chaque description, et des styles nommés.',
  'command.history': 'Vos 10 dernières demandes, avec les liens vers les résultats',
  'command.settings':
    'Les réglages du bot pour ce serveur (modérateurs)\u202F; sans option\u202F: les afficher',
  'command.settings_model': 'Le modèle par défaut du serveur',
  'command.settings_aspect_ratio': 'Le format par défaut du serveur',
  'command.settings_resolution': 'La résolution par défaut du serveur',
  'command.settings_add_channel':
    'Répondre dans ce salon (dès qu’un salon est listé, seulement là)',
  'command.settings_remove_channel': 'Ne plus répondre dans ce salon',
  'command.settings_daily_limit':
    'Images par jour pour tout le serveur (0\u202F: pas de limite propre)',
  'command.settings_audit_channel': 'Où va le journal de modération',
  'command.settings_private': 'Les résultats sont privés sauf si la demande dit le contraire',
  'command.settings_threads': 'Les résultats ouvrent un fil pour les modifications',
  'command.settings_reset': 'Effacer d’abord un réglage (ou tous)',
  'settings.title': '**Les réglages du bot pour ce serveur**',
  'settings.refused':
    'Seuls les membres ayant la permission **Gérer le serveur** peuvent voir ou changer les réglages du bot.',
  'settings.guild_only':
    'Les réglages appartiennent à un serveur\u202F: utilisez `/settings` dans l’un d’eux.',
  'settings.hint': 'Changez-en un avec les options de `/settings`\u202F; `reset` en efface un.',
  'settings.use_command':
    'Les modérateurs voient et changent les réglages du serveur avec `/settings`.',
  'mention.use_command':
    'Utilisez `{command}` pour cela\u202F: la réponse n’est visible que par vous.',
  'help.settings':
    'Modérateurs (Gérer le serveur)\u202F: `/settings` affiche et change les réglages par défaut, les salons, la limite quotidienne, la confidentialité et les fils du serveur.',
  'command.unavailable':
    'Cette commande n’est pas disponible. Tapez / pour voir les commandes du bot.',
  'elapsed.seconds': '{seconds}\u202Fs',
};

const TABLES: Readonly<Record<Locale, Readonly<Record<DiscordTextKey, string>>>> = { en, fr };

/**
 * Permissions as Discord's French client names them, so that an admin finds the switch to turn
 * on. Longest first: "Send Messages" is part of "Send Messages in Threads".
 */
const FRENCH_PERMISSION_NAMES: readonly (readonly [string, string])[] = [
  ['Send Messages in Threads', 'Envoyer des messages dans les fils'],
  ['Create Public Threads', 'Créer des fils publics'],
  ['Read Message History', 'Voir les anciens messages'],
  ['Send Messages', 'Envoyer des messages'],
  ['View Channel', 'Voir les salons'],
  ['Attach Files', 'Joindre des fichiers'],
  ['Embed Links', 'Intégrer des liens'],
  ['Manage Threads', 'Gérer les fils'],
];

function permissionNames(locale: Locale, names: string): string {
  if (locale !== 'fr') return names;
  return FRENCH_PERMISSION_NAMES.reduce(
    (text, [english, french]) => text.replaceAll(english, french),
    names,
  );
}

/**
 * The whole help, as `/help` and a mention's `--help` both show it: the core's text for
 * `/imagine`, then Discord's own commands.
 */
export function discordHelp(locale: Locale, models: readonly string[]): string {
  return [
    `**${translate(locale, 'help.title')}**`,
    translate(locale, 'help.body', { command: '/imagine', models: models.slice(0, 8) }),
    discordText(locale, 'help.blend'),
    discordText(locale, 'help.prefer'),
    discordText(locale, 'help.settings'),
    discordText(locale, 'help.commands'),
  ].join('\n');
}

export function discordText(
  locale: Locale | string | undefined,
  key: DiscordTextKey,
  params: Readonly<Record<string, string | number>> = {},
): string {
  const resolved = resolveLocale(locale);
  return TABLES[resolved][key].replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = String(params[name] ?? '');
    return name === 'permission' ? permissionNames(resolved, value) : value;
  });
}

/** The keys of one locale's table: the test that every text exists in French reads them. */
export function discordTextKeys(locale: Locale): readonly string[] {
  return Object.keys(TABLES[locale]);
}

/** The French names of command texts, for Discord's per-locale command descriptions. */
export function frenchText(key: DiscordTextKey): string {
  return fr[key];
}

export function elapsedText(locale: Locale | string | undefined, milliseconds: number): string {
  return discordText(locale, 'elapsed.seconds', { seconds: (milliseconds / 1000).toFixed(1) });
}
