import { type Locale, resolveLocale } from '../core/index.js';

/**
 * Texts only the Slack adapter shows, in English and French. Everything shared with the other
 * front ends (errors, progress, buttons, help) comes from the core's catalogue instead.
 */

type Params = Readonly<Record<string, string | number>>;
type Template = string | ((params: Params) => string);

/** French puts a narrow no-break space before `: ; ! ?` and inside « ». */
const NNBSP = '\u202F';

const en = {
  'status.generate': (p) => `<@${p.user}> asked for an image:`,
  'status.edit': (p) => `<@${p.user}> asked for an edit:`,
  'status.received': 'Request received…',
  'status.deleted': (p) => `These images were deleted by <@${p.user}>.`,
  'status.done_below': 'The images are in the thread.',
  'settings.model': 'Model',
  'settings.ratio': 'Aspect ratio',
  'settings.resolution': 'Resolution',
  'settings.count': 'Images',
  'settings.setting': (p) => `${p.name}: ${p.value}`,
  'result.text': (p) => `<@${p.user}>, here are your images.`,
  'result.edit_hint':
    'To edit, reply in this thread mentioning me with what to change, or press Edit.',
  'result.upload_text': 'Result',
  'failed.text': (p) => `<@${p.user}> ${p.error}`,
  'post.not_in_channel': (p) =>
    `I can’t post in this conversation yet. In a channel, add me with \`/invite @${p.bot}\` and try again. ` +
    'I can’t join private chats between other people: use me in a channel, or in a direct message with me.',
  'post.failed': (p) =>
    `I couldn’t post in this conversation (Slack said “${p.code}”). Please try again.`,
  'files.login_page': (p) =>
    `I couldn’t download “${p.name}”: Slack sent a sign-in page instead of the file. ` +
    'The app needs the `files:read` scope: ask a workspace admin to add it and reinstall the app.',
  'files.elsewhere': (p) =>
    `I can only read files stored on Slack, and “${p.name}” is somewhere else. Upload the image to Slack instead.`,
  'delete.not_allowed':
    'Only the person who asked for these images, or a workspace admin, can delete them.',
  'cancel.not_yours': 'Only the person who asked can cancel this request.',
  'cancel.too_late': 'It’s too late to cancel: this request has already started.',
  'job.unknown': 'I don’t have this request any more.',
  'result.gone': 'These images were deleted, so there is nothing to edit.',
  'shortcut.no_image': 'That message has no image I can edit.',
  'blend.how':
    'Slash commands can’t carry files, so there is nothing to blend here. ' +
    'Mention me in a message with 2 to 5 images attached and `--blend` (a prompt is optional), or use the *Edit image* shortcut on a message with several images.',
  'thread.missing_scope': (p) =>
    `I can’t read this thread to find its latest image: the app lacks the \`${p.scope}\` scope. ` +
    'Nothing was sent. Ask a workspace admin to add it and reinstall the app.',
  'thread.not_in_channel': (p) =>
    `I can’t read this thread to find its latest image: I’m not in this conversation. Nothing was sent. Add me with \`/invite @${p.bot}\` and try again.`,
  'thread.rate_limited':
    'Slack is limiting how fast I can read this thread, so I couldn’t find its latest image. Nothing was sent: please try again in a minute.',
  'thread.unreadable': (p) =>
    `I couldn’t read this thread to find its latest image (Slack said “${p.code}”). Nothing was sent: please try again.`,
  'thread.unreachable':
    'I couldn’t reach Slack to read this thread and find its latest image. Nothing was sent: please try again.',
  'modal.title': 'Edit image',
  'modal.submit': 'Edit',
  'modal.close': 'Cancel',
  'modal.done': 'Close',
  'modal.loading': 'One moment…',
  'modal.sent': 'Got it. Your edit will show in the conversation.',
  'modal.failed': 'Slack didn’t open the form in time. Please try again.',
  'modal.prompt': 'What should change?',
  'modal.placeholder': 'Make the sky purple --ar 16:9',
  'modal.image': 'Which image',
  'modal.image_option': (p) => `Image ${p.number}`,
  'server_settings.title': 'Workspace settings',
  'server_settings.submit': 'Save',
  'server_settings.intro': 'The bot’s settings for this workspace, now:',
  'server_settings.model': 'Default model',
  'server_settings.ratio': 'Default aspect ratio',
  'server_settings.resolution': 'Default resolution',
  'server_settings.default_option': 'The bot’s default',
  'server_settings.channels': 'Channels I answer in (none: every channel)',
  'server_settings.limit': 'Daily image limit for the workspace (empty or 0: none of its own)',
  'server_settings.audit': 'Moderation log channel',
  'server_settings.limit_invalid': 'Enter a whole number, 0 or more.',
  'server_settings.refused':
    'Only workspace admins and owners can see or change the bot’s settings.',
  'server_settings.no_workspace': 'Settings belong to a workspace: use the command in one.',
  'server_settings.command_only': (p) =>
    `Workspace admins see and change the bot’s settings with \`${p.command} --settings\`.`,
  'help.settings': (p) =>
    `Workspace admins: \`${p.command} --settings\` sets the workspace’s default model, ratio and resolution, the channels I answer in, a daily image limit and the moderation log.`,
  'help.slack': [
    'In a thread where I posted images, mention me (or attach an image) to edit the latest one.',
    'Mention me with an image attached to edit it, or use the *Edit image* shortcut on any message with images.',
    'To blend 2 to 5 images into one, mention me in a message with them attached and `--blend`.',
    'In a direct message with me, no command is needed.',
    '`--history`: your last requests here, with links to the results. `--usage`: images left today, and made this week.',
  ].join('\n'),
  'help.prefer': (p) =>
    `\`${p.command} --prefer\`: your own default model, ratio and resolution, a suffix added to every prompt, and named styles.`,
  /** `{command}`: the slash command, `/imagine`. */
  'prefer.usage': (p) =>
    [
      `\`${p.command} --prefer\` shows your preferences. To change them:`,
      `• \`${p.command} --prefer --model pro --ar 16:9 --res 2K\`: your default model, ratio, resolution`,
      `• \`${p.command} --prefer suffix in soft morning light\`: text added to every prompt`,
      `• \`${p.command} --prefer style add noir black and white, hard shadows\`: a style, used with \`--style noir\``,
      `• \`${p.command} --prefer style remove noir\``,
      `• \`${p.command} --prefer clear\`: model, ratio, resolution and suffix; or \`clear model\`, \`ratio\`, \`resolution\`, \`suffix\`, \`styles\``,
    ].join('\n'),
} satisfies Record<string, Template>;

export type SlackTextKey = keyof typeof en;

const fr: Record<SlackTextKey, Template> = {
  'status.generate': (p) => `<@${p.user}> a demandé une image${NNBSP}:`,
  'status.edit': (p) => `<@${p.user}> a demandé une modification${NNBSP}:`,
  'status.received': 'Demande reçue…',
  'status.deleted': (p) => `Ces images ont été supprimées par <@${p.user}>.`,
  'status.done_below': 'Les images sont dans le fil.',
  'settings.model': 'Modèle',
  'settings.ratio': 'Format',
  'settings.resolution': 'Résolution',
  'settings.count': 'Images',
  'settings.setting': (p) => `${p.name}${NNBSP}: ${p.value}`,
  'result.text': (p) => `<@${p.user}>, voici vos images.`,
  'result.edit_hint':
    'Pour les modifier, répondez dans ce fil en me mentionnant avec ce qu’il faut changer, ou appuyez sur Modifier.',
  'result.upload_text': 'Résultat',
  'failed.text': (p) => `<@${p.user}> ${p.error}`,
  'post.not_in_channel': (p) =>
    `Je ne peux pas encore écrire dans cette conversation. Dans un salon, ajoutez-moi avec \`/invite @${p.bot}\` puis réessayez. ` +
    `Je ne peux pas rejoindre les conversations privées entre d’autres personnes${NNBSP}: utilisez-moi dans un salon, ou en message direct avec moi.`,
  'post.failed': (p) =>
    `Je n’ai pas pu écrire dans cette conversation (Slack a répondu «${NNBSP}${p.code}${NNBSP}»). Veuillez réessayer.`,
  'files.login_page': (p) =>
    `Je n’ai pas pu télécharger «${NNBSP}${p.name}${NNBSP}»${NNBSP}: Slack a renvoyé une page de connexion au lieu du fichier. ` +
    `L’application a besoin de la permission \`files:read\`${NNBSP}: demandez à un administrateur de l’espace de travail de l’ajouter et de réinstaller l’application.`,
  'files.elsewhere': (p) =>
    `Je ne lis que les fichiers stockés sur Slack, et «${NNBSP}${p.name}${NNBSP}» est ailleurs. Envoyez plutôt l’image sur Slack.`,
  'delete.not_allowed':
    'Seule la personne qui a demandé ces images, ou un administrateur de l’espace de travail, peut les supprimer.',
  'cancel.not_yours': 'Seule la personne qui a fait la demande peut l’annuler.',
  'cancel.too_late': `Trop tard pour annuler${NNBSP}: la demande a déjà commencé.`,
  'job.unknown': 'Je n’ai plus cette demande.',
  'result.gone': 'Ces images ont été supprimées, il n’y a plus rien à modifier.',
  'shortcut.no_image': 'Ce message ne contient aucune image que je puisse modifier.',
  'blend.how':
    'Les commandes slash ne transportent pas de fichiers, il n’y a donc rien à mélanger ici. ' +
    'Mentionnez-moi dans un message avec 2 à 5 images jointes et `--blend` (la description est facultative), ou utilisez le raccourci *Edit image* sur un message qui contient plusieurs images.',
  'thread.missing_scope': (p) =>
    `Je ne peux pas lire ce fil pour trouver sa dernière image${NNBSP}: il manque à l’application la permission \`${p.scope}\`. ` +
    `Rien n’a été envoyé. Demandez à un administrateur de l’espace de travail de l’ajouter et de réinstaller l’application.`,
  'thread.not_in_channel': (p) =>
    `Je ne peux pas lire ce fil pour trouver sa dernière image${NNBSP}: je ne suis pas dans cette conversation. Rien n’a été envoyé. Ajoutez-moi avec \`/invite @${p.bot}\` puis réessayez.`,
  'thread.rate_limited': `Slack limite la vitesse à laquelle je peux lire ce fil, je n’ai donc pas trouvé sa dernière image. Rien n’a été envoyé${NNBSP}: réessayez dans une minute.`,
  'thread.unreadable': (p) =>
    `Je n’ai pas pu lire ce fil pour trouver sa dernière image (Slack a répondu «${NNBSP}${p.code}${NNBSP}»). Rien n’a été envoyé${NNBSP}: veuillez réessayer.`,
  'thread.unreachable': `Je n’ai pas pu joindre Slack pour lire ce fil et trouver sa dernière image. Rien n’a été envoyé${NNBSP}: veuillez réessayer.`,
  'modal.title': 'Modifier l’image',
  'modal.submit': 'Modifier',
  'modal.close': 'Annuler',
  'modal.done': 'Fermer',
  'modal.loading': 'Un instant…',
  'modal.sent': 'C’est noté. Votre modification apparaîtra dans la conversation.',
  'modal.failed': 'Slack n’a pas ouvert le formulaire à temps. Veuillez réessayer.',
  'modal.prompt': `Que faut-il changer${NNBSP}?`,
  'modal.placeholder': 'Rends le ciel violet --ar 16:9',
  'modal.image': 'Quelle image',
  'modal.image_option': (p) => `Image ${p.number}`,
  'server_settings.title': 'Réglages de l’espace',
  'server_settings.submit': 'Enregistrer',
  'server_settings.intro': `Les réglages du bot pour cet espace de travail, actuellement${NNBSP}:`,
  'server_settings.model': 'Modèle par défaut',
  'server_settings.ratio': 'Format par défaut',
  'server_settings.resolution': 'Résolution par défaut',
  'server_settings.default_option': 'Celui du bot',
  'server_settings.channels': `Salons où je réponds (aucun${NNBSP}: tous les salons)`,
  'server_settings.limit': `Limite quotidienne d’images de l’espace (vide ou 0${NNBSP}: pas de limite propre)`,
  'server_settings.audit': 'Salon du journal de modération',
  'server_settings.limit_invalid': 'Saisissez un nombre entier, 0 ou plus.',
  'server_settings.refused':
    'Seuls les administrateurs et propriétaires de l’espace de travail peuvent voir ou changer les réglages du bot.',
  'server_settings.no_workspace': `Les réglages appartiennent à un espace de travail${NNBSP}: utilisez la commande dans l’un d’eux.`,
  'server_settings.command_only': (p) =>
    `Les administrateurs de l’espace voient et changent les réglages du bot avec \`${p.command} --settings\`.`,
  'help.settings': (p) =>
    `Administrateurs de l’espace${NNBSP}: \`${p.command} --settings\` règle le modèle, le format et la résolution par défaut, les salons où je réponds, une limite quotidienne d’images et le journal de modération.`,
  'help.slack': [
    'Dans un fil où j’ai publié des images, mentionnez-moi (ou joignez une image) pour modifier la dernière.',
    'Mentionnez-moi avec une image jointe pour la modifier, ou utilisez le raccourci *Edit image* (Slack ne traduit pas son nom) sur un message qui contient des images.',
    'Pour mélanger de 2 à 5 images en une seule, mentionnez-moi dans un message qui les contient, avec `--blend`.',
    'En message direct avec moi, aucune commande n’est nécessaire.',
    `\`--history\`${NNBSP}: vos dernières demandes ici, avec les liens vers les résultats. \`--usage\`${NNBSP}: les images qu’il vous reste aujourd’hui, et celles de la semaine.`,
  ].join('\n'),
  'help.prefer': (p) =>
    `\`${p.command} --prefer\`${NNBSP}: vos propres modèle, format et résolution par défaut, un suffixe ajouté à chaque description, et des styles nommés.`,
  'prefer.usage': (p) =>
    [
      `\`${p.command} --prefer\` affiche vos préférences. Pour les changer${NNBSP}:`,
      `• \`${p.command} --prefer --model pro --ar 16:9 --res 2K\`${NNBSP}: vos modèle, format et résolution par défaut`,
      `• \`${p.command} --prefer suffix dans la lumière du matin\`${NNBSP}: un texte ajouté à chaque description`,
      `• \`${p.command} --prefer style add noir noir et blanc, ombres dures\`${NNBSP}: un style, utilisé avec \`--style noir\``,
      `• \`${p.command} --prefer style remove noir\``,
      `• \`${p.command} --prefer clear\`${NNBSP}: modèle, format, résolution et suffixe${NNBSP}; ou \`clear model\`, \`ratio\`, \`resolution\`, \`suffix\`, \`styles\``,
    ].join('\n'),
};

const TABLES: Readonly<Record<Locale, Readonly<Record<SlackTextKey, Template>>>> = { en, fr };

/** A Slack-only text in the locale (English when the locale is unknown). */
export function slackText(locale: string, key: SlackTextKey, params: Params = {}): string {
  const template = TABLES[resolveLocale(locale)][key];
  return typeof template === 'function' ? template(params) : template;
}

/** The keys of one locale's table: the test that every text exists in French reads them. */
export function slackTextKeys(locale: Locale): readonly string[] {
  return Object.keys(TABLES[locale]);
}
