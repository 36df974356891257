import { type Locale, resolveLocale } from '../core/index.js';

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
    'I can’t see the image in that message: Discord only shows me images in messages that mention me, unless an admin enables the Message Content intent. Right-click the message → **Apps** → **Edit image** instead.',
  'reply.no_image':
    'I found no image to edit there. Attach one, or reply to a message with an image.',
  'reply.no_image_in_thread': 'I found no image in this thread to edit.',
  'attachment.not_image': '“{name}” isn’t an image I can use (PNG, JPEG, WebP or GIF).',
  'attachment.too_large': '“{name}” is too large ({size}); the limit is {max}.',
  'permission.missing':
    'I’m missing a permission in this channel: **{permission}**. Ask an admin to grant it, then try again.',
  'permission.archived':
    'This thread is archived, so I can’t post in it. Unarchive it or use another channel.',
  'delete.done': 'Deleted.',
  'delete.refused': 'Only the person who asked, or an admin, can delete this result.',
  'cancel.not_yours': 'Only the person who asked can cancel this.',
  'cancel.too_late': 'Too late to cancel: this one has already started.',
  gone: 'That result is no longer available.',
  'modal.edit_title': 'Edit image',
  'modal.change_label': 'What should change?',
  'modal.change_placeholder': 'e.g. make the sky purple --ar 16:9',
  'modal.image_label': 'Which image (1 to {count})?',
  'modal.expired': 'That edit form expired. Please start again.',
  'modal.not_yours': 'This edit form was opened by someone else. Open your own with **Edit**.',
  'usage.top': 'Top users today: {list}',
  'command.imagine': 'Create or edit images with Nano Banana',
  'command.prompt': 'What to draw; flags like --ar 16:9 may follow',
  'command.model': 'Model',
  'command.aspect_ratio': 'Aspect ratio',
  'command.resolution': 'Resolution (above 1K: Nano Banana 2 and Pro)',
  'command.count': 'How many images',
  'command.image': 'An image to edit',
  'command.private': 'Only you see the result',
  'command.usage': 'How many images you have left today',
  'command.help': 'How to use the bot',
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
    'Je ne vois pas l’image de ce message\u202F: Discord ne me montre que les images des messages qui me mentionnent, sauf si un administrateur active l’intent Message Content. Faites plutôt clic droit sur le message → **Applications** → **Edit image**.',
  'reply.no_image':
    'Je n’ai trouvé aucune image à modifier. Joignez-en une, ou répondez à un message qui en contient.',
  'reply.no_image_in_thread': 'Je n’ai trouvé aucune image à modifier dans ce fil.',
  'attachment.not_image':
    '«\u202F{name}\u202F» n’est pas une image utilisable (PNG, JPEG, WebP ou GIF).',
  'attachment.too_large':
    '«\u202F{name}\u202F» est trop lourd ({size})\u202F; la limite est de {max}.',
  'permission.missing':
    'Il me manque une permission dans ce salon\u202F: **{permission}**. Demandez à un administrateur de l’accorder, puis réessayez.',
  'permission.archived':
    'Ce fil est archivé, je ne peux pas y écrire. Désarchivez-le ou utilisez un autre salon.',
  'delete.done': 'Supprimé.',
  'delete.refused':
    'Seule la personne qui a demandé, ou un administrateur, peut supprimer ce résultat.',
  'cancel.not_yours': 'Seule la personne qui a demandé peut annuler.',
  'cancel.too_late': 'Trop tard pour annuler\u202F: c’est déjà commencé.',
  gone: 'Ce résultat n’est plus disponible.',
  'modal.edit_title': 'Modifier l’image',
  'modal.change_label': 'Que faut-il changer\u202F?',
  'modal.change_placeholder': 'ex. rends le ciel violet --ar 16:9',
  'modal.image_label': 'Quelle image (1 à {count})\u202F?',
  'modal.expired': 'Ce formulaire a expiré. Recommencez, s’il vous plaît.',
  'modal.not_yours':
    'Ce formulaire a été ouvert par quelqu’un d’autre. Ouvrez le vôtre avec **Modifier**.',
  'usage.top': 'Les plus actifs aujourd’hui\u202F: {list}',
  'command.imagine': 'Créer ou modifier des images avec Nano Banana',
  'command.prompt': 'Que dessiner\u202F; des options comme --ar 16:9 peuvent suivre',
  'command.model': 'Modèle',
  'command.aspect_ratio': 'Format',
  'command.resolution': 'Résolution (au-delà de 1K\u202F: Nano Banana 2 et Pro)',
  'command.count': 'Combien d’images',
  'command.image': 'Une image à modifier',
  'command.private': 'Vous seul voyez le résultat',
  'command.usage': 'Combien d’images il vous reste aujourd’hui',
  'command.help': 'Comment utiliser le bot',
  'elapsed.seconds': '{seconds}\u202Fs',
};

const TABLES: Readonly<Record<Locale, Readonly<Record<DiscordTextKey, string>>>> = { en, fr };

export function discordText(
  locale: Locale | string | undefined,
  key: DiscordTextKey,
  params: Readonly<Record<string, string | number>> = {},
): string {
  const table = TABLES[resolveLocale(locale)];
  return table[key].replace(/\{(\w+)\}/g, (_match, name: string) => String(params[name] ?? ''));
}

/** The French names of command texts, for Discord's per-locale command descriptions. */
export function frenchText(key: DiscordTextKey): string {
  return fr[key];
}

export function elapsedText(locale: Locale | string | undefined, milliseconds: number): string {
  return discordText(locale, 'elapsed.seconds', { seconds: (milliseconds / 1000).toFixed(1) });
}
