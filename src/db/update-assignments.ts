/**
 * The SET list of an UPDATE of a row, built from the changes a caller sends: `updated_at` always,
 * then one `column = $n` per change, each value bound after the `params` already there (the row's
 * key, `$1`, `$2`).
 */
export function updateAssignments(params: unknown[]) {
  const sets = ['updated_at = now()'];
  return {
    sets,
    /** `set('name = ?', value)`: binds the value as the next parameter in place of the `?` */
    set(sql: string, value: unknown): void {
      params.push(value);
      sets.push(sql.replace('?', `$${params.length}`));
    },
  };
}
