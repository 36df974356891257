/**
 * Slack reads `<...>` in mrkdwn as markup: `<!channel>` pings everyone, `<https://x|label>` is a
 * link that shows only its label, `<@U1>` a mention. Text a user controls (a prompt, a file's name
 * or title, a flag they typed) goes through here before it joins a message, so it renders as the
 * characters they typed. Slack's own rule: escape `&`, `<` and `>`, nothing else.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
