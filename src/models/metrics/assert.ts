/** Throws with a message built lazily; says where it fired and what it saw. */
export function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new Error(message());
}
