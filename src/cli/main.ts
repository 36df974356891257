/** The `nano-banana` command. Returns the process exit code. */
export async function main(args: readonly string[]): Promise<number> {
  process.stderr.write(`nano-banana: not built yet (${args.join(' ')})\n`);
  return 2;
}
