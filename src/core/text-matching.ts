import { remove as confusableSkeleton } from 'confusables';

/**
 * The form a prompt and a blocked word are compared in, so that spelling tricks do not slip a
 * word past the filter: compatibility forms folded (NFKC: full-width and mathematical letters),
 * every invisible format character (Unicode Cf: soft hyphens, zero-width spaces and joiners,
 * direction marks) removed, look-alike letters from other scripts mapped to the Latin letter they
 * imitate (a Cyrillic `о` is an `o`; the `confusables` library keeps that table), then case and
 * accents dropped. Both sides go through the same steps, so a blocked word written in another
 * script still matches itself.
 */
export function matchingForm(text: string): string {
  const visible = text.normalize('NFKC').replace(/\p{Cf}/gu, '');
  return confusableSkeleton(visible).normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
}
