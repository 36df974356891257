import { appendFileSync } from 'node:fs';
import { inject } from 'vitest';

/** One line of a benchmark table: a measured figure beside its target from issue 6. */
export interface ResultRow {
  /** Position in the summary printed at the end (the order). */
  readonly order: number;
  readonly what: string;
  readonly figure: string;
  readonly target: string;
  /** Undefined for a figure shown for context, without a target of its own. */
  readonly pass: boolean | undefined;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where each benchmark appends its rows, for the summary printed at the end of the run. */
    benchResultsFile: string;
  }
}

export function verdict(pass: boolean | undefined): string {
  return pass === undefined ? '' : pass ? 'PASS' : 'MISS';
}

/** Prints a benchmark's table (Markdown, ready for the README) and records it for the summary. */
export function report(title: string, rows: readonly ResultRow[], notes: readonly string[] = []) {
  const lines = [
    '',
    `### ${title}`,
    '',
    '| what | measured | target | |',
    '|---|---|---|---|',
    ...rows.map((row) => `| ${row.what} | ${row.figure} | ${row.target} | ${verdict(row.pass)} |`),
    ...(notes.length > 0 ? ['', ...notes.map((note) => `- ${note}`)] : []),
    '',
  ];
  console.log(lines.join('\n'));
  let file: string | undefined;
  try {
    file = inject('benchResultsFile');
  } catch {
    file = undefined;
  }
  if (file === undefined || file === '') return;
  for (const row of rows) appendFileSync(file, `${JSON.stringify(row)}\n`);
}
