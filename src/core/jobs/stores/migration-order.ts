/**
 * Both stores' migration lists are numbered 1, 2, 3... without gaps, so that a step cannot be
 * skipped by mistake: checked before any is applied.
 */
export function checkMigrationOrder(
  migrations: readonly { readonly version: number; readonly name: string }[],
): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(
        `Migration "${migration.name}" has version ${migration.version}; expected ${index + 1}`,
      );
    }
  });
}
