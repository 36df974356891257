import { describeError, type JobError, NanoBananaError } from '../core/index.js';
import { SLACK_FILE_PROBLEMS } from './files.js';
import { escapeMrkdwn } from './mrkdwn.js';
import { slackText } from './texts.js';

/**
 * One sentence for a user about a failure, in their locale, with the trace id when there is one,
 * as mrkdwn (a message's text, a section): it may quote what the user gave (a file's name or
 * title, a flag, a model name), so it is escaped whole. The catalogue's own texts hold no `<`,
 * `>` or `&` markup, so escaping the whole sentence changes only the quoted values.
 */
export function describeFailure(error: unknown, locale: string): string {
  const text = escapeMrkdwn(describeFailureText(error, locale));
  // A workspace's own channel list is named as channel links (`<#C123>`, ids from its settings,
  // never typed by the user): those stay links. A link pings no one and shows no chosen label.
  return error instanceof NanoBananaError && error.code === 'not_allowed'
    ? text.replace(/&lt;#([A-Z0-9]+)&gt;/g, '<#$1>')
    : text;
}

/**
 * The same sentence as plain text, for a modal's error field (Slack shows it as it is). The core's
 * catalogue covers every error code; the Slack-only file problems (a sign-in page instead of a
 * file, a file elsewhere than Slack) get their own texts here.
 */
export function describeFailureText(error: unknown, locale: string): string {
  const params = errorParams(error);
  const name = typeof params?.name === 'string' ? params.name : '';
  if (params?.reason === SLACK_FILE_PROBLEMS.loginPage) {
    return slackText(locale, 'files.login_page', { name });
  }
  if (params?.reason === SLACK_FILE_PROBLEMS.elsewhere) {
    return slackText(locale, 'files.elsewhere', { name });
  }
  return describeError(error, locale);
}

/** The mrkdwn sentence for a failure stored with a job. */
export function describeJobError(error: JobError, locale: string): string {
  return describeFailure(
    new NanoBananaError(error.code, error.code, { params: error.params, traceId: error.traceId }),
    locale,
  );
}

function errorParams(error: unknown): Readonly<Record<string, unknown>> | undefined {
  return error instanceof NanoBananaError ? error.params : undefined;
}
