/**
 * Lengths here are UTF-16 code units (`string.length`): never fewer than the characters a
 * platform counts, so a message measured this way is within its limit however it counts.
 */

/** Cuts a line to `maxChars`, marking the cut: one line must always fit in one message. */
export function clipLine(line: string, maxChars: number): string {
  if (line.length <= maxChars) return line;
  let clipped = '';
  // Whole code points only: a cut through a surrogate pair would leave half an emoji.
  for (const character of line) {
    if (clipped.length + character.length > maxChars - 1) break;
    clipped += character;
  }
  return `${clipped}…`;
}

/**
 * How many of `lines`, from the first, fit in one message of at most `maxChars` (joined by new
 * lines): at least one, so that a line as long as a message still goes out (clipped beforehand).
 */
export function linesThatFit(lines: readonly string[], maxChars: number): number {
  let length = 0;
  let count = 0;
  for (const line of lines) {
    const added = line.length + (count === 0 ? 0 : 1);
    if (count > 0 && length + added > maxChars) break;
    length += added;
    count++;
  }
  return count;
}
