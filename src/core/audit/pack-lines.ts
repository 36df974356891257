/**
 * Cuts a line to `maxChars`, marking the cut: one line must always fit in one message.
 */
export function clipLine(line: string, maxChars: number): string {
  const characters = [...line];
  if (characters.length <= maxChars) return line;
  return `${characters.slice(0, Math.max(0, maxChars - 1)).join('')}…`;
}

/**
 * How many of `lines`, from the first, fit in one message of at most `maxChars` (joined by new
 * lines): at least one, so that a line as long as a message still goes out (clipped beforehand).
 */
export function linesThatFit(lines: readonly string[], maxChars: number): number {
  let length = 0;
  let count = 0;
  for (const line of lines) {
    const added = [...line].length + (count === 0 ? 0 : 1);
    if (count > 0 && length + added > maxChars) break;
    length += added;
    count++;
  }
  return count;
}
