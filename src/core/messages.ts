/**
 * Every text a user can see, in English and French. Errors carry codes and parameters; the front
 * ends (command line, Discord, Slack) turn them into sentences here, so the wording lives in one
 * place and a new language is one more table.
 */

import { MAX_BATCH_JOBS } from './batch.js';
import { MAX_BLEND_IMAGES, MIN_BLEND_IMAGES } from './blend.js';
import {
  ERROR_CODES,
  type ErrorCode,
  type ErrorParamValue,
  INPUT_PROBLEMS,
  type InputProblem,
  NanoBananaError,
} from './errors.js';
import { ASPECT_RATIOS, MAX_COUNT, MIN_COUNT, RESOLUTIONS } from './models.js';

export const LOCALES = ['en', 'fr'] as const;
export type Locale = (typeof LOCALES)[number];

export type MessageParams = Readonly<Record<string, ErrorParamValue>>;

/** What a template function gets: parameters already rendered for its locale. */
interface TemplateContext {
  /** The parameter as text: lists joined with commas, numbers in the locale's style, '' if absent. */
  text(name: string): string;
  /** The parameter as a number (numeric strings included), or undefined. */
  number(name: string): number | undefined;
  has(name: string): boolean;
  /** A number of seconds as `1m 05s` / `1 min 05 s`; a string as given. */
  duration(name: string): string;
  /** A number of bytes as `10 MB` / `10 Mo`; a string as given. */
  bytes(name: string): string;
  /** Whether the number takes the singular in this locale (French: 0 and 1, English: 1). */
  singular(name: string): boolean;
}

/** A string with `{name}` placeholders, or a function for texts that vary more than that. */
type Template = string | ((context: TemplateContext) => string);

/** A user's value echoed back is cut here: a chat message has a length limit. */
const MAX_PARAM_LENGTH = 200;

/** French puts a narrow no-break space before `: ; ! ?` and inside « ». */
const NNBSP = '\u202F';

const en = {
  'error.invalid_input': 'That request isn’t valid. Check the prompt and options, then try again.',
  'error.auth_failed': 'The bot’s API key is misconfigured. Please tell an admin.',
  'error.balance_used_up': 'The bot has used up its image credits. Ask an admin to top up.',
  'error.moderation_blocked':
    'The safety filter refused this one, so nothing was billed. Try rewording your prompt.',
  /** `{retryAfterSeconds}`: filled by `describeError` from the error's `retryAfterMs`. */
  'error.rate_limited': (p) =>
    p.has('retryAfterSeconds')
      ? `The image service is busy. Try again in about ${p.duration('retryAfterSeconds')}.`
      : 'The image service is busy. Try again shortly.',
  'error.request_too_large':
    'The input images are too large or too many. Try fewer or smaller images.',
  'error.upstream_error': 'The image service had a problem. Please try again.',
  'error.timeout': 'That took too long. Please try again in a moment.',
  'error.network': 'I couldn’t reach the image service. Please try again in a moment.',
  'error.no_image': 'The model didn’t return an image. Try rephrasing your prompt.',
  'error.cancelled': 'Cancelled.',
  'error.quota_exceeded': (p) =>
    p.text('scope') === 'user'
      ? `You have reached your daily limit of ${p.text('limit')} images. It resets at midnight UTC.`
      : p.text('scope') === 'server'
        ? `This server has reached its daily limit of ${p.text('limit')} images. It resets at midnight UTC.`
        : p.text('scope') === 'dm'
          ? `Direct messages have reached their daily limit of ${p.text('limit')} images. It resets at midnight UTC.`
          : 'The bot has reached its daily image limit. It resets at midnight UTC.',
  /** `{channels}`: where a server's own settings let the bot answer, optional. */
  'error.not_allowed': (p) =>
    p.has('channels')
      ? `I only answer in ${p.text('channels')} on this server.`
      : 'I’m not enabled here. Ask an admin to allow this server or channel.',
  'error.too_many_queued':
    'You already have {max} requests waiting. Wait for some to finish, then try again.',
  /** `{source}`: `style` or `suffix` when the word came from the member's saved style or suffix. */
  'error.blocked_prompt': (p) =>
    p.text('source') === 'style'
      ? 'Your style contains a word that isn’t allowed here. Change the style or leave it out.'
      : p.text('source') === 'suffix'
        ? 'Your prompt suffix contains a word that isn’t allowed here. Change it in your preferences.'
        : 'Your prompt contains a word that isn’t allowed here. Please rephrase it.',
  'error.interrupted':
    'The bot restarted while sending your request, so I can’t tell whether it went through. Nothing more will happen on its own: press Re-roll to try again.',
  'error.delivery_failed':
    'Your images were made but I couldn’t post them here. Check my permissions in this channel.',
  'error.undeliverable':
    'Your images were made, but I couldn’t post them anywhere, not even by direct message. Ask an admin for them.',
  'error.unavailable': 'The bot is restarting. Please try again in a minute.',
  'job.paused':
    'Image creation is paused: the bot’s image credits are used up. An admin has been told; your request will wait.',
  'job.timeout_notice':
    'This is taking much longer than usual. I’ll post the images here if they still come.',
  'job.expired_token_notice': '{mention} here are your images:',
  // The moderation log (see core/audit): one line per event, in NANO_BANANA_AUDIT_LOCALE. `{who}`
  // and `{where}` come rendered by the adapter (a mention, a channel link), pinging nobody.
  'audit.accepted': '{who} asked in {where}',
  'audit.private': 'private',
  'audit.done': 'result',
  'audit.failed': 'failed',
  'audit.cancelled': 'cancelled',
  'audit.undelivered': 'made but could not be posted anywhere',
  /** `{word}`: the blocked word the prompt held. */
  'audit.refused': '{who} was refused in {where}: blocked word “{word}”',
  'error.trace_id': '(trace id: {traceId})',
  /**
   * The operator's wording (the command line): the person reading is the admin, so the text names
   * the setting to fix instead of asking them to tell an admin. Chat users keep `error.*`.
   */
  'operator.error.auth_failed':
    'The API refused ACEDATA_API_TOKEN. Check the token from your AceData Cloud console, in the environment or .env.',
  'operator.error.balance_used_up':
    'The AceData Cloud account behind ACEDATA_API_TOKEN has no credits left. Top it up, then try again.',
  'operator.error.rate_limited': (p) =>
    p.has('retryAfterSeconds')
      ? `The API is rate-limiting this account. Try again in about ${p.duration('retryAfterSeconds')}.`
      : 'The API is rate-limiting this account. Try again shortly.',
  'operator.error.network':
    'Could not reach the API (ACEDATA_BASE_URL) or its image host. Check the address and the network, then try again.',
  'operator.error.timeout':
    'The API or its image host took too long to answer. Try again; NANO_BANANA_REQUEST_TIMEOUT sets how long one API call may take.',

  'input.empty_prompt': 'Please describe the image you want.',
  /** `{added}`: characters the member's style and suffix added, when any. */
  'input.prompt_too_long': (p) =>
    `Your prompt is too long: ${p.text('length')} characters, the limit is ${p.text('max')}.` +
    (p.has('added') ? ` Your style and suffix add ${p.text('added')} of them.` : ''),
  'input.unknown_model': 'I don’t know the model “{value}”. Available models: {valid}.',
  'input.unknown_aspect_ratio': '“{value}” isn’t a supported aspect ratio. Use one of: {valid}.',
  'input.unknown_resolution': '“{value}” isn’t a supported resolution. Use one of: {valid}.',
  'input.resolution_not_supported': '{model} can’t make {value} images. It does: {valid}.',
  'input.count_out_of_range': (p) =>
    `The image count must be a whole number from ${p.text('min')} to ${p.text('max')}` +
    (p.has('value') ? `, not “${p.text('value')}”.` : '.'),
  'input.repeat_out_of_range': (p) =>
    `--repeat must be a whole number from ${p.text('min')} to ${p.text('max')}` +
    (p.has('value') ? `, not “${p.text('value')}”.` : '.'),
  'input.too_many_jobs':
    'That would make {count} jobs; one command makes at most {max}. Use fewer `{…}` choices or a smaller `--repeat`.',
  'input.limit_above_ceiling':
    'The daily limit can be at most {max} images: the bot’s operator set that ceiling.',
  'input.edit_without_images': 'To edit, reply to an image or attach one.',
  'input.too_many_images': 'That’s {count} images; I can use at most {max}.',
  /** `{count}`: the images found; `{min}`, `{max}`: how many a blend takes. */
  'input.blend_image_count': (p) =>
    `A blend needs ${p.text('min')} to ${p.text('max')} images, and I found ${p.text('count')}. ` +
    ((p.number('count') ?? 0) > (p.number('max') ?? 0)
      ? 'Leave some out and try again.'
      : 'Add more and try again.'),
  'input.unknown_flag': 'I don’t know the option {flag}. Valid options: {valid}.',
  'input.missing_flag_value': 'The option {flag} needs a value right after it.',
  /** `{valid}`: the member's style names, absent when they have none. */
  'input.unknown_style': (p) =>
    p.has('valid')
      ? `You have no style called “${p.text('value')}”. Your styles: ${p.text('valid')}.`
      : `You have no style called “${p.text('value')}”: you have no saved styles yet.`,
  /** `{setting}`: `suffix` or `style`. */
  'input.options_in_text': (p) =>
    (p.text('setting') === 'style' ? 'A style' : 'A suffix') +
    ' is plain text, without options such as --ar: set the model, ratio and resolution as preferences of their own.',
  'input.bad_image_url': 'One of the input images isn’t a link I can use.',
  /** `{name}`: the file name, optional. */
  'input.untrusted_image_host': (p) =>
    (p.has('name') ? `I can’t fetch “${p.text('name')}”` : 'I can’t fetch one of the images') +
    ': I only download images stored on this chat platform. Upload the image here instead.',
  'input.unsupported_image': (p) =>
    p.has('name')
      ? `“${p.text('name')}” isn’t an image format I can use. Try PNG, JPEG or WebP.`
      : 'That file isn’t an image format I can use. Try PNG, JPEG or WebP.',
  /** `{name}`: the file name, optional; `{max}`: the limit in bytes (or a text), optional. */
  'input.image_too_large': (p) =>
    (p.has('name') ? `“${p.text('name')}” is too large` : 'An input image is too large') +
    (p.has('max') ? ` (the limit is ${p.bytes('max')}).` : '.'),
  /** `{names}`: the files to leave out; `{megabytes}`: the limit in (decimal) megabytes. */
  'input.inputs_too_large': (p) =>
    `Together the images are over ${p.text('megabytes')} MB. Leave out ${p.text('names')} and try again.`,
  'input.image_unreadable': (p) =>
    p.has('name') ? `I couldn’t read “${p.text('name')}”.` : 'I couldn’t read one of the images.',
  'input.rejected_by_api':
    'The image service refused this request. Try changing the prompt or options.',
  'input.result_gone':
    'That image is no longer kept (its result was deleted or is too old). Start a new request.',
  'input.setting_too_long': 'The {setting} is too long: at most {max} characters.',
  'input.bad_setting': '“{value}” isn’t a valid {setting}.',
  'input.bad_style_name':
    '“{value}” can’t be a style name: use up to 32 lowercase letters, digits, - or _.',
  'input.too_many_styles': 'You can keep at most {max} styles. Remove one first.',

  /** `{position}`: the place in the queue, 1 for next. */
  'job.queued': (p) =>
    (p.number('position') ?? 1) <= 1
      ? 'Queued: you’re next.'
      : `Queued: you’re number ${p.text('position')} in line.`,
  /** A batch (`{a, b}`, `--repeat`) was accepted: `{count}` jobs, each with its own message. */
  'batch.queued': '{count} jobs queued. Each gets its own message below.',
  'job.started': 'Working on it…',
  /** `{elapsed}` here and in `job.done`: seconds, or a text shown as given. */
  'job.running': (p) => `Still working… (${p.duration('elapsed')})`,
  'job.done': (p) => `Done in ${p.duration('elapsed')}.`,
  'job.cancelled': 'The request was cancelled.',
  /** `{format}`: the new format (`JPEG`, `WebP`), optional. */
  'job.result_converted': (p) =>
    p.has('format')
      ? `An image was converted to ${p.text('format')} to fit the upload limit.`
      : 'An image was converted to a smaller format to fit the upload limit.',
  'job.result_scaled': 'An image was scaled down to fit the upload limit.',
  'job.fewer_images': (p) =>
    `Only ${p.text('delivered')} of the ${p.text('requested')} images came back; ` +
    'the model filtered or dropped the rest.',
  /** `{missing}`: result images that could not be downloaded (the others were delivered). */
  'job.images_missing': (p) =>
    p.singular('missing')
      ? `${p.text('missing')} image is missing: it was made but could not be downloaded from the image service.`
      : `${p.text('missing')} images are missing: they were made but could not be downloaded from the image service.`,
  /** `{list}`: `defaults.from_*` items, joined. */
  'defaults.note': 'Defaults used: {list}.',
  'defaults.from_preferences': '{setting} from your preferences',
  /** `{place}`: `workspace` on Slack, else a server. */
  'defaults.from_server': (p) =>
    p.text('place') === 'workspace'
      ? `${p.text('setting')} from the workspace’s settings`
      : `${p.text('setting')} from the server’s settings`,
  'defaults.setting.model': 'model',
  'defaults.setting.aspectRatio': 'ratio',
  'defaults.setting.resolution': 'resolution',
  'defaults.setting.suffix': 'suffix',
  'prefer.title': 'Your preferences',
  /** `{name}`: a `defaults.setting.*` text; `{value}`: its value, or `prefer.unset`. */
  'prefer.setting': '{name}: {value}',
  'prefer.unset': 'not set',
  /** Followed by one line per style. */
  'prefer.styles': 'Styles ({count} of {max}):',
  'prefer.no_styles': 'Styles: none yet',
  'prefer.precedence':
    'A request’s own options come first, then these, then the server’s settings, then the bot’s defaults.',
  'prefer.saved': 'Saved.',
  'prefer.style_saved': 'Style “{name}” saved: add it to a prompt with `--style {name}`.',
  'prefer.style_removed': 'Style “{name}” removed.',
  'prefer.nothing_to_set': 'Name at least one preference to set.',
  'help.title': 'How to use Nano Banana',
  /** `{command}`: defaults to `/imagine`; `{models}`: model names to list, optional. */
  'help.body': (p) => {
    const command = p.has('command') ? p.text('command') : '/imagine';
    return [
      `Describe the image after \`${command}\`, for example \`${command} a white cat on a windowsill\`.`,
      'Options can go anywhere in the text:',
      `• \`--model pro\`: the model${p.has('models') ? ` (${p.text('models')})` : ''}`,
      `• \`--ar 16:9\`: the aspect ratio (${ASPECT_RATIOS.join(', ')})`,
      `• \`--res 2K\`: the resolution (${RESOLUTIONS.join(', ')}; not every model goes above 1K)`,
      `• \`--count 2\`: how many images (${MIN_COUNT} to ${MAX_COUNT})`,
      '• `--style cinematic`: adds one of your saved styles to the prompt',
      `• \`{red, blue} bird\`: one job per choice; \`--repeat 2\`: run it twice (at most ${MAX_BATCH_JOBS} jobs; \`\\{\` for a plain brace)`,
      `• \`--blend\`: blend ${MIN_BLEND_IMAGES} to ${MAX_BLEND_IMAGES} images attached (or replied to) into one`,
      'To edit an image, reply to it mentioning me (or attach one) with what to change.',
      'Under a result, the buttons of each image upscale it (2K, 4K), vary it or edit it.',
    ].join('\n');
  },
  'button.reroll': 'Reroll',
  'button.edit': 'Edit',
  'button.delete': 'Delete',
  'button.cancel': 'Cancel',
  /** Per-image controls: `{number}` the image (1-based), `{resolution}` 2K or 4K. */
  /** `{model}`: the model the upscale runs on, optional. */
  'button.upscale': (p) =>
    `Upscale ${p.text('resolution')} #${p.text('number')}` +
    (p.has('model') ? ` · ${p.text('model')}` : ''),
  'button.vary': 'Vary #{number}',
  'button.edit_image': 'Edit #{number}',
  /** `{models}`: the model(s) the upscales run on; `{limit}`: the upload limit in bytes, optional. */
  'result.upscale_note': (p) =>
    `Upscale runs on ${p.text('models')}` +
    (p.has('limit') ? `; a 4K image over ${p.bytes('limit')} arrives as JPEG.` : '.'),
  /** `{parent}`: a link to the result this one came from, or its prompt and id. */
  'result.from_parent': '↳ from {parent}',
  'usage.remaining': (p) => {
    const images = p.number('images') ?? 0;
    if (images <= 0) return 'You have no images left.';
    return p.singular('images')
      ? 'You have 1 image left.'
      : `You have ${p.text('images')} images left.`;
  },
  'usage.unlimited': 'You have no image limit.',
  /** `{images}`: images the user asked for since Monday 00:00 UTC (the ISO week). */
  'usage.week': (p) =>
    p.singular('images')
      ? `This week (since Monday, UTC): ${p.text('images')} image.`
      : `This week (since Monday, UTC): ${p.text('images')} images.`,
  'history.title': 'Your last requests here:',
  'history.empty': 'You have no requests here yet.',
  /** `{days}`: `NANO_BANANA_RETENTION_DAYS`, shown when it is short. */
  'history.retention': (p) =>
    p.singular('days')
      ? 'Requests are forgotten after 1 day.'
      : `Requests are forgotten after ${p.text('days')} days.`,
  'history.state.queued': 'waiting',
  'history.state.creating': 'starting',
  'history.state.running': 'running',
  'history.state.delivering': 'posting',
  'history.state.done': 'done',
  'history.state.failed': 'failed',
  'history.state.cancelled': 'cancelled',
  'history.state.undelivered': 'not delivered',
  'history.result': 'result',
  /** A server's (workspace's) settings, as `/settings` shows them; `{value}` is already shown. */
  'settings.model': 'Default model: {value}',
  'settings.aspect_ratio': 'Default aspect ratio: {value}',
  'settings.resolution': 'Default resolution: {value}',
  'settings.channels': 'Channels I answer in: {value}',
  'settings.daily_limit': 'Daily image limit: {value}',
  'settings.audit_channel': 'Moderation log: {value}',
  'settings.private_results': 'Results private by default: {value}',
  'settings.threads': 'Results open a thread: {value}',
  'settings.unset': 'the bot’s default',
  'settings.all_channels': 'all',
  'settings.none': 'none',
  'settings.yes': 'yes',
  'settings.no': 'no',
  /** `{max}`: the operator's per-server limit, 0 for none. */
  'settings.limit_none': (p) =>
    (p.number('max') ?? 0) > 0 ? `the bot’s, ${p.text('max')} images` : 'none',
  'settings.limit_images': (p) =>
    (p.number('max') ?? 0) > 0
      ? `${p.text('images')} images (the bot allows at most ${p.text('max')})`
      : `${p.text('images')} images`,
  'settings.saved': 'Saved.',
} satisfies Record<string, Template>;

/** The English table defines the keys; every other language must have exactly the same ones. */
export type MessageKey = keyof typeof en;

const fr: Record<MessageKey, Template> = {
  'error.invalid_input':
    'Cette demande n’est pas valide. Vérifiez la description et les options, puis réessayez.',
  'error.auth_failed': 'La clé d’API du bot est mal configurée. Prévenez un administrateur.',
  'error.balance_used_up':
    'Le bot a épuisé ses crédits d’images. Demandez à un administrateur de les recharger.',
  'error.moderation_blocked':
    'Le filtre de sécurité a refusé cette demande, rien n’a été facturé. Essayez de la reformuler.',
  'error.rate_limited': (p) =>
    p.has('retryAfterSeconds')
      ? `Le service d’images est saturé. Réessayez dans ${p.duration('retryAfterSeconds')} environ.`
      : 'Le service d’images est saturé. Réessayez dans un instant.',
  'error.request_too_large':
    'Les images fournies sont trop lourdes ou trop nombreuses. Essayez avec moins d’images, ou de plus petites.',
  'error.upstream_error': 'Le service d’images a rencontré un problème. Veuillez réessayer.',
  'error.timeout': 'L’opération a pris trop de temps. Réessayez dans un instant.',
  'error.network': 'Impossible de joindre le service d’images. Réessayez dans un instant.',
  'error.no_image': 'Le modèle n’a renvoyé aucune image. Essayez de reformuler votre description.',
  'error.cancelled': 'Annulé.',
  'error.quota_exceeded': (p) =>
    p.text('scope') === 'user'
      ? `Vous avez atteint votre limite quotidienne de ${p.text('limit')} images. Elle se réinitialise à minuit UTC.`
      : p.text('scope') === 'server'
        ? `Ce serveur a atteint sa limite quotidienne de ${p.text('limit')} images. Elle se réinitialise à minuit UTC.`
        : p.text('scope') === 'dm'
          ? `Les messages privés ont atteint leur limite quotidienne de ${p.text('limit')} images. Elle se réinitialise à minuit UTC.`
          : `Le bot a atteint sa limite quotidienne d’images. Elle se réinitialise à minuit UTC.`,
  'error.not_allowed': (p) =>
    p.has('channels')
      ? `Sur ce serveur, je réponds seulement dans ${p.text('channels')}.`
      : 'Je ne suis pas activé ici. Demandez à un administrateur d’autoriser ce serveur ou ce salon.',
  'error.too_many_queued':
    'Vous avez déjà {max} demandes en attente. Attendez que certaines se terminent, puis réessayez.',
  'error.blocked_prompt': (p) =>
    p.text('source') === 'style'
      ? 'Votre style contient un mot interdit ici. Modifiez-le ou n’utilisez pas ce style.'
      : p.text('source') === 'suffix'
        ? 'Votre suffixe de description contient un mot interdit ici. Modifiez-le dans vos préférences.'
        : 'Votre description contient un mot interdit ici. Merci de la reformuler.',
  'error.interrupted': `Le bot a redémarré pendant l’envoi de votre demande${NNBSP}; impossible de savoir si elle est passée. Rien d’autre ne se fera tout seul${NNBSP}: appuyez sur Relancer pour réessayer.`,
  'error.delivery_failed':
    'Vos images ont été créées, mais je n’ai pas pu les publier ici. Vérifiez mes permissions dans ce salon.',
  'error.undeliverable':
    'Vos images ont été créées, mais je n’ai trouvé aucun endroit où les publier, pas même en message privé. Demandez-les à un administrateur.',
  'error.unavailable': 'Le bot redémarre. Réessayez dans une minute.',
  'job.paused': `La création d’images est en pause${NNBSP}: les crédits du bot sont épuisés. Un administrateur a été prévenu${NNBSP}; votre demande patiente.`,
  'job.timeout_notice':
    'Cela prend bien plus de temps que d’habitude. Je publierai les images ici si elles arrivent.',
  'job.expired_token_notice': `{mention} voici vos images${NNBSP}:`,
  'audit.accepted': '{who} a demandé dans {where}',
  'audit.private': 'privé',
  'audit.done': 'résultat',
  'audit.failed': 'échec',
  'audit.cancelled': 'annulé',
  'audit.undelivered': 'créé mais impossible à publier',
  'audit.refused': `{who} a été refusé dans {where}${NNBSP}: mot interdit «${NNBSP}{word}${NNBSP}»`,
  'error.trace_id': `(identifiant de trace${NNBSP}: {traceId})`,
  'operator.error.auth_failed':
    'L’API a refusé ACEDATA_API_TOKEN. Vérifiez le jeton de votre console AceData Cloud, dans l’environnement ou le fichier .env.',
  'operator.error.balance_used_up':
    'Le compte AceData Cloud de ACEDATA_API_TOKEN n’a plus de crédits. Rechargez-le, puis réessayez.',
  'operator.error.rate_limited': (p) =>
    p.has('retryAfterSeconds')
      ? `L’API limite le débit de ce compte. Réessayez dans ${p.duration('retryAfterSeconds')} environ.`
      : 'L’API limite le débit de ce compte. Réessayez dans un instant.',
  'operator.error.network':
    'Impossible de joindre l’API (ACEDATA_BASE_URL) ou son hébergeur d’images. Vérifiez l’adresse et le réseau, puis réessayez.',
  'operator.error.timeout': `L’API ou son hébergeur d’images a mis trop de temps à répondre. Réessayez${NNBSP}; NANO_BANANA_REQUEST_TIMEOUT fixe la durée permise pour un appel à l’API.`,

  'input.empty_prompt': 'Décrivez l’image que vous voulez.',
  'input.prompt_too_long': (p) =>
    `Votre description est trop longue${NNBSP}: ${p.text('length')} caractères, la limite est de ${p.text('max')}.` +
    (p.has('added') ? ` Votre style et votre suffixe en ajoutent ${p.text('added')}.` : ''),
  'input.unknown_model': `Je ne connais pas le modèle «${NNBSP}{value}${NNBSP}». Modèles disponibles${NNBSP}: {valid}.`,
  'input.unknown_aspect_ratio': `Le format «${NNBSP}{value}${NNBSP}» n’est pas pris en charge. Choisissez parmi${NNBSP}: {valid}.`,
  'input.unknown_resolution': `La résolution «${NNBSP}{value}${NNBSP}» n’est pas prise en charge. Choisissez parmi${NNBSP}: {valid}.`,
  'input.resolution_not_supported': `{model} ne produit pas d’images en {value}. Résolutions possibles${NNBSP}: {valid}.`,
  'input.count_out_of_range': (p) =>
    `Le nombre d’images doit être un entier de ${p.text('min')} à ${p.text('max')}` +
    (p.has('value') ? `, pas «${NNBSP}${p.text('value')}${NNBSP}».` : '.'),
  'input.repeat_out_of_range': (p) =>
    `--repeat doit être un entier de ${p.text('min')} à ${p.text('max')}` +
    (p.has('value') ? `, pas «${NNBSP}${p.text('value')}${NNBSP}».` : '.'),
  'input.too_many_jobs':
    `Cela ferait {count} tâches${NNBSP}; une commande en lance {max} au maximum. ` +
    'Proposez moins de choix `{…}` ou un `--repeat` plus petit.',
  'input.limit_above_ceiling': `La limite quotidienne peut être au plus de {max} images${NNBSP}: c’est le plafond fixé par l’opérateur du bot.`,
  'input.edit_without_images': 'Pour modifier une image, répondez à une image ou joignez-en une.',
  'input.too_many_images': `Cela fait {count} images${NNBSP}; je peux en utiliser {max} au maximum.`,
  'input.blend_image_count': (p) =>
    `Un mélange demande de ${p.text('min')} à ${p.text('max')} images, et j’en ai trouvé ${p.text('count')}. ` +
    ((p.number('count') ?? 0) > (p.number('max') ?? 0)
      ? 'Retirez-en quelques-unes et réessayez.'
      : 'Ajoutez-en et réessayez.'),
  'input.unknown_flag': `Je ne connais pas l’option {flag}. Options valides${NNBSP}: {valid}.`,
  'input.missing_flag_value': 'L’option {flag} doit être suivie d’une valeur.',
  'input.unknown_style': (p) =>
    p.has('valid')
      ? `Vous n’avez pas de style «${NNBSP}${p.text('value')}${NNBSP}». Vos styles${NNBSP}: ${p.text('valid')}.`
      : `Vous n’avez pas de style «${NNBSP}${p.text('value')}${NNBSP}»${NNBSP}: vous n’avez encore enregistré aucun style.`,
  'input.options_in_text': (p) =>
    (p.text('setting') === 'style' ? 'Un style' : 'Un suffixe') +
    ` est du texte simple, sans options comme --ar${NNBSP}: réglez le modèle, le format et la résolution comme préférences à part.`,
  'input.bad_image_url': 'L’une des images fournies n’est pas un lien utilisable.',
  'input.untrusted_image_host': (p) =>
    (p.has('name')
      ? `Je ne peux pas récupérer «${NNBSP}${p.text('name')}${NNBSP}»`
      : 'Je ne peux pas récupérer l’une des images') +
    `${NNBSP}: je ne télécharge que les images stockées sur cette plateforme de discussion. Envoyez plutôt l’image ici.`,
  'input.unsupported_image': (p) =>
    p.has('name')
      ? `Le format de «${NNBSP}${p.text('name')}${NNBSP}» n’est pas pris en charge. Essayez PNG, JPEG ou WebP.`
      : 'Ce format de fichier n’est pas pris en charge. Essayez PNG, JPEG ou WebP.',
  'input.image_too_large': (p) =>
    (p.has('name')
      ? `L’image «${NNBSP}${p.text('name')}${NNBSP}» est trop lourde`
      : 'Une des images fournies est trop lourde') +
    (p.has('max') ? ` (${p.bytes('max')} au maximum).` : '.'),
  'input.inputs_too_large': (p) =>
    `Ensemble, les images dépassent ${p.text('megabytes')}${NNBSP}Mo. Retirez ${p.text('names')} et réessayez.`,
  'input.image_unreadable': (p) =>
    p.has('name')
      ? `Impossible de lire «${NNBSP}${p.text('name')}${NNBSP}».`
      : 'Impossible de lire l’une des images.',
  'input.rejected_by_api':
    'Le service d’images a refusé cette demande. Essayez de modifier la description ou les options.',
  'input.result_gone':
    'Cette image n’est plus conservée (son résultat a été supprimé ou est trop ancien). Faites une nouvelle demande.',
  'input.setting_too_long': `Le réglage «${NNBSP}{setting}${NNBSP}» est trop long${NNBSP}: {max}${NNBSP}caractères au plus.`,
  'input.bad_setting': `«${NNBSP}{value}${NNBSP}» n’est pas une valeur valide pour «${NNBSP}{setting}${NNBSP}».`,
  'input.bad_style_name': `«${NNBSP}{value}${NNBSP}» ne peut pas être un nom de style${NNBSP}: 32${NNBSP}caractères au plus, lettres minuscules, chiffres, - ou _.`,
  'input.too_many_styles': `Vous pouvez garder {max}${NNBSP}styles au plus. Supprimez-en un d’abord.`,

  'job.queued': (p) =>
    (p.number('position') ?? 1) <= 1
      ? `En file d’attente${NNBSP}: votre demande est la prochaine.`
      : `En file d’attente${NNBSP}: votre demande est en position ${p.text('position')}.`,
  'batch.queued': '{count} tâches en file d’attente. Chacune a son propre message ci-dessous.',
  'job.started': 'C’est parti…',
  'job.running': (p) => `Toujours en cours… (${p.duration('elapsed')})`,
  'job.done': (p) => `Terminé en ${p.duration('elapsed')}.`,
  'job.cancelled': 'La demande a été annulée.',
  'job.result_converted': (p) =>
    p.has('format')
      ? `Une image a été convertie en ${p.text('format')} pour respecter la taille maximale d’envoi.`
      : 'Une image a été convertie dans un format plus léger pour respecter la taille maximale d’envoi.',
  'job.result_scaled': 'Une image a été réduite pour respecter la taille maximale d’envoi.',
  'job.fewer_images': (p) =>
    p.singular('delivered')
      ? `Seule ${p.text('delivered')} image sur les ${p.text('requested')} demandées a été produite${NNBSP}; le modèle a filtré ou abandonné les autres.`
      : `Seules ${p.text('delivered')} images sur les ${p.text('requested')} demandées ont été produites${NNBSP}; le modèle a filtré ou abandonné les autres.`,
  'job.images_missing': (p) =>
    p.singular('missing')
      ? `${p.text('missing')} image manque${NNBSP}: elle a été créée mais n’a pas pu être téléchargée depuis le service d’images.`
      : `${p.text('missing')} images manquent${NNBSP}: elles ont été créées mais n’ont pas pu être téléchargées depuis le service d’images.`,
  'defaults.note': `Réglages par défaut appliqués${NNBSP}: {list}.`,
  'defaults.from_preferences': '{setting} de vos préférences',
  'defaults.from_server': (p) =>
    p.text('place') === 'workspace'
      ? `${p.text('setting')} des réglages de l’espace de travail`
      : `${p.text('setting')} des réglages du serveur`,
  'defaults.setting.model': 'modèle',
  'defaults.setting.aspectRatio': 'format',
  'defaults.setting.resolution': 'résolution',
  'defaults.setting.suffix': 'suffixe',
  'prefer.title': 'Vos préférences',
  'prefer.setting': `{name}${NNBSP}: {value}`,
  'prefer.unset': 'non défini',
  'prefer.styles': `Styles ({count} sur {max})${NNBSP}:`,
  'prefer.no_styles': `Styles${NNBSP}: aucun pour l’instant`,
  'prefer.precedence':
    'Les options de la demande passent en premier, puis celles-ci, puis les réglages du serveur, puis les valeurs par défaut du bot.',
  'prefer.saved': 'Enregistré.',
  'prefer.style_saved': `Style «${NNBSP}{name}${NNBSP}» enregistré${NNBSP}: ajoutez-le à une description avec \`--style {name}\`.`,
  'prefer.style_removed': `Style «${NNBSP}{name}${NNBSP}» supprimé.`,
  'prefer.nothing_to_set': 'Indiquez au moins une préférence à régler.',
  'help.title': 'Comment utiliser Nano Banana',
  'help.body': (p) => {
    const command = p.has('command') ? p.text('command') : '/imagine';
    return [
      `Décrivez l’image après \`${command}\`, par exemple \`${command} un chat blanc sur un rebord de fenêtre\`.`,
      `Les options peuvent se placer n’importe où dans le texte${NNBSP}:`,
      `• \`--model pro\`${NNBSP}: le modèle${p.has('models') ? ` (${p.text('models')})` : ''}`,
      `• \`--ar 16:9\`${NNBSP}: le format (${ASPECT_RATIOS.join(', ')})`,
      `• \`--res 2K\`${NNBSP}: la résolution (${RESOLUTIONS.join(', ')}${NNBSP}; tous les modèles ne dépassent pas 1K)`,
      `• \`--count 2\`${NNBSP}: le nombre d’images (de ${MIN_COUNT} à ${MAX_COUNT})`,
      `• \`--style cinematique\`${NNBSP}: ajoute l’un de vos styles enregistrés à la description`,
      `• \`{rouge, bleu} oiseau\`${NNBSP}: une tâche par choix${NNBSP}; \`--repeat 2\`${NNBSP}: deux fois (${MAX_BATCH_JOBS} tâches au maximum${NNBSP}; \`\\{\` pour une accolade simple)`,
      `• \`--blend\`${NNBSP}: mélanger en une seule de ${MIN_BLEND_IMAGES} à ${MAX_BLEND_IMAGES} images jointes (ou du message auquel vous répondez)`,
      'Pour modifier une image, répondez-y en me mentionnant (ou joignez-en une) en décrivant les changements.',
      'Sous un résultat, les boutons de chaque image l’agrandissent (2K, 4K), la font varier ou la modifient.',
    ].join('\n');
  },
  'button.reroll': 'Relancer',
  'button.edit': 'Modifier',
  'button.delete': 'Supprimer',
  'button.cancel': 'Annuler',
  'button.upscale': (p) =>
    `Agrandir ${p.text('resolution')} n°${p.text('number')}` +
    (p.has('model') ? ` · ${p.text('model')}` : ''),
  'button.vary': 'Varier n°{number}',
  'button.edit_image': 'Modifier n°{number}',
  'result.upscale_note': (p) =>
    `L’agrandissement utilise ${p.text('models')}` +
    (p.has('limit')
      ? `${NNBSP}; une image 4K de plus de ${p.bytes('limit')} arrive en JPEG.`
      : '.'),
  'result.from_parent': '↳ d’après {parent}',
  'usage.remaining': (p) => {
    const images = p.number('images') ?? 0;
    if (images <= 0) return 'Il ne vous reste plus d’images.';
    return p.singular('images')
      ? `Il vous reste ${p.text('images')} image.`
      : `Il vous reste ${p.text('images')} images.`;
  },
  'usage.unlimited': 'Vous n’avez pas de limite d’images.',
  'usage.week': (p) =>
    p.singular('images')
      ? `Cette semaine (depuis lundi, UTC)${NNBSP}: ${p.text('images')} image.`
      : `Cette semaine (depuis lundi, UTC)${NNBSP}: ${p.text('images')} images.`,
  'history.title': `Vos dernières demandes ici${NNBSP}:`,
  'history.empty': 'Vous n’avez encore fait aucune demande ici.',
  'history.retention': (p) =>
    p.singular('days')
      ? 'Les demandes sont oubliées après 1 jour.'
      : `Les demandes sont oubliées après ${p.text('days')} jours.`,
  'history.state.queued': 'en attente',
  'history.state.creating': 'au départ',
  'history.state.running': 'en cours',
  'history.state.delivering': 'publication',
  'history.state.done': 'terminée',
  'history.state.failed': 'échec',
  'history.state.cancelled': 'annulée',
  'history.state.undelivered': 'non publiée',
  'history.result': 'résultat',
  'settings.model': `Modèle par défaut${NNBSP}: {value}`,
  'settings.aspect_ratio': `Format par défaut${NNBSP}: {value}`,
  'settings.resolution': `Résolution par défaut${NNBSP}: {value}`,
  'settings.channels': `Salons où je réponds${NNBSP}: {value}`,
  'settings.daily_limit': `Limite quotidienne d’images${NNBSP}: {value}`,
  'settings.audit_channel': `Journal de modération${NNBSP}: {value}`,
  'settings.private_results': `Résultats privés par défaut${NNBSP}: {value}`,
  'settings.threads': `Les résultats ouvrent un fil${NNBSP}: {value}`,
  'settings.unset': 'celui du bot',
  'settings.all_channels': 'tous',
  'settings.none': 'aucun',
  'settings.yes': 'oui',
  'settings.no': 'non',
  'settings.limit_none': (p) =>
    (p.number('max') ?? 0) > 0 ? `celle du bot, ${p.text('max')} images` : 'aucune',
  'settings.limit_images': (p) =>
    (p.number('max') ?? 0) > 0
      ? `${p.text('images')} images (le bot en permet au plus ${p.text('max')})`
      : `${p.text('images')} images`,
  'settings.saved': 'Enregistré.',
};

const TABLES: Readonly<Record<Locale, Readonly<Record<MessageKey, Template>>>> = { en, fr };

const NUMBER_FORMATS: Readonly<Record<Locale, Intl.NumberFormat>> = {
  en: new Intl.NumberFormat('en', { maximumFractionDigits: 1 }),
  fr: new Intl.NumberFormat('fr', { maximumFractionDigits: 1 }),
};
const PLURAL_RULES: Readonly<Record<Locale, Intl.PluralRules>> = {
  en: new Intl.PluralRules('en'),
  fr: new Intl.PluralRules('fr'),
};

/** The keys a language's table defines, for tests and tooling; the same for every language. */
export function messageKeys(locale: Locale): readonly string[] {
  return Object.keys(TABLES[locale]);
}

/** `fr`, `fr-FR`, `fr_CA` → French; anything else, or nothing, → English. */
export function resolveLocale(tag: string | undefined | null): Locale {
  const language = (tag ?? '').trim().toLowerCase().split(/[-_]/, 1)[0];
  return LOCALES.find((locale) => locale === language) ?? 'en';
}

/** The text for `key` in the locale (English when the locale is unknown), with its parameters. */
export function translate(
  locale: Locale | string | undefined,
  key: MessageKey,
  params: MessageParams = {},
): string {
  const resolved = resolveLocale(locale);
  // Looked up defensively: JavaScript callers can pass any key.
  const template: Template | undefined = TABLES[resolved][key] ?? en[key];
  if (template === undefined) return key;
  const context = createContext(resolved, params);
  if (typeof template === 'function') return template(context);
  return template.replace(/\{([a-zA-Z_][a-zA-Z0-9_]*)\}/g, (_placeholder, name: string) =>
    context.text(name),
  );
}

/**
 * Who reads a text: a chat `user`, or the `operator` at the command line, who runs the bot and can
 * fix its settings. One catalogue serves both: an `operator.<key>` entry, where there is one,
 * replaces `<key>` for the operator.
 */
export type Audience = 'user' | 'operator';

export interface DescribeOptions {
  /** Default `user`. */
  readonly audience?: Audience;
}

/** The catalogue entry for an error: its input problem for `invalid_input`, else its code. */
export function errorMessageKey(error: NanoBananaError, audience: Audience = 'user'): MessageKey {
  const key = userMessageKey(error);
  if (audience === 'operator') {
    const operatorKey = `operator.${key}`;
    if (isMessageKey(operatorKey)) return operatorKey;
  }
  return key;
}

function userMessageKey(error: NanoBananaError): MessageKey {
  if (error.code === 'invalid_input') {
    const reason = error.params.reason;
    return typeof reason === 'string' && isInputProblem(reason)
      ? `input.${reason}`
      : 'error.invalid_input';
  }
  return isErrorCode(error.code) ? `error.${error.code}` : 'error.upstream_error';
}

function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(en, key);
}

/**
 * One short sentence for a user (or, with `audience: 'operator'`, for the person running the bot),
 * with the trace id for support when there is one. Never a stack
 * trace or `[object Object]`: anything that is not a NanoBananaError reads as a generic failure
 * (an `AbortError` as a cancellation).
 */
export function describeError(
  error: unknown,
  locale?: Locale | string,
  options: DescribeOptions = {},
): string {
  try {
    if (!(error instanceof NanoBananaError)) {
      const aborted = error instanceof Error && error.name === 'AbortError';
      return translate(locale, aborted ? 'error.cancelled' : 'error.upstream_error');
    }
    const params: MessageParams =
      error.retryAfterMs === undefined
        ? error.params
        : { ...error.params, retryAfterSeconds: Math.ceil(error.retryAfterMs / 1000) };
    const text = translate(locale, errorMessageKey(error, options.audience), params);
    const traceId = typeof error.traceId === 'string' ? error.traceId.trim() : '';
    return traceId === '' ? text : `${text} ${translate(locale, 'error.trace_id', { traceId })}`;
  } catch {
    // Only a hostile object (a throwing getter, say) gets here; the user still gets a sentence.
    return translate(locale, 'error.upstream_error');
  }
}

function isInputProblem(value: string): value is InputProblem {
  return (INPUT_PROBLEMS as readonly string[]).includes(value);
}

function isErrorCode(value: string): value is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(value);
}

function createContext(locale: Locale, params: MessageParams): TemplateContext {
  const numbers = NUMBER_FORMATS[locale];
  const value = (name: string): ErrorParamValue | undefined =>
    Object.hasOwn(params, name) ? params[name] : undefined;
  const number = (name: string): number | undefined => {
    const raw = value(name);
    const parsed = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    return typeof parsed === 'number' && Number.isFinite(parsed) ? parsed : undefined;
  };
  const renderOne = (item: unknown): string => {
    if (typeof item === 'number') return Number.isFinite(item) ? numbers.format(item) : '';
    if (typeof item !== 'string') return '';
    return item.length > MAX_PARAM_LENGTH ? `${item.slice(0, MAX_PARAM_LENGTH)}…` : item;
  };
  const text = (name: string): string => {
    const raw = value(name);
    return Array.isArray(raw) ? raw.map(renderOne).join(', ') : renderOne(raw);
  };
  return {
    text,
    number,
    has: (name) => text(name) !== '',
    duration: (name) => {
      const seconds = number(name);
      if (seconds === undefined || typeof value(name) === 'string') return text(name);
      const whole = Math.max(0, Math.round(seconds));
      const minutes = Math.floor(whole / 60);
      const rest = whole % 60;
      if (locale === 'fr') {
        return minutes === 0 ? `${rest}${NNBSP}s` : `${minutes}${NNBSP}min ${rest}${NNBSP}s`;
      }
      return minutes === 0 ? `${rest}s` : `${minutes}m ${pad(rest)}s`;
    },
    bytes: (name) => {
      const bytes = number(name);
      if (bytes === undefined || typeof value(name) === 'string') return text(name);
      const [amount, unit] =
        bytes >= 1024 * 1024
          ? [bytes / (1024 * 1024), locale === 'fr' ? 'Mo' : 'MB']
          : bytes >= 1024
            ? [bytes / 1024, locale === 'fr' ? 'Ko' : 'KB']
            : [bytes, locale === 'fr' ? 'o' : 'B'];
      return `${numbers.format(amount)}${locale === 'fr' ? NNBSP : ' '}${unit}`;
    },
    singular: (name) => PLURAL_RULES[locale].select(number(name) ?? 0) === 'one',
  };
}

function pad(seconds: number): string {
  return String(seconds).padStart(2, '0');
}
